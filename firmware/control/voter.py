"""Redundant supply-temperature voting over 3 sensors (0.01 degC ints, None = open/short).

A sensor is dropped (latched, with an alarm) when it reads None (open/short), when it stays more
than disagree_cdegc away from both others, while those two agree, for disagree_ms, or when it is
stuck (no change at all for stuck_ms while the others moved by more than disagree_cdegc). The value
is the average of the sensors still in; None when none is left. reset() re-admits all sensors.

Sensors left that do not agree (safety review m6: with one dropped, the two left were averaged
unchecked): two more than disagree_cdegc apart, or three of which no two are within it. Which
one lies cannot be told, so `disagree` is set (a sensor fault) and the value is the unsafe
reading, the highest (an over-temperature is the hazard the supply temperature guards);
`low_cdegc` is the lowest, for the checks whose unsafe side is cold (condensation). Otherwise
low_cdegc is the value. Not latched: agreeing again restores the average.
"""

from micropython import const

from control.ticks import ticks_diff

_N = const(3)
_COLDEST = const(-1000000)  # 0.01 degC sentinels below / above any reading
_HOTTEST = const(1000000)


def _abs(x):
    return -x if x < 0 else x


class Voter:
    def __init__(self, disagree_cdegc=100, disagree_ms=30000, stuck_ms=600000):
        self.disagree_cdegc = disagree_cdegc
        self.disagree_ms = disagree_ms
        self.stuck_ms = stuck_ms
        self.dropped = 0  # bit i = sensor i out
        self.value_cdegc = None
        self.low_cdegc = None
        self.disagree = False
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
        hi = _COLDEST
        lo = _HOTTEST
        if not d & 1:
            s += t0
            n += 1
            hi = max(hi, t0)
            lo = min(lo, t0)
        if not d & 2:
            s += t1
            n += 1
            hi = max(hi, t1)
            lo = min(lo, t1)
        if not d & 4:
            s += t2
            n += 1
            hi = max(hi, t2)
            lo = min(lo, t2)
        lim = self.disagree_cdegc
        if n == 2:
            self.disagree = hi - lo > lim
        elif n == 3:
            self.disagree = _abs(t0 - t1) > lim and _abs(t0 - t2) > lim and _abs(t1 - t2) > lim
        else:
            self.disagree = False
        if self.disagree:
            self.value_cdegc = hi
            self.low_cdegc = lo
        else:
            self.value_cdegc = self.low_cdegc = s // n if n else None
        return self.value_cdegc

    def _check(self, now_ms, i, t, a, b):
        lim = self.disagree_cdegc
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
