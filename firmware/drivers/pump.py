"""Pump: inverted PWM speed demand plus a tach input (2 pulses per revolution).

Speed in 0.01 % (0..10000). The PWM is inverted (drivers/transfer.py): duty 0 or a broken control
wire means full speed, so a dead wire fails towards cooling. stop() drives duty to full scale.
rpm is measured over a window of at least `window_ms` to keep resolution at low speed.
"""

from control.ticks import ticks_diff
from micropython import const

from drivers.transfer import PWM_FULL, TACH_PULSES_PER_REV

_FULL_CPCT = const(10000)  # 100.00 %


class Pump:
    def __init__(self, pwm, tach, window_ms=500):
        self._pwm = pwm
        self._tach = tach
        self._window_ms = window_ms
        self._last_count = tach.count()
        self._last_ms = None
        self.rpm = 0
        self.speed_cpct = 0
        pwm.duty_u16(PWM_FULL)

    def command(self, speed_cpct):
        if speed_cpct < 0:
            speed_cpct = 0
        elif speed_cpct > _FULL_CPCT:
            speed_cpct = _FULL_CPCT
        self.speed_cpct = speed_cpct
        self._pwm.duty_u16((_FULL_CPCT - speed_cpct) * PWM_FULL // _FULL_CPCT)

    def stop(self):
        self.command(0)

    def update(self, now_ms):
        """Sample the tach; returns rpm (refreshed once per window)."""
        count = self._tach.count()
        if self._last_ms is None:
            self._last_ms = now_ms
            self._last_count = count
            return self.rpm
        dt_ms = ticks_diff(now_ms, self._last_ms)
        if dt_ms >= self._window_ms:
            pulses = count - self._last_count
            self.rpm = pulses * 60000 // (TACH_PULSES_PER_REV * dt_ms)
            self._last_ms = now_ms
            self._last_count = count
        return self.rpm
