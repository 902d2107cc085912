"""Fault table engine: debounce, latch, severity and safe actions, all driven by a data table.

A row (see app/platform_faults.py, control/fault_rows.py) is
    (fault_id, name, debounce_count, debounce_ms, severity, latch, actions)
fault_id 0..59. The published bitfields are two 30-bit words (`active_words`, `latched_words`:
word 0 holds ids 0..29, word 1 ids 30..59), so every word stays a small int on a 32-bit MCU and
never allocates (DOMAIN.md "Fault capacity"). A fault matures when its cause has been reported
present on at least debounce_count consecutive update() calls AND for at least debounce_ms. A
non-latched fault clears as soon as its cause is reported gone. A latched fault stays active until
its cause is gone AND reset_latched(now_ms) is called; a reset requested while the cause persists
does nothing. Each report may carry a sub-code (which sensor, pump, zone, pole: see the reporting
subsystem), kept per fault in `sub` and logged with the raise (app/app.py), so faults that share
an id stay traceable. Faults are data: callers report causes with update(); nothing here raises
across the scan loop.

Heap: the table keeps no row tuples: each row is folded into byte/word columns at construction
(names into one string), so the tuples (and the modules that define
them, see app/startup.py AFTER_APP_MODULES) can be freed once the App is built.
"""

from array import array

from micropython import const

from control.ticks import ticks_diff

SEVERITY_INFO = const(0)
SEVERITY_WARNING = const(1)
SEVERITY_FATAL = const(2)

# Safe actions: OR-ed together over the active faults into action_mask.
ACTION_NONE = const(0)
ACTION_OPEN_CONTACTORS = const(1)
ACTION_PUMPS_FALLBACK = const(2)
ACTION_ALARM = const(4)

WORD_BITS = const(30)  # fault ids per published bitfield word
MAX_FAULTS = const(60)  # two words
_COUNT_CAP = const(0x3FFF)
_ST_ACTIVE = const(1)
_ST_LATCHED = const(2)
_ST_CAUSE = const(4)

# Row field indices.
F_ID = const(0)
F_NAME = const(1)
F_COUNT = const(2)
F_MS = const(3)
F_SEVERITY = const(4)
F_LATCH = const(5)
F_ACTIONS = const(6)


class FaultTable:
    """Debounced, latched fault set over a table of rows; bitfield words `active_words`,
    `latched_words`; `action_mask` (OR of the active faults' actions); `fatal_count`."""

    def __init__(self, rows, listener=None):
        n = 0
        for row in rows:
            fid = row[F_ID]
            if fid < 0 or fid >= MAX_FAULTS:
                raise ValueError("fault id out of range")
            if fid >= n:
                n = fid + 1
            if not 0 <= row[F_COUNT] <= 255 or row[F_ACTIONS] > 0xFF or " " in row[F_NAME]:
                raise ValueError("fault row out of range")
        self._n = n
        # Per-fault columns (no row tuples kept): debounce count, debounce ms, severity, latch,
        # actions. _severity 255 marks an id no row defines.
        self._need = bytearray(n)
        self._need_ms = array("i", bytes(4 * n))
        self._severity = bytearray(b"\xff" * n)
        self._actions = bytearray(n)
        self._latching = bytearray(n)
        for row in rows:
            fid = row[F_ID]
            if self._severity[fid] != 0xFF:
                raise ValueError("duplicate fault id")
            self._need[fid] = row[F_COUNT]
            self._need_ms[fid] = row[F_MS]
            self._severity[fid] = row[F_SEVERITY]
            self._actions[fid] = row[F_ACTIONS]
            self._latching[fid] = 1 if row[F_LATCH] else 0
        # Names, for diagnostics only: one space-separated string ("?" where no row), not a str
        # object per row.
        names = ["?"] * n
        for row in rows:
            names[row[F_ID]] = row[F_NAME]
        self._names = " ".join(names)
        self._count = array("H", bytes(2 * n))
        self._since_ms = [0] * n  # any int: host tests may run clocks past 2**31
        self._state = bytearray(n)  # _ST_* bits per fault
        self.sub = array("H", bytes(2 * n))  # last sub-code reported with a present cause
        self.listener = listener  # listener(fault_id, raised, now_ms) on every transition
        self.active_words = [0, 0]
        self.latched_words = [0, 0]
        self.action_mask = 0
        self.fatal_count = 0  # active faults with SEVERITY_FATAL

    def defined(self, fault_id):
        return 0 <= fault_id < self._n and self._severity[fault_id] != 0xFF

    def severity(self, fault_id):
        return self._severity[fault_id]

    def name(self, fault_id):
        """Row name (diagnostics; allocates)."""
        names = self._names.split(" ")
        return names[fault_id] if 0 <= fault_id < len(names) else "?"

    def is_active(self, fault_id):
        return bool(self._state[fault_id] & _ST_ACTIVE)

    def is_latched(self, fault_id):
        return bool(self._state[fault_id] & _ST_LATCHED)

    def any_active(self):
        return bool(self.active_words[0] or self.active_words[1])

    def update(self, fault_id, cause_present, now_ms, sub=0):
        """Report the cause of one fault for this sample (sub: which sensor / pump / zone, kept
        while the cause is present); returns True while the fault is active."""
        st = self._state[fault_id]
        if not st and not cause_present:
            return False  # no cause, none pending, not active (most calls): nothing to do
        if cause_present:
            self.sub[fault_id] = sub
            if not st & _ST_CAUSE:
                self._state[fault_id] = st | _ST_CAUSE
                self._count[fault_id] = 0
                self._since_ms[fault_id] = now_ms
            if self._count[fault_id] < _COUNT_CAP:
                self._count[fault_id] += 1
            if not st & _ST_ACTIVE:
                if (
                    self._count[fault_id] >= self._need[fault_id]
                    and ticks_diff(now_ms, self._since_ms[fault_id]) >= self._need_ms[fault_id]
                ):
                    self._raise(fault_id, now_ms)
        else:
            if st & _ST_CAUSE:
                self._state[fault_id] = st & ~_ST_CAUSE
            self._count[fault_id] = 0
            if st & _ST_ACTIVE and not st & _ST_LATCHED:
                self._clear(fault_id, now_ms)
        return bool(self._state[fault_id] & _ST_ACTIVE)

    def reset_latched(self, now_ms):
        """Clear every latched fault whose cause is gone; returns how many were cleared."""
        cleared = 0
        for fault_id in range(self._n):
            st = self._state[fault_id]
            if st & _ST_LATCHED and not st & _ST_CAUSE:
                self._clear(fault_id, now_ms)
                cleared += 1
        return cleared

    def _raise(self, fault_id, now_ms):
        st = self._state[fault_id] | _ST_ACTIVE
        if self._latching[fault_id]:
            st |= _ST_LATCHED
        self._state[fault_id] = st
        self._recompute()
        if self.listener is not None:
            self.listener(fault_id, True, now_ms)

    def _clear(self, fault_id, now_ms):
        self._state[fault_id] &= _ST_CAUSE
        self._recompute()
        if self.listener is not None:
            self.listener(fault_id, False, now_ms)

    def _recompute(self):
        mask = 0
        fatal = 0
        act = self.active_words
        lat = self.latched_words
        act[0] = act[1] = lat[0] = lat[1] = 0
        for fault_id in range(self._n):
            st = self._state[fault_id]
            if st & _ST_ACTIVE:
                # no tuple here: a fault raised in the fast slot allocates nothing
                w = 1 if fault_id >= WORD_BITS else 0
                bit = 1 << (fault_id - WORD_BITS * w)
                act[w] |= bit
                if st & _ST_LATCHED:
                    lat[w] |= bit
                mask |= self._actions[fault_id]
                if self._severity[fault_id] == SEVERITY_FATAL:
                    fatal += 1
        self.action_mask = mask
        self.fatal_count = fatal
