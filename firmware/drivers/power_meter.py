"""Power transducer (IT load, grid import) with a 4-20 mA output on the 150 Ohm shunt: power in W.

4 mA = POWER_MIN_W, 20 mA = POWER_MAX_W, 50 W per uA. The current comes straight from the counts
(counts * 11000 // 32767 = counts * 3.3 V / 65535 / 150 Ohm in uA, within 0.002 %) so every
intermediate stays a small int on a 32-bit MCU and the fast tick allocates nothing. Out of band
(< 3.6 mA or > 21 mA, NAMUR NE43) is None: a failed meter is never a plausible reading.
"""

from micropython import const

from drivers.transfer import POWER_MIN_W, TX_FAULT_HIGH_UA, TX_FAULT_LOW_UA, TX_MIN_UA

_W_PER_UA = const(50)  # (POWER_MAX_W - POWER_MIN_W) / (TX_MAX_UA - TX_MIN_UA), a test checks it


class PowerMeter:
    def __init__(self, adc):
        self._adc = adc

    def w(self):
        ua = self._adc.read_u16() * 11000 // 32767
        if ua < TX_FAULT_LOW_UA or ua > TX_FAULT_HIGH_UA:
            return None
        return POWER_MIN_W + (ua - TX_MIN_UA) * _W_PER_UA
