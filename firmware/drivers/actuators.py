"""Actuator drivers: each drives HAL outputs (digital, PWM) and reads back what belongs to the
actuator (aux contact, limit switches, position feedback, tach). Fail-safe polarities are in the
docstrings; transfer numbers come from drivers/transfer.py. One module for all of them: every
module costs three qstrs and a module object on a 64 KiB heap.
"""

from control.faults import ticks_diff
from micropython import const

from drivers.transfer import (
    PCS_FULL_SCALE_W,
    PWM_FULL,
    TACH_PULSES_PER_REV,
    VALVE_FB_MAX_MV,
    VALVE_FB_MIN_MV,
    counts_mv,
)


# ---- contactor -----------------------------------------------------------------------------------
# Contactor: coil output (1 = energised = closed) and an auxiliary contact input (1 = closed).
class Contactor:
    def __init__(self, coil, aux):
        self._coil = coil
        self._aux = aux
        self.commanded = False
        coil.value(0)

    def set(self, closed):
        self.commanded = bool(closed)
        self._coil.value(1 if closed else 0)

    def aux_closed(self):
        return bool(self._aux.value())


# ---- onoff valve ---------------------------------------------------------------------------------
# On/off zone isolation valve: one coil output and two limit switches (1 = at the limit).
#
# The coil energises to CLOSE (fail-open: a dead controller keeps the zone cooled).
class OnOffValve:
    def __init__(self, coil, open_ls, closed_ls):
        self._coil = coil
        self._open_ls = open_ls
        self._closed_ls = closed_ls
        self.close_commanded = False
        coil.value(0)

    def command_close(self, close):
        self.close_commanded = bool(close)
        self._coil.value(1 if close else 0)

    def at_open(self):
        return bool(self._open_ls.value())

    def at_closed(self):
        return bool(self._closed_ls.value())


# ---- mod valve -----------------------------------------------------------------------------------
# Modulating (mixing) valve: inverted PWM demand and a 0.3..3.0 V position feedback.
#
# Position in 0.01 % of full cooling (0..10000). PWM duty 0 (or a broken wire) = full cooling.
# Feedback outside 0.2..3.1 V (broken wire, short) reads None, never a clamped position.
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


# ---- pump ----------------------------------------------------------------------------------------
# Pump: inverted PWM speed demand plus a tach input (2 pulses per revolution).
#
# Speed in 0.01 % (0..10000). The PWM is inverted (drivers/transfer.py): duty 0 or a broken control
# wire means full speed, so a dead wire fails towards cooling. stop() drives duty to full scale.
# rpm is measured over a window of at least `window_ms` to keep resolution at low speed.


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


# ---- pcs -----------------------------------------------------------------------------------------
# Power conversion system (battery inverter) command: an enable line and a PWM setpoint.
#
# PCS_PWM duty 0..65535 = -PCS_FULL_SCALE_W..+PCS_FULL_SCALE_W (discharge positive, 32768 ~ 0 W);
# the PCS follows it only while PCS_ENABLE is 1, so a dead controller or a broken enable wire means
# 0 W. command() writes the pins only when the value changes and allocates nothing (fast tick).
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
