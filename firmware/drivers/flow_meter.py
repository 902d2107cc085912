"""Pulse flow meter, K = 10 pulses per litre; flow in 0.1 L/min (dlpm), over a >= window_ms window.

dlpm = pulses * 60000 ms/min * 10 dL/L / (10 pulses/L * dt_ms) = pulses * 60000 // dt_ms.
"""

from control.ticks import ticks_diff

from drivers.transfer import FLOW_PULSES_PER_L


class FlowMeter:
    def __init__(self, counter, window_ms=500):
        self._counter = counter
        self._window_ms = window_ms
        self._last_count = counter.count()
        self._last_ms = None
        self.flow_dlpm = 0

    def update(self, now_ms):
        count = self._counter.count()
        if self._last_ms is None:
            self._last_ms = now_ms
            self._last_count = count
            return self.flow_dlpm
        dt_ms = ticks_diff(now_ms, self._last_ms)
        if dt_ms >= self._window_ms:
            pulses = count - self._last_count
            self.flow_dlpm = pulses * 600000 // (FLOW_PULSES_PER_L * dt_ms)
            self._last_ms = now_ms
            self._last_count = count
        return self.flow_dlpm
