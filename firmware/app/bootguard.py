"""Boot-loop guard: a counter file of consecutive boots that did not run long enough.

boot() reads the count of earlier bad boots, enters safe mode when it reached bad_boot_limit
(default 10), and stores count + 1 (atomically) before anything else can crash. tick(now_ms) in
the housekeeping slot clears the counter once this boot has run good_boot_ms (default 60 s); in
safe mode it waits until safe_mode_ms (default 5 min) has passed instead, then leaves safe mode.
A missing or unreadable counter counts as 0 (a corrupt file must not lock a board in safe mode).
"""

from control.ticks import ticks_diff

from app import fsutil
from app.eventlog import EV_GOOD_BOOT, EV_SAFE_MODE_END


class BootGuard:
    def __init__(self, path, bad_boot_limit=10, good_boot_ms=60000, safe_mode_ms=300000):
        self.path = path
        self.bad_boot_limit = bad_boot_limit
        self.good_boot_ms = good_boot_ms
        self.safe_mode_ms = safe_mode_ms
        self.bad_boots = 0  # consecutive bad boots before this one
        self.safe_mode = False
        self.cleared = False
        self.boot_ms = 0

    def read_count(self):
        try:
            with open(self.path) as f:
                count = int(f.read().strip())
        except (OSError, ValueError):
            return 0
        return count if count >= 0 else 0

    def _write(self, count):
        fsutil.write_atomic(self.path, "%d\n" % count)

    def boot(self, now_ms):
        """Count this boot; returns True when this boot must run in safe mode."""
        self.boot_ms = now_ms
        self.bad_boots = self.read_count()
        self.safe_mode = self.bad_boots >= self.bad_boot_limit
        self.cleared = False
        try:
            self._write(self.bad_boots + 1)
        except OSError:
            pass  # flash trouble shows up in the event log writer too
        return self.safe_mode

    def tick(self, now_ms):
        """Housekeeping: returns EV_SAFE_MODE_END, EV_GOOD_BOOT or 0."""
        if self.cleared:
            return 0
        up_ms = ticks_diff(now_ms, self.boot_ms)
        if self.safe_mode:
            if up_ms < self.safe_mode_ms:
                return 0
            self.safe_mode = False
            event = EV_SAFE_MODE_END
        elif up_ms >= self.good_boot_ms:
            event = EV_GOOD_BOOT
        else:
            return 0
        try:
            self._write(0)
        except OSError:
            return 0  # retry next housekeeping
        self.cleared = True
        return event
