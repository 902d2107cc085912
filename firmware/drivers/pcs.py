"""Power conversion system (battery inverter) command: an enable line and a PWM setpoint.

PCS_PWM duty 0..65535 = -PCS_FULL_SCALE_W..+PCS_FULL_SCALE_W (discharge positive, 32768 ~ 0 W);
the PCS follows it only while PCS_ENABLE is 1, so a dead controller or a broken enable wire means
0 W. command() writes the pins only when the value changes and allocates nothing (fast tick).
"""

from micropython import const

from drivers.transfer import PCS_FULL_SCALE_W, PWM_FULL

_MID = const(32768)
_HALF = const(32767)


class Pcs:
    def __init__(self, enable_pin, pwm):
        self._en = enable_pin
        self._pwm = pwm
        self.setpoint_w = 0
        self.enabled = False
        self._duty = _MID
        en = self._en
        en.value(0)
        pwm.duty_u16(_MID)

    def command(self, setpoint_w, enable):
        if not enable:
            setpoint_w = 0
        if setpoint_w > PCS_FULL_SCALE_W:
            setpoint_w = PCS_FULL_SCALE_W
        elif setpoint_w < -PCS_FULL_SCALE_W:
            setpoint_w = -PCS_FULL_SCALE_W
        # in 10 W steps so that the product stays a small int: 10000 * 32767 < 2**30
        duty = _MID + (setpoint_w // 10) * _HALF // (PCS_FULL_SCALE_W // 10)
        if duty > PWM_FULL:
            duty = PWM_FULL
        if duty != self._duty:
            self._duty = duty
            self._pwm.duty_u16(duty)
        if enable != self.enabled:
            self.enabled = enable
            self._en.value(1 if enable else 0)
        self.setpoint_w = setpoint_w
