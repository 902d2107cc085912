"""Valve supervision, pure: on/off travel (limit switches) and modulating feedback.

On/off: after a command change the valve must reach the target limit switch within 1.5 x the
rated stroke, else STUCK; both limit switches made at once (2 samples) is a WIRING fault. Both
latch until reset(). Modulating: feedback (0.01 %) more than tol_pct off the demand without a
break for settle_ms, or an invalid feedback (None), is FB_OFF (latched); the caller then drives the valve to its fail position (full cooling).
"""

from micropython import const

from control.ticks import ticks_diff

VALVE_OK = const(0)
VALVE_STUCK = const(1)
VALVE_WIRING = const(2)
VALVE_FB_OFF = const(3)


class OnOffSupervisor:
    def __init__(self, stroke_ms=10000):
        self.limit_ms = stroke_ms * 3 // 2
        self.fault = VALVE_OK
        self._cmd = None
        self._t_ms = 0
        self._both = 0

    def reset(self):
        self.fault = VALVE_OK
        self._cmd = None

    def step(self, now_ms, close_cmd, at_open, at_closed):
        if at_open and at_closed:
            self._both += 1
            if self._both >= 2:
                self.fault = VALVE_WIRING
            return self.fault
        self._both = 0
        if close_cmd != self._cmd:
            self._cmd = close_cmd
            self._t_ms = now_ms
        at_target = at_closed if close_cmd else at_open
        if not at_target and ticks_diff(now_ms, self._t_ms) >= self.limit_ms:
            if self.fault == VALVE_OK:
                self.fault = VALVE_STUCK
        return self.fault


class ModulatingSupervisor:
    def __init__(self, tol_pct=10, settle_ms=20000):
        self.tol_cpct = tol_pct * 100
        self.settle_ms = settle_ms
        self.fault = VALVE_OK
        self._demand = -1
        self._t_ms = 0

    def reset(self):
        self.fault = VALVE_OK
        self._demand = -1

    def step(self, now_ms, demand_cpct, fb_cpct):
        # The deviation must persist for settle_ms. Timing from the last large demand change
        # instead faulted a healthy valve on the virtual module: a PID moves the demand in small
        # steps, so a 30 s-stroke valve still travelling was "settled" and off by > tol.
        if fb_cpct is None:
            self.fault = VALVE_FB_OFF
            return self.fault
        d = fb_cpct - demand_cpct
        if d <= self.tol_cpct and -d <= self.tol_cpct:
            self._demand = -1
        elif self._demand < 0:
            self._demand = demand_cpct
            self._t_ms = now_ms
        elif ticks_diff(now_ms, self._t_ms) >= self.settle_ms:
            self.fault = VALVE_FB_OFF
        return self.fault
