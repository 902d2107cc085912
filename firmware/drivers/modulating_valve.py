"""Modulating (mixing) valve: inverted PWM demand and a 0.3..3.0 V position feedback.

Position in 0.01 % of full cooling (0..10000). PWM duty 0 (or a broken wire) = full cooling.
Feedback outside 0.2..3.1 V (broken wire, short) reads None, never a clamped position.
"""

from micropython import const

from drivers.transfer import PWM_FULL, VALVE_FB_MAX_MV, VALVE_FB_MIN_MV, counts_mv

_FULL_CPCT = const(10000)
_FB_BAND_MV = const(100)


class ModulatingValve:
    def __init__(self, pwm, feedback_adc):
        self._pwm = pwm
        self._fb = feedback_adc
        self.demand_cpct = _FULL_CPCT
        pwm.duty_u16(0)

    def command(self, demand_cpct):
        if demand_cpct < 0:
            demand_cpct = 0
        elif demand_cpct > _FULL_CPCT:
            demand_cpct = _FULL_CPCT
        self.demand_cpct = demand_cpct
        self._pwm.duty_u16((_FULL_CPCT - demand_cpct) * PWM_FULL // _FULL_CPCT)

    def position_cpct(self):
        mv = counts_mv(self._fb.read_u16())
        if mv < VALVE_FB_MIN_MV - _FB_BAND_MV or mv > VALVE_FB_MAX_MV + _FB_BAND_MV:
            return None
        pos = (mv - VALVE_FB_MIN_MV) * _FULL_CPCT // (VALVE_FB_MAX_MV - VALVE_FB_MIN_MV)
        return 0 if pos < 0 else (_FULL_CPCT if pos > _FULL_CPCT else pos)
