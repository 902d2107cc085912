"""4-20 mA transmitter on a 150 Ohm shunt; pressure in mbar (0..range_mbar for 4..20 mA).

Below 3.6 mA (broken loop) or above 21 mA (short, failed transmitter) the value is None (NAMUR
NE43): out of band is a sensor fault, never a clamped plausible pressure.
"""

from drivers.transfer import (
    PRESSURE_RANGE_MBAR,
    TX_FAULT_HIGH_UA,
    TX_FAULT_LOW_UA,
    TX_MAX_UA,
    TX_MIN_UA,
    TX_SHUNT_OHM,
    counts_mv,
)


class Transmitter:
    def __init__(self, adc, range_mbar=PRESSURE_RANGE_MBAR):
        self._adc = adc
        self._range = range_mbar

    def current_ua(self):
        return counts_mv(self._adc.read_u16()) * 1000 // TX_SHUNT_OHM

    def value_mbar(self):
        ua = self.current_ua()
        if ua < TX_FAULT_LOW_UA or ua > TX_FAULT_HIGH_UA:
            return None
        return (ua - TX_MIN_UA) * self._range // (TX_MAX_UA - TX_MIN_UA)
