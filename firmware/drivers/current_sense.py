"""Bidirectional shunt amplifier: 1.65 V at 0 A, 3 mV/A, discharge positive; current in 0.1 A.

i_dA = (2 * counts - 65535) * 3300 mV / (2 * 65535) / 3 mV/A * 10 = (2c - 65535) * 1100 / 13107.
A rail reading (0 or full scale: amplifier dead or wire off) is None.
"""

from micropython import const

from drivers.transfer import ADC_FULL_SCALE

_NUM = const(1100)
_DEN = const(13107)


class CurrentSense:
    def __init__(self, adc):
        self._adc = adc

    def i_da(self):
        counts = self._adc.read_u16()
        if counts <= 0 or counts >= ADC_FULL_SCALE:
            return None
        x = 2 * counts - ADC_FULL_SCALE
        if x >= 0:
            return x * _NUM // _DEN
        return -((-x) * _NUM // _DEN)
