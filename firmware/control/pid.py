"""Integer PID (PI plus proportional kick) for the control tick: no floats, no allocation.

Gains are thousandths: kp_milli = output units per process unit x 1000, ki_milli = output units per
process unit per second x 1000. The integral is kept in output units x 1000. Anti-windup: the
integral is clamped to the output range and does not integrate further into a saturated output.
Bumpless transfer: track(out_now, ...) preloads the integral so the first output equals out_now.
A disabled loop (enabled=False) freezes the integral. An invalid measurement (None) returns None:
the caller decides the fallback; nothing is clamped into a plausible value.
Ranges: |error| * ki_milli / 10 must stay below 2**30 (e.g. error 10000 with ki_milli 1e6).
"""


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
