"""Dew-point transmitter: 4-20 mA = DEW_MIN_CDEGC .. DEW_MIN_CDEGC + DEW_SPAN_CDEGC (-40 .. +60 degC);
dew point in 0.01 degC (cdegc), or None.

The loop is a Transmitter (drivers/transmitter.py): out of band (NAMUR NE43) or a stale sample
is None, never a plausible dew point; the cooling control (control/cooling.py) then raises the
sensor fault, assumes condensation risk and holds the setpoint the last valid dew point raised.
"""

from drivers.transfer import DEW_MIN_CDEGC, DEW_SPAN_CDEGC
from drivers.transmitter import Transmitter


class DewPointTransmitter:
    def __init__(self, adc):
        self._loop = Transmitter(adc, DEW_SPAN_CDEGC)

    def dew_point_cdegc(self):
        above_min = self._loop.value_mbar()  # 0..DEW_SPAN_CDEGC for 4..20 mA
        return None if above_min is None else above_min + DEW_MIN_CDEGC
