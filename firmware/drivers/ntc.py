"""NTC thermistor (10 kOhm @ 25 degC, beta 3950) on the low side of a 10 kOhm divider from 3.3 V.

Temperature in 0.01 degC (int). Open NTC reads near full scale, a short near 0: both give None.
Uses float math (log), so call it from the control tick, not the fast tick.
"""

import math

from micropython import const

from drivers.transfer import ADC_FULL_SCALE, NTC_BETA_K, NTC_DIVIDER_OHM, NTC_R25_OHM

_MARGIN_COUNTS = const(100)  # ~ -90 degC / +250 degC: beyond any real coolant temperature


class Ntc:
    def __init__(self, adc):
        self._adc = adc

    def temp_cdegc(self):
        counts = self._adc.read_u16()
        if counts < _MARGIN_COUNTS or counts > ADC_FULL_SCALE - _MARGIN_COUNTS:
            return None
        r = NTC_DIVIDER_OHM * counts / (ADC_FULL_SCALE - counts)
        inv_t = 1.0 / 298.15 + math.log(r / NTC_R25_OHM) / NTC_BETA_K
        return int(round((1.0 / inv_t - 273.15) * 100.0))
