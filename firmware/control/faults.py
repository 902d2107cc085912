"""Fault table engine: debounce, latch, severity and safe actions, all driven by a data table.

A row (see control/fault_table.py) is
    (fault_id, name, debounce_count, debounce_ms, severity, latch, actions)
fault_id is the bit number in the published bitfields (0..29, so every bitfield stays a small int
on a 32-bit MCU and never allocates). A fault matures when its cause has been reported present on
at least debounce_count consecutive update() calls AND for at least debounce_ms. A non-latched
fault clears as soon as its cause is reported gone. A latched fault stays active until its cause is
gone AND reset_latched(now_ms) is called; a reset requested while the cause persists does nothing.
Faults are data: callers report causes with update(); nothing here raises across the scan loop.
"""

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
        self._rows: list = [None] * n
        for row in rows:
            if self._rows[row[F_ID]] is not None:
                raise ValueError("duplicate fault id")
            self._rows[row[F_ID]] = row
        self._count = [0] * n
        self._since_ms = [0] * n
        self._cause = [False] * n
        self.listener = listener  # listener(fault_id, raised, now_ms) on every transition
        self.active = 0
        self.latched = 0
        self.action_mask = 0
        self.fatal_mask = 0  # active faults with SEVERITY_FATAL

    def row(self, fault_id):
        return self._rows[fault_id]

    def name(self, fault_id):
        row = self._rows[fault_id]
        return row[F_NAME] if row is not None else "?"

    def is_active(self, fault_id):
        return bool(self.active & (1 << fault_id))

    def update(self, fault_id, cause_present, now_ms):
        """Report the cause of one fault for this sample; returns True while the fault is active."""
        row = self._rows[fault_id]
        bit = 1 << fault_id
        if cause_present:
            if not self._cause[fault_id]:
                self._cause[fault_id] = True
                self._count[fault_id] = 0
                self._since_ms[fault_id] = now_ms
            if self._count[fault_id] < _COUNT_CAP:
                self._count[fault_id] += 1
            if not self.active & bit:
                if (
                    self._count[fault_id] >= row[F_COUNT]
                    and ticks_diff(now_ms, self._since_ms[fault_id]) >= row[F_MS]
                ):
                    self._raise(fault_id, row, bit, now_ms)
        else:
            self._cause[fault_id] = False
            self._count[fault_id] = 0
            if self.active & bit and not self.latched & bit:
                self._clear(fault_id, bit, now_ms)
        return bool(self.active & bit)

    def reset_latched(self, now_ms):
        """Clear every latched fault whose cause is gone; returns how many were cleared."""
        cleared = 0
        for fault_id in range(len(self._rows)):
            bit = 1 << fault_id
            if self.latched & bit and not self._cause[fault_id]:
                self._clear(fault_id, bit, now_ms)
                cleared += 1
        return cleared

    def _raise(self, fault_id, row, bit, now_ms):
        self.active |= bit
        if row[F_LATCH]:
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
        for fault_id in range(len(self._rows)):
            if self.active & (1 << fault_id):
                row = self._rows[fault_id]
                mask |= row[F_ACTIONS]
                if row[F_SEVERITY] == SEVERITY_FATAL:
                    fatal |= 1 << fault_id
        self.action_mask = mask
        self.fatal_mask = fatal
