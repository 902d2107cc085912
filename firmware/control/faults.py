"""Fault table engine: debounce, latch, severity and safe actions, all driven by a data table.

A row (see app/platform_faults.py) is
    (fault_id, name, debounce_count, debounce_ms, severity, latch, actions)
fault_id is the bit number in the published bitfields (0..29, so every bitfield stays a small int
on a 32-bit MCU and never allocates). A fault matures when its cause has been reported present on
at least debounce_count consecutive update() calls AND for at least debounce_ms. A non-latched
fault clears as soon as its cause is reported gone. A latched fault stays active until its cause is
gone AND reset_latched(now_ms) is called; a reset requested while the cause persists does nothing.
Faults are data: callers report causes with update(); nothing here raises across the scan loop.

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

MAX_FAULTS = const(30)
_COUNT_CAP = const(0x3FFF)

# Row field indices.
F_ID = const(0)
F_NAME = const(1)
F_COUNT = const(2)
F_MS = const(3)
F_SEVERITY = const(4)
F_LATCH = const(5)
F_ACTIONS = const(6)


class FaultTable:
    """Debounced, latched fault set over a table of rows; bitfields `active`, `latched`, `action_mask`."""

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
        self._latching = 0  # bitmask of latching fault ids
        for row in rows:
            fid = row[F_ID]
            if self._severity[fid] != 0xFF:
                raise ValueError("duplicate fault id")
            self._need[fid] = row[F_COUNT]
            self._need_ms[fid] = row[F_MS]
            self._severity[fid] = row[F_SEVERITY]
            self._actions[fid] = row[F_ACTIONS]
            if row[F_LATCH]:
                self._latching |= 1 << fid
        # Names, for diagnostics only: one space-separated string ("?" where no row), not a str
        # object per row.
        names = ["?"] * n
        for row in rows:
            names[row[F_ID]] = row[F_NAME]
        self._names = " ".join(names)
        self._count = array("H", bytes(2 * n))
        self._since_ms = [0] * n  # any int: host tests may run clocks past 2**31
        self._cause = bytearray(n)
        self.listener = listener  # listener(fault_id, raised, now_ms) on every transition
        self.active = 0
        self.latched = 0
        self.action_mask = 0
        self.fatal_mask = 0  # active faults with SEVERITY_FATAL

    def defined(self, fault_id):
        return 0 <= fault_id < self._n and self._severity[fault_id] != 0xFF

    def severity(self, fault_id):
        return self._severity[fault_id]

    def name(self, fault_id):
        """Row name (diagnostics; allocates)."""
        names = self._names.split(" ")
        return names[fault_id] if 0 <= fault_id < len(names) else "?"

    def is_active(self, fault_id):
        return bool(self.active & (1 << fault_id))

    def update(self, fault_id, cause_present, now_ms):
        """Report the cause of one fault for this sample; returns True while the fault is active."""
        bit = 1 << fault_id
        if cause_present:
            if not self._cause[fault_id]:
                self._cause[fault_id] = 1
                self._count[fault_id] = 0
                self._since_ms[fault_id] = now_ms
            if self._count[fault_id] < _COUNT_CAP:
                self._count[fault_id] += 1
            if not self.active & bit:
                if (
                    self._count[fault_id] >= self._need[fault_id]
                    and ticks_diff(now_ms, self._since_ms[fault_id]) >= self._need_ms[fault_id]
                ):
                    self._raise(fault_id, bit, now_ms)
        else:
            self._cause[fault_id] = 0
            self._count[fault_id] = 0
            if self.active & bit and not self.latched & bit:
                self._clear(fault_id, bit, now_ms)
        return bool(self.active & bit)

    def reset_latched(self, now_ms):
        """Clear every latched fault whose cause is gone; returns how many were cleared."""
        cleared = 0
        for fault_id in range(self._n):
            bit = 1 << fault_id
            if self.latched & bit and not self._cause[fault_id]:
                self._clear(fault_id, bit, now_ms)
                cleared += 1
        return cleared

    def _raise(self, fault_id, bit, now_ms):
        self.active |= bit
        if self._latching & bit:
            self.latched |= bit
        self._recompute()
        if self.listener is not None:
            self.listener(fault_id, True, now_ms)

    def _clear(self, fault_id, bit, now_ms):
        self.active &= ~bit
        self.latched &= ~bit
        self._recompute()
        if self.listener is not None:
            self.listener(fault_id, False, now_ms)

    def _recompute(self):
        mask = 0
        fatal = 0
        for fault_id in range(self._n):
            if self.active & (1 << fault_id):
                mask |= self._actions[fault_id]
                if self._severity[fault_id] == SEVERITY_FATAL:
                    fatal |= 1 << fault_id
        self.action_mask = mask
        self.fatal_mask = fatal
