"""The cooling loop's building blocks, pure: integer PID, redundant sensor voting, valve
supervision (control/cooling.py composes them). One module for the three: each module costs three
qstrs and a module object on a 64 KiB heap; each part's notes are above it.
"""

from micropython import const

from control.faults import ticks_diff


# ---- PID --------------------------------------------------------------------------------
# Integer PID (PI plus proportional kick) for the control tick: no floats, no allocation.
#
# Gains are thousandths: kp_milli = output units per process unit x 1000, ki_milli = output units per
# process unit per second x 1000. The integral is kept in output units x 1000. Anti-windup: the
# integral is clamped to the output range and does not integrate further into a saturated output.
# Bumpless transfer: track(out_now, ...) preloads the integral so the first output equals out_now.
# A disabled loop (enabled=False) freezes the integral. An invalid measurement (None) returns None:
# the caller decides the fallback; nothing is clamped into a plausible value.
# Ranges: |error| * ki_milli / 10 must stay below 2**30 (e.g. error 10000 with ki_milli 1e6).
class Pid:
    def __init__(self, kp_milli, ki_milli, out_min, out_max):
        self.kp_milli = kp_milli
        self.ki_milli = ki_milli
        self.out_min = out_min
        self.out_max = out_max
        self.i_milli = 0
        self.enabled = True
        self.out = out_min

    def _p(self, e):
        return self.kp_milli * e // 1000

    def track(self, out_now, sp, pv):
        """Bumpless: the next update() starts from out_now (e.g. manual -> auto)."""
        i = out_now * 1000 if pv is None else (out_now - self._p(sp - pv)) * 1000
        lo = self.out_min * 1000
        hi = self.out_max * 1000
        self.i_milli = lo if i < lo else (hi if i > hi else i)
        self.out = out_now

    def update(self, sp, pv, dt_ms):
        if pv is None:
            return None
        e = sp - pv
        p = self._p(e)
        if not self.enabled:
            return None
        di = (self.ki_milli * e // 10) * dt_ms // 100
        i = self.i_milli + di
        lo = self.out_min * 1000
        hi = self.out_max * 1000
        if i < lo:
            i = lo
        elif i > hi:
            i = hi
        u = p + i // 1000
        if (u > self.out_max and di > 0) or (u < self.out_min and di < 0):
            i = self.i_milli  # conditional integration: do not wind into saturation
            u = p + i // 1000
        self.i_milli = i
        u = self.out_min if u < self.out_min else (self.out_max if u > self.out_max else u)
        self.out = u
        return u


# ---- sensor voting --------------------------------------------------------------------------------
# Redundant supply-temperature voting over 3 sensors (0.01 degC ints, None = open/short).
#
# A sensor is dropped (latched, with an alarm) when it reads None (open/short), when it stays more
# than disagree_cdc away from both others, while those two agree, for disagree_ms, or when it is
# stuck (no change at all for stuck_ms while the others moved by more than disagree_cdc). The value
# is the average of the sensors still in; None when none is left. reset() re-admits all sensors.
_N = const(3)


def _abs(x):
    return -x if x < 0 else x


class Voter:
    def __init__(self, disagree_cdc=100, disagree_ms=30000, stuck_ms=600000):
        self.disagree_cdc = disagree_cdc
        self.disagree_ms = disagree_ms
        self.stuck_ms = stuck_ms
        self.dropped = 0  # bit i = sensor i out
        self.value_cdc = None
        self._off = [False] * _N
        self._off_ms = [0] * _N
        self._last = [0] * _N
        self._same_ms = [0] * _N
        self._others_at = [0] * _N
        self._started = False

    def reset(self):
        self.dropped = 0
        self._started = False
        for i in range(_N):
            self._off[i] = False

    def update(self, now_ms, t0, t1, t2):
        d = self.dropped
        if t0 is None:
            d |= 1
        if t1 is None:
            d |= 2
        if t2 is None:
            d |= 4
        if not d:
            self._check(now_ms, 0, t0, t1, t2)
            self._check(now_ms, 1, t1, t0, t2)
            self._check(now_ms, 2, t2, t0, t1)
            d = self.dropped
        self._started = True
        self.dropped = d
        s = 0
        n = 0
        if not d & 1:
            s += t0
            n += 1
        if not d & 2:
            s += t1
            n += 1
        if not d & 4:
            s += t2
            n += 1
        self.value_cdc = s // n if n else None
        return self.value_cdc

    def _check(self, now_ms, i, t, a, b):
        lim = self.disagree_cdc
        others = (a + b) // 2
        off = _abs(t - a) > lim and _abs(t - b) > lim and _abs(a - b) <= lim
        if off:
            if not self._off[i]:
                self._off[i] = True
                self._off_ms[i] = now_ms
            elif ticks_diff(now_ms, self._off_ms[i]) >= self.disagree_ms:
                self.dropped |= 1 << i
        else:
            self._off[i] = False
        if not self._started or t != self._last[i]:
            self._last[i] = t
            self._same_ms[i] = now_ms
            self._others_at[i] = others
        elif ticks_diff(now_ms, self._same_ms[i]) >= self.stuck_ms:
            if _abs(others - self._others_at[i]) > lim:
                self.dropped |= 1 << i


# ---- valve supervision --------------------------------------------------------------------------------
# Valve supervision, pure: on/off travel (limit switches) and modulating feedback.
#
# On/off: after a command change the valve must reach the target limit switch within 1.5 x the
# rated stroke, else STUCK; both limit switches made at once (2 samples) is a WIRING fault. Both
# latch until reset(). Modulating: feedback (0.01 %) more than tol_pct off the demand without a
# break for settle_ms, or an invalid feedback (None), is FB_OFF (latched); the caller then drives the valve to its fail position (full cooling).
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
