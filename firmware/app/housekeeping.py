"""Housekeeping slot task (1 s): flush the event log, run the boot-loop guard, leave safe mode
when its time is up, raise IO_BUS when an I2C device failed a transaction since the last run, and
end a pushed config's trial (app/config_trial.py) TRIAL_ROUNDS rounds into the run.
GC and telemetry run in the same frame, inside the scheduler. UrgentFlush (control slot) writes a
fatal fault's record within 100 ms, outside the fast slot."""

from micropython import const

from app import state
from app.eventlog import EV_GOOD_BOOT, EV_SAFE_MODE_END
from app.platform_faults import FAULT_BOOT_LOOP_SAFE_MODE, FAULT_IO_BUS, FAULT_LOG_WRITE_ERROR

# A pushed config is judged after this many housekeeping rounds of the scan loop (2 s at the
# default 1 s: every slot has run many times, the module's first collections included).
TRIAL_ROUNDS = const(3)


class UrgentFlush:
    """Control slot (100 ms): writes the event log when a fatal fault asked for it, so its record
    reaches flash within one control period but never inside the fast slot (DOMAIN.md: the fast
    tick never waits on flash; a littlefs write can need a sector erase of tens of ms)."""

    def __init__(self, log):
        self.log = log

    def tick(self, now_ms):
        if self.log.urgent:
            self.log.urgent = False
            self.log.flush()
        return True


class Housekeeping:
    def __init__(self, log, guard, faults, platform=None):
        self.log = log
        self.guard = guard
        self.faults = faults
        self.platform = platform
        self._bus_errors = 0 if platform is None else platform.bus_errors()
        self.trial_rounds = 0  # > 0: a config on trial; app/compose.py sets it and trial_app
        self.trial_app = None

    def tick(self, now_ms):
        self.log.urgent = False
        ok = self.log.flush()
        self.faults.update(FAULT_LOG_WRITE_ERROR, not ok, now_ms)
        if self.platform is not None:
            n = self.platform.bus_errors()
            new = n - self._bus_errors
            self._bus_errors = n
            # latched: a bus that failed once and recovered is still reported until a reset
            self.faults.update(FAULT_IO_BUS, new > 0, now_ms, new if new < 0xFFFF else 0xFFFF)
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
        if self.trial_rounds:
            self.trial_rounds -= 1
            if not self.trial_rounds:  # commit the config on trial, or reset into the previous
                try:
                    from app import config_trial  # loaded for this once (it forgets itself)
                except Exception:  # noqa: BLE001 - no room to load it now: the next round
                    self.trial_rounds = 1
                    return True
                config_trial.end(self, now_ms)
        return True
