"""High-voltage divider sense (pack or DC link): 1000 V -> 3.0 V; voltage in 0.1 V (dV), int.

counts * 11000 // 65535 is 3.3 V full scale * (1000/3) V/V * 10 dV/V: stays a small int.
"""

from micropython import const

from drivers.transfer import ADC_FULL_SCALE

_DV_FULL_SCALE = const(11000)  # 3.3 V at the pin = 1100 V = 11000 dV


class HvSense:
    def __init__(self, adc):
        self._adc = adc

    def v_dv(self):
        return self._adc.read_u16() * _DV_FULL_SCALE // ADC_FULL_SCALE
