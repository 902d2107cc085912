"""Heartbeat (control slot task): toggles the STATUS_LED output every half_period_ms (default
500 ms on / 500 ms off, 1 Hz); with a 100 ms control tick the edges land exactly on the 500 ms
grid. A stopped heartbeat is how a technician (and the FAT) sees a dead scan loop."""

from control.ticks import ticks_diff


class Heartbeat:
    def __init__(self, out, half_period_ms=500):
        self.out = out
        self.half_period_ms = half_period_ms
        self.level = 0
        self._last_ms = None
        out.value(0)

    def tick(self, now_ms):
        if self._last_ms is None:
            self._last_ms = now_ms
        elif ticks_diff(now_ms, self._last_ms) >= self.half_period_ms:
            self._last_ms = now_ms
            self.level ^= 1
            self.out.value(self.level)
        return True
