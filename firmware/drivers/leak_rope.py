"""Supervised leak rope of one zone: a digital leak input plus an optional supervision ADC.

Supervision voltage (plant model): 0.5 Vref dry, 0.2 Vref wet, 1.0 Vref cable open. An open cable
is a SENSOR fault (LEAK_CABLE), never a leak trip. Without a supervision ADC only the digital input
is used (unsupervised: a broken cable cannot be seen).
"""

from micropython import const

from drivers.transfer import LEAK_SUP_LEAK_MAX_MV, LEAK_SUP_OPEN_MIN_MV, counts_mv

LEAK_DRY = const(0)
LEAK_WET = const(1)
LEAK_CABLE = const(2)


class LeakRope:
    def __init__(self, leak_in, sup_adc=None):
        self._in = leak_in
        self._sup = sup_adc

    def state(self):
        if self._sup is not None:
            mv = counts_mv(self._sup.read_u16())
            if mv >= LEAK_SUP_OPEN_MIN_MV:
                return LEAK_CABLE
            if mv <= LEAK_SUP_LEAK_MAX_MV:
                return LEAK_WET
        return LEAK_WET if self._in.value() else LEAK_DRY
