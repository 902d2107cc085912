"""What the Modbus registers mean for this App: identity, status refresh, setpoint leases, access
level and command effects. The hooks of comms/register_bank.RegisterBank, and a control-slot task.

Access. An operator (W1/L1 registers, command coils) write needs an unlocked level: write the PIN
as ASCII to access_pin; it is checked against the config's salted hashes (pin_service -> level 2,
pin_operator -> level 1; an empty hash can never unlock). Wrong PINs are logged and throttled
exponentially (app/access.py PinGuard; refused with exception 04, unchecked, while locked out).
An unlock ends _UNLOCK_MS after the PIN, however many writes are made with it (an absolute expiry: a master
re-sends the PIN); writing 0 to access_level locks at once (safety review M7).

Leases. Every L1 setpoint written gets a lease of setpoint_lease_s; when the master stops rewriting
it, the control tick puts the default back and sets its bit in lease_expired (and status bit 1).
The manual PCS request (a power command) is leased for at most 60 s whatever setpoint_lease_s.

Commands: contactor close/open (open wins) and pump rotation are request flags; with the
battery / cooling composed (app/module.py) the control tick consumes them (one pulse each) and
publishes the physical telemetry; without, they stay flags and the telemetry stays not-available.
fault_reset runs App.reset_faults() and reads back 0.
Safety commands (DOMAIN.md "Resets and commands", safety review M6):
- close and reset act on a rising edge of what the master writes: a master rewriting its coil
  image with 1 every cycle makes one request, not one per cycle (write 0, then 1, to ask again),
  so a SCADA that writes reset + close cyclically does not re-close after every trip;
- at most _RESETS_PER_WINDOW resets per _RESET_WINDOW_MS; the next one locks resets (exception
  04) until a local action (a reboot);
- broadcast (unit 0) never executes contactor close, fault reset or the access PIN.
"""

from comms.register_bank import (
    A_L1,
    A_W1,
    K_INPUT,
    REASON_ACCESS,
    REASON_LOCKOUT,
    REASON_PIN,
    T_BIT,
)
from control.ticks import ticks_add, ticks_diff
from micropython import const

from app import state
from app.access import LEVEL_NONE, LEVEL_OPERATOR, PinGuard
from app.eventlog import EV_PIN_FAILED
from app.scheduler import SLOT_CONTROL, SLOT_FAST

# Register rows (comms/register_map.py order; checked by host_tools/tests/test_register_bindings.py)
_R_MAGIC = const(0)
_R_MAP_VERSION = const(1)
_R_MAP_CRC = const(2)
_R_FIRMWARE_VERSION = const(3)
_R_BOARD_ID = const(4)
_R_CONFIG_CRC = const(5)
_R_MODULE_ID = const(7)
_R_PCS_POWER_REQUEST_KW = const(12)
_R_SETPOINT_LEASE_S = const(14)
_QUIET_MS = const(5000)  # no request for this long: the status refresh pauses (tick())
_PCS_LEASE_MAX_MS = const(60000)  # the manual PCS request's lease, whatever setpoint_lease_s says
_R_ACCESS_LEVEL = const(16)
_R_ACCESS_PIN = const(17)
_R_FAULTS_ACTIVE = const(64)
_R_FAULTS_LATCHED = const(65)
_R_FAULT_ACTIONS = const(66)
_R_RUN_MODE = const(67)
_R_STATUS_FLAGS = const(71)
_R_LEASE_EXPIRED = const(72)
_R_LEASE_REMAINING_S = const(73)
_R_ACCESS_REMAINING_S = const(74)
_R_ACCESS_FAILURES = const(75)
_R_ACCESS_LOCKOUT_S = const(76)
_R_FAST_TICK_LAST_US = const(77)
_R_FAST_TICK_MAX_US = const(78)
_R_FAST_TICK_MEAN_US = const(79)
_R_CONTROL_TICK_MAX_US = const(80)
_R_CONTROL_TICK_MEAN_US = const(81)
_R_TICK_OVERRUNS = const(82)
_R_MISSED_FRAMES = const(83)
_R_HEAP_FREE_BYTES = const(84)
_R_HEAP_LOW_WATER_BYTES = const(85)
_R_RESET_CAUSE = const(86)
_R_BOOT_COUNT = const(87)
_R_UPTIME_S = const(88)
_R_MODBUS_FRAMES_OK = const(89)
_R_MODBUS_BAD_CRC = const(90)
_R_MODBUS_OTHER_UNIT = const(91)
_R_MODBUS_EXCEPTIONS = const(92)
_R_MODBUS_BROADCASTS = const(93)
_R_MODBUS_RX_OVERRUNS = const(94)
_R_MODBUS_LAST_ERROR = const(95)
_R_MODBUS_SERVICE_US_LAST = const(96)
_R_MODBUS_SERVICE_US_MAX = const(97)
_R_CONTACTOR_CLOSE_REQUEST = const(98)
_R_CONTACTOR_OPEN_REQUEST = const(99)
_R_FAULT_RESET = const(100)
_R_PUMP_ROTATION_REQUEST = const(101)
_R_MAINTENANCE_MODE = const(102)
_R_SAFE_MODE = const(103)
_R_LEASE_EXPIRED_ANY = const(104)
_R_ACCESS_UNLOCKED = const(105)
_R_FAULT_ACTIVE = const(106)
_R_FAULTS_ACTIVE_HI = const(107)
_R_FAULTS_LATCHED_HI = const(108)

# run_mode bits
_RUN_MAINTENANCE = const(1)
_RUN_SAFE_MODE = const(2)
_RUN_SAFE_BOOT = const(4)

# command coils the master last wrote 1 to (the rising-edge rule)
_HELD_CLOSE = const(1)
_HELD_RESET = const(2)
_RESETS_PER_WINDOW = const(3)
_RESET_WINDOW_MS = const(600000)  # 10 min
_UNLOCK_MS = const(300000)
_U16_MAX = const(0xFFFF)

FLAG_LEASE_EXPIRED = const(1)
FLAG_UNLOCKED = const(2)
FLAG_PIN_LOCKOUT = const(4)
FLAG_CLOSE_REQUEST = const(8)
FLAG_OPEN_REQUEST = const(16)
FLAG_ROTATION_REQUEST = const(32)
FLAG_RESET_LOCKOUT = const(64)


def _sat(v):
    return v if v < _U16_MAX else _U16_MAX


def _seconds_left(now_ms, until_ms):
    left = ticks_diff(until_ms, now_ms)
    return (left + 999) // 1000 if left > 0 else 0


class ModbusPoints:
    def __init__(self, bank, app, config, board, now_ms):
        """The images get their boot values here: identity, defaults, not-available telemetry."""
        self.bank = bank
        self.app = app
        self.cfg = config.values
        bank.hooks = self
        self.slave = None
        self.leased: list = []
        self._init_images(config, board)
        n = len(self.leased)
        self.lease_until_ms = [0] * n
        self.lease_active = [False] * n
        self.lease_expired = 0
        self.level = LEVEL_NONE
        self._pending_level = LEVEL_NONE
        self.unlock_until_ms = now_ms
        self.pins = PinGuard(now_ms)
        self._last_ms = now_ms
        self._held = 0
        self._reset_ms = [now_ms] * _RESETS_PER_WINDOW  # when the last resets ran (a ring)
        self._resets = 0  # resets run since boot
        self.resets_locked = False
        self._up_s = self._up_rem_ms = 0  # uptime: whole seconds, and the ms toward the next
        self._frames_seen = 0  # the slave's frames_ok at the last control tick
        self._asked_ms = ticks_add(now_ms, -_QUIET_MS)  # when a master last asked (none yet)

    def _init_images(self, config, board):
        """Boot values of every register; the L1 (leased) rows in address order."""
        from comms.modbus_rtu import crc16
        from comms.register_map import MAGIC, MAP_VERSION, map_crc  # dropped after boot

        from app.version import FIRMWARE_VERSION_MAJOR, FIRMWARE_VERSION_MINOR

        bank = self.bank
        cfg = config.values
        for r in range(len(bank.r_kind)):
            default = bank.r_default[r]
            if isinstance(default, str):
                default = cfg[default[4:]]
            if default is not None:
                bank.set(r, default)
            elif bank.r_kind[r] == K_INPUT:
                bank.set_na(r)  # telemetry without a driver, until one publishes it
            if bank.r_access[r] == A_L1:
                self.leased.append(r)
        self.leased.sort(key=lambda r: bank.r_addr[r])
        bank.set(_R_MAGIC, MAGIC)
        bank.set(_R_MAP_VERSION, MAP_VERSION)
        bank.set(_R_MAP_CRC, map_crc())
        bank.set(_R_FIRMWARE_VERSION, FIRMWARE_VERSION_MAJOR * 256 + FIRMWARE_VERSION_MINOR)
        name = board.get("board", "?").encode()
        bank.set(_R_BOARD_ID, crc16(name, len(name)))
        bank.set(_R_CONFIG_CRC, config.crc)
        bank.set_text(_R_MODULE_ID, cfg["module_id"])
        bank.set(_R_ACCESS_LEVEL, LEVEL_NONE)

    # ----- control slot -------------------------------------------------------------------------
    def tick(self, now_ms):
        slave = self.slave
        if slave is not None and slave.deferred:
            slave.serve(now_ms)  # the requests the fast slot held (comms/modbus_rtu.py)
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
        if slave is not None and not slave.refresh_reads:
            # once a control tick while a master asks; on a quiet line (_QUIET_MS) the slave
            # holds the next read for serve(), which refreshes first (comms/modbus_rtu.py)
            if slave.frames_ok != self._frames_seen:
                self._frames_seen = slave.frames_ok
                self._asked_ms = now_ms
            slave.stale = ticks_diff(now_ms, self._asked_ms) >= _QUIET_MS
            if not slave.stale:
                self.refresh(now_ms)
        return True

    def _set_level(self, level):
        self.level = level
        self.bank.set(_R_ACCESS_LEVEL, level)

    # ----- bank hooks ---------------------------------------------------------------------------
    def _needs_level(self, r, now_ms):
        access = self.bank.r_access[r]
        if access != A_W1 and access != A_L1:
            return 0
        if self.level and ticks_diff(now_ms, self.unlock_until_ms) >= 0:
            self._set_level(LEVEL_NONE)
        return 0 if self.level >= LEVEL_OPERATOR else REASON_ACCESS

    def check_write(self, r, src, pos, now_ms):
        if r == _R_ACCESS_PIN:
            if self.bank.broadcast:
                return REASON_ACCESS  # a PIN sent to every module on the bus
            return self._try_pin(src, pos, now_ms)
        return self._needs_level(r, now_ms)

    def check_bit(self, r, bit, now_ms):
        if r == _R_CONTACTOR_CLOSE_REQUEST or r == _R_FAULT_RESET:
            if self.bank.broadcast and bit:
                return REASON_ACCESS  # never close or reset every module on the bus at once
            edge = bit and not self._held & _HELD_RESET
            if r == _R_FAULT_RESET and edge and not self._reset_budget_left(now_ms):
                return REASON_LOCKOUT
        return self._needs_level(r, now_ms)

    def _edge(self, r, held_bit):
        """Track what the master wrote to a command coil; True on a rising edge (0 -> 1)."""
        if not self.bank.get(r):
            self._held &= ~held_bit
            return False
        rising = not self._held & held_bit
        self._held |= held_bit
        return rising

    def _reset_budget_left(self, now_ms):
        """Rate limit: the oldest of the last _RESETS_PER_WINDOW resets must be older than the
        window; otherwise resets lock until a reboot (a local action)."""
        if self.resets_locked:
            return False
        i = self._resets % _RESETS_PER_WINDOW
        if self._resets >= _RESETS_PER_WINDOW and (
            ticks_diff(now_ms, self._reset_ms[i]) < _RESET_WINDOW_MS
        ):
            self.resets_locked = True
            return False
        return True

    def _try_pin(self, src, pos, now_ms):
        n = 0
        while n < 8 and src[pos + n]:
            n += 1
        try:
            pin = bytes(src[pos : pos + n]).decode()
        except UnicodeError:
            pin = ""
        level = self.pins.attempt(self.cfg, pin, now_ms, self.app.log, EV_PIN_FAILED)
        if level is None:
            return REASON_LOCKOUT
        if level == LEVEL_NONE:
            return REASON_PIN
        self._pending_level = level
        return 0

    def written(self, r, now_ms):
        bank = self.bank
        access = bank.r_access[r]
        if access == A_L1:
            i = self.leased.index(r)
            lease_ms = bank.get(_R_SETPOINT_LEASE_S) * 1000
            if r == _R_PCS_POWER_REQUEST_KW and lease_ms > _PCS_LEASE_MAX_MS:
                # a power command must not outlive a silent master by up to an hour (m7)
                lease_ms = _PCS_LEASE_MAX_MS
            self.lease_until_ms[i] = ticks_add(now_ms, lease_ms)
            self.lease_active[i] = True
            self.lease_expired &= ~(1 << i)
        elif r == _R_ACCESS_PIN:
            self._set_level(self._pending_level)
            self.pins.failures = 0
            self.unlock_until_ms = ticks_add(now_ms, _UNLOCK_MS)
            bank.set_text(r, "")  # the PIN never reads back
        elif r == _R_ACCESS_LEVEL:
            self._set_level(LEVEL_NONE)
        elif bank.r_type[r] == T_BIT:
            if r == _R_FAULT_RESET:
                if self._edge(r, _HELD_RESET):  # check_bit has charged the rate limit
                    self._reset_ms[self._resets % _RESETS_PER_WINDOW] = now_ms
                    self._resets += 1
                    self.app.reset_faults()
                bank.set(r, 0)
            elif r == _R_CONTACTOR_OPEN_REQUEST and bank.get(r):
                bank.set(_R_CONTACTOR_CLOSE_REQUEST, 0)  # open wins
            elif r == _R_CONTACTOR_CLOSE_REQUEST:
                if not self._edge(r, _HELD_CLOSE) or bank.get(_R_CONTACTOR_OPEN_REQUEST):
                    bank.set(r, 0)  # a held 1 rewritten is no new request; open wins

    def refresh(self, now_ms):
        """Status registers from the App (no allocation): before every read by a slave that
        refreshes per read, else once a control tick (tick()) and after each write."""
        bank = self.bank
        app = self.app
        faults = app.faults
        sched = app.scheduler
        fast = sched.slots[SLOT_FAST]
        ctl = sched.slots[SLOT_CONTROL]
        slave = self.slave
        run_mode = _RUN_MAINTENANCE if state.maintenance else 0
        run_mode |= _RUN_SAFE_MODE if state.safe_mode else 0
        run_mode |= _RUN_SAFE_BOOT if state.safe_boot else 0
        if self.level and ticks_diff(now_ms, self.unlock_until_ms) >= 0:
            self._set_level(LEVEL_NONE)
        flags = FLAG_LEASE_EXPIRED if self.lease_expired else 0
        flags |= FLAG_UNLOCKED if self.level else 0
        pins = self.pins
        locked_out = pins.locked_out(now_ms)
        flags |= FLAG_PIN_LOCKOUT if locked_out else 0
        flags |= FLAG_CLOSE_REQUEST if bank.get(_R_CONTACTOR_CLOSE_REQUEST) else 0
        flags |= FLAG_OPEN_REQUEST if bank.get(_R_CONTACTOR_OPEN_REQUEST) else 0
        flags |= FLAG_ROTATION_REQUEST if bank.get(_R_PUMP_ROTATION_REQUEST) else 0
        flags |= FLAG_RESET_LOCKOUT if self.resets_locked else 0
        lease_left = _U16_MAX
        for i in range(len(self.leased)):
            if self.lease_active[i]:
                left = _seconds_left(now_ms, self.lease_until_ms[i])
                if left < lease_left:
                    lease_left = left
        heap_free = sched.heap_free()
        active = faults.active_words
        latched = faults.latched_words
        bank.set(_R_FAULTS_ACTIVE, active[0])
        bank.set(_R_FAULTS_LATCHED, latched[0])
        bank.set(_R_FAULTS_ACTIVE_HI, active[1])
        bank.set(_R_FAULTS_LATCHED_HI, latched[1])
        bank.set(_R_FAULT_ACTIONS, faults.action_mask)
        bank.set(_R_RUN_MODE, run_mode)
        bank.set(_R_STATUS_FLAGS, flags)
        bank.set(_R_LEASE_EXPIRED, self.lease_expired)
        bank.set(_R_LEASE_REMAINING_S, lease_left)
        unlock_s = _seconds_left(now_ms, self.unlock_until_ms) if self.level else 0
        bank.set(_R_ACCESS_REMAINING_S, unlock_s)
        bank.set(_R_ACCESS_FAILURES, pins.failures)
        lockout_s = _seconds_left(now_ms, pins.lockout_until_ms) if locked_out else 0
        bank.set(_R_ACCESS_LOCKOUT_S, lockout_s)
        bank.set(_R_FAST_TICK_LAST_US, _sat(fast.last_us))
        bank.set(_R_FAST_TICK_MAX_US, _sat(fast.max_us))
        bank.set(_R_FAST_TICK_MEAN_US, _sat(fast.mean_us()))
        bank.set(_R_CONTROL_TICK_MAX_US, _sat(ctl.max_us))
        bank.set(_R_CONTROL_TICK_MEAN_US, _sat(ctl.mean_us()))
        bank.set(_R_TICK_OVERRUNS, sched.overruns)
        bank.set(_R_MISSED_FRAMES, sched.missed_frames)
        if heap_free >= 0:
            bank.set(_R_HEAP_FREE_BYTES, heap_free)
        else:
            bank.set_na(_R_HEAP_FREE_BYTES)
        if sched.heap_free_low >= 0:
            bank.set(_R_HEAP_LOW_WATER_BYTES, sched.heap_free_low)
        else:
            bank.set_na(_R_HEAP_LOW_WATER_BYTES)
        bank.set(_R_RESET_CAUSE, app.reset_cause)
        bank.set(_R_BOOT_COUNT, app.log.boot_count & _U16_MAX)
        bank.set(_R_UPTIME_S, self._up_s)
        if slave is not None:
            bank.set(_R_MODBUS_FRAMES_OK, slave.frames_ok)
            bank.set(_R_MODBUS_BAD_CRC, slave.bad_crc)
            bank.set(_R_MODBUS_OTHER_UNIT, slave.other_unit)
            bank.set(_R_MODBUS_EXCEPTIONS, slave.exceptions)
            bank.set(_R_MODBUS_BROADCASTS, slave.broadcasts)
            bank.set(_R_MODBUS_RX_OVERRUNS, slave.rx_overruns)
            bank.set(_R_MODBUS_SERVICE_US_LAST, _sat(slave.service_us_last))
            bank.set(_R_MODBUS_SERVICE_US_MAX, _sat(slave.service_us_max))
        bank.set(_R_MODBUS_LAST_ERROR, bank.last_error)
        bank.set(_R_MAINTENANCE_MODE, state.maintenance)
        bank.set(_R_SAFE_MODE, state.safe_mode)
        bank.set(_R_LEASE_EXPIRED_ANY, self.lease_expired)
        bank.set(_R_ACCESS_UNLOCKED, self.level)
        bank.set_bits(_R_FAULT_ACTIVE, active[0])
        bank.set_bits(_R_FAULT_ACTIVE, active[1], 30)
