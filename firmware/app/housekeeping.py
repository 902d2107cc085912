"""Housekeeping slot task (1 s): flush the event log, run the boot-loop guard and leave safe mode
when its time is up. GC and telemetry run in the same frame, inside the scheduler.

Heartbeat (control slot task, here too: one module less on a 64 KiB heap): toggles the STATUS_LED
output every half_period_ms (default 500 ms on / 500 ms off, 1 Hz); with a 100 ms control tick
the edges land exactly on the 500 ms grid."""

from control.fault_table import FAULT_BOOT_LOOP_SAFE_MODE, FAULT_LOG_WRITE_ERROR
from control.faults import ticks_diff

from app import state
from app.eventlog import EV_GOOD_BOOT, EV_SAFE_MODE_END


class Housekeeping:
    def __init__(self, log, guard, faults):
        self.log = log
        self.guard = guard
        self.faults = faults

    def tick(self, now_ms):
        ok = self.log.flush()
        self.faults.update(FAULT_LOG_WRITE_ERROR, not ok, now_ms)
        event = self.guard.tick(now_ms)
        if event == EV_SAFE_MODE_END:
            state.safe_mode = False
            state.reason = ""
            if state.maintenance:
                state.add_reason("config invalid: " + "; ".join(state.config_errors))
            self.faults.update(FAULT_BOOT_LOOP_SAFE_MODE, False, now_ms)
            self.log.append(EV_SAFE_MODE_END, 0, 0, now_ms)
            print("gridpod: boot-loop safe mode over; boot counter cleared")
        elif event == EV_GOOD_BOOT:
            self.log.append(EV_GOOD_BOOT, now_ms, 0, now_ms)
        return True


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
