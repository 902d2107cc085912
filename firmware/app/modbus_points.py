"""What the Modbus registers mean for this App: identity, status refresh, setpoint leases, access
level and command effects. The hooks of comms/register_bank.RegisterBank, and a control-slot task.

Access. An operator (W1/L1 registers, command coils) write needs an unlocked level: write the PIN
as ASCII to access_pin; it is checked against the config's salted hashes (pin_service -> level 2,
pin_operator -> level 1; an empty hash can never unlock). _PIN_FAILURES_TO_LOCKOUT wrong PINs in a
row lock PIN attempts for _LOCKOUT_MS (refused with exception 04 without being checked). An unlock
expires _UNLOCK_MS after the last write made with it; writing 0 to access_level locks at once.

Leases. Every L1 setpoint written gets a lease of setpoint_lease_s; when the master stops rewriting
it, the control tick puts the default back and sets its bit in lease_expired (and status bit 1).

Commands: contactor close/open (open wins) and pump rotation are request flags; with the
battery / cooling composed (app/module.py) the control tick consumes them (one pulse each) and
publishes the physical telemetry; without, they stay flags and the telemetry stays not-available.
fault_reset runs App.reset_faults() and reads back 0.
"""

from comms.register_bank import A_L1, A_W1, REASON_ACCESS, REASON_LOCKOUT, REASON_PIN, T_BIT
from control.ticks import ticks_add, ticks_diff
from micropython import const

from app import state
from app.access import check_pin
from app.scheduler import SLOT_CONTROL, SLOT_FAST

_UNLOCK_MS = const(300000)
_LOCKOUT_MS = const(30000)
_PIN_FAILURES_TO_LOCKOUT = const(3)
_U16_MAX = const(0xFFFF)

LEVEL_NONE = const(0)
LEVEL_OPERATOR = const(1)
LEVEL_SERVICE = const(2)

FLAG_LEASE_EXPIRED = const(1)
FLAG_UNLOCKED = const(2)
FLAG_PIN_LOCKOUT = const(4)
FLAG_CLOSE_REQUEST = const(8)
FLAG_OPEN_REQUEST = const(16)
FLAG_ROTATION_REQUEST = const(32)


def _sat(v):
    return v if v < _U16_MAX else _U16_MAX


def _seconds_left(now_ms, until_ms):
    left = ticks_diff(until_ms, now_ms)
    return (left + 999) // 1000 if left > 0 else 0


class ModbusPoints:
    def __init__(self, bank, app, config, now_ms):
        """The register rows are looked up and the images given their boot values by
        app/compose.py (boot-only code, freed once the App is built)."""
        self.bank = bank
        self.app = app
        self.cfg = config.values
        bank.hooks = self
        self.slave = None
        self._status: list = []  # row numbers, filled by app/compose.py with the rows below
        self._lease_s = self._level_row = self._pin_row = -1
        self._coil_close = self._coil_open = self._coil_reset = self._coil_rotation = -1
        self.leased = []
        self.lease_until_ms = []
        self.lease_active = []
        self.lease_expired = 0
        self.level = LEVEL_NONE
        self._pending_level = LEVEL_NONE
        self.unlock_until_ms = now_ms
        self.failures = 0
        self.lockout_until_ms = now_ms
        self._last_ms = now_ms
        self._up_s = 0
        self._up_rem_ms = 0

    # ----- control slot -------------------------------------------------------------------------
    def tick(self, now_ms):
        bank = self.bank
        for i in range(len(self.leased)):
            if self.lease_active[i] and ticks_diff(now_ms, self.lease_until_ms[i]) >= 0:
                r = self.leased[i]
                default = bank.r_default[r]
                bank.set(r, self.cfg[default[4:]] if isinstance(default, str) else default)
                self.lease_active[i] = False
                self.lease_expired |= 1 << i
        if self.level and ticks_diff(now_ms, self.unlock_until_ms) >= 0:
            self._set_level(LEVEL_NONE)
        self._up_rem_ms += ticks_diff(now_ms, self._last_ms)
        self._last_ms = now_ms
        while self._up_rem_ms >= 1000:
            self._up_rem_ms -= 1000
            self._up_s += 1
        return True

    def _set_level(self, level):
        self.level = level
        self.bank.set(self._level_row, level)

    # ----- bank hooks ---------------------------------------------------------------------------
    def _needs_level(self, r, now_ms):
        access = self.bank.r_access[r]
        if access != A_W1 and access != A_L1:
            return 0
        if self.level and ticks_diff(now_ms, self.unlock_until_ms) >= 0:
            self._set_level(LEVEL_NONE)
        return 0 if self.level >= LEVEL_OPERATOR else REASON_ACCESS

    def check_write(self, r, src, pos, now_ms):
        if r == self._pin_row:
            return self._try_pin(src, pos, now_ms)
        return self._needs_level(r, now_ms)

    def check_bit(self, r, bit, now_ms):
        return self._needs_level(r, now_ms)

    def _try_pin(self, src, pos, now_ms):
        # Rare path: may allocate (decoding, sha256).
        if self.failures >= _PIN_FAILURES_TO_LOCKOUT:
            if ticks_diff(now_ms, self.lockout_until_ms) < 0:
                return REASON_LOCKOUT
            self.failures = 0
        n = 0
        while n < 8 and src[pos + n]:
            n += 1
        try:
            pin = bytes(src[pos : pos + n]).decode()
        except UnicodeError:
            pin = ""
        level = LEVEL_NONE
        if pin and check_pin(self.cfg["pin_service"], pin):
            level = LEVEL_SERVICE
        elif pin and check_pin(self.cfg["pin_operator"], pin):
            level = LEVEL_OPERATOR
        if level == LEVEL_NONE:
            self.failures += 1
            if self.failures >= _PIN_FAILURES_TO_LOCKOUT:
                self.lockout_until_ms = ticks_add(now_ms, _LOCKOUT_MS)
            return REASON_PIN
        self._pending_level = level
        return 0

    def written(self, r, now_ms):
        bank = self.bank
        access = bank.r_access[r]
        if access == A_W1 or access == A_L1:
            self.unlock_until_ms = ticks_add(now_ms, _UNLOCK_MS)
        if access == A_L1:
            i = self.leased.index(r)
            lease_ms = bank.get(self._lease_s) * 1000
            self.lease_until_ms[i] = ticks_add(now_ms, lease_ms)
            self.lease_active[i] = True
            self.lease_expired &= ~(1 << i)
        elif r == self._pin_row:
            self._set_level(self._pending_level)
            self.failures = 0
            self.unlock_until_ms = ticks_add(now_ms, _UNLOCK_MS)
            bank.set_text(r, "")  # the PIN never reads back
        elif r == self._level_row:
            self._set_level(LEVEL_NONE)
        elif bank.r_type[r] == T_BIT:
            if r == self._coil_reset:
                if bank.get(r):
                    self.app.reset_faults()
                bank.set(r, 0)
            elif r == self._coil_open and bank.get(r):
                bank.set(self._coil_close, 0)  # open wins
            elif r == self._coil_close and bank.get(self._coil_open):
                bank.set(r, 0)

    def refresh(self, now_ms):
        """Status registers from the App; called by the slave before every read (no allocation)."""
        bank = self.bank
        app = self.app
        faults = app.faults
        sched = app.scheduler
        fast = sched.slots[SLOT_FAST]
        ctl = sched.slots[SLOT_CONTROL]
        slave = self.slave
        run_mode = (1 if state.maintenance else 0) | (2 if state.safe_mode else 0)
        run_mode |= 4 if state.safe_boot else 0
        if self.level and ticks_diff(now_ms, self.unlock_until_ms) >= 0:
            self._set_level(LEVEL_NONE)
        flags = FLAG_LEASE_EXPIRED if self.lease_expired else 0
        flags |= FLAG_UNLOCKED if self.level else 0
        locked_out = self.failures >= _PIN_FAILURES_TO_LOCKOUT and (
            ticks_diff(now_ms, self.lockout_until_ms) < 0
        )
        flags |= FLAG_PIN_LOCKOUT if locked_out else 0
        flags |= FLAG_CLOSE_REQUEST if bank.get(self._coil_close) else 0
        flags |= FLAG_OPEN_REQUEST if bank.get(self._coil_open) else 0
        flags |= FLAG_ROTATION_REQUEST if bank.get(self._coil_rotation) else 0
        lease_left = _U16_MAX
        for i in range(len(self.leased)):
            if self.lease_active[i]:
                left = _seconds_left(now_ms, self.lease_until_ms[i])
                if left < lease_left:
                    lease_left = left
        mem_free = sched._mem_free
        heap_free = mem_free() if mem_free is not None else -1
        s = self._status
        bank.set(s[0], faults.active)
        bank.set(s[1], faults.latched)
        bank.set(s[2], faults.action_mask)
        bank.set(s[3], run_mode)
        bank.set(s[4], flags)
        bank.set(s[5], self.lease_expired)
        bank.set(s[6], lease_left)
        bank.set(s[7], _seconds_left(now_ms, self.unlock_until_ms) if self.level else 0)
        bank.set(s[8], self.failures)
        bank.set(s[9], _seconds_left(now_ms, self.lockout_until_ms) if locked_out else 0)
        bank.set(s[10], _sat(fast.last_us))
        bank.set(s[11], _sat(fast.max_us))
        bank.set(s[12], _sat(fast.mean_us()))
        bank.set(s[13], _sat(ctl.max_us))
        bank.set(s[14], _sat(ctl.mean_us()))
        bank.set(s[15], sched.overruns)
        bank.set(s[16], sched.missed_frames)
        if heap_free >= 0:
            bank.set(s[17], heap_free)
        else:
            bank.set_na(s[17])
        if sched.heap_free_low >= 0:
            bank.set(s[18], sched.heap_free_low)
        else:
            bank.set_na(s[18])
        bank.set(s[19], app.reset_cause)
        bank.set(s[20], app.log.boot_count & _U16_MAX)
        bank.set(s[21], self._up_s)
        if slave is not None:
            bank.set(s[22], slave.frames_ok)
            bank.set(s[23], slave.bad_crc)
            bank.set(s[24], slave.other_unit)
            bank.set(s[25], slave.exceptions)
            bank.set(s[26], slave.broadcasts)
            bank.set(s[27], slave.rx_overruns)
            bank.set(s[29], _sat(slave.service_us_last))
            bank.set(s[30], _sat(slave.service_us_max))
        bank.set(s[28], bank.last_error)
        bank.set(s[31], state.maintenance)
        bank.set(s[32], state.safe_mode)
        bank.set(s[33], self.lease_expired)
        bank.set(s[34], self.level)
        bank.set_bits(s[35], faults.active)
