"""The App's Modbus points on the fake HAL: identity, access level (PIN, wrong-PIN rate limit and
lockout end, unlock expiry, lock), writes without the level change nothing, safety limits never
writable, setpoint leases reverting with their status bits.

The slave and the points are ticked directly with a test-chosen clock (no scheduler), so minutes
of simulated time cost nothing.
"""

from app.access import hash_pin
from app.app import App
from comms.modbus_rtu import crc16
from comms.register_bank import REASON_ACCESS, REASON_LOCKOUT, REASON_PIN, REASON_RANGE
from support import BOARD, fake_platform, tmp_dir

PIN = "2468"
FLOW_SP = 100
GRID_LIMIT = 103
PCS_REQUEST = 104
LEASE_S = 110
ACCESS_LEVEL = 200
ACCESS_PIN = 201
# input registers
STATUS_FLAGS = 109
LEASE_EXPIRED = 110
ACCESS_REMAINING_S = 112
ACCESS_FAILURES = 113
ACCESS_LOCKOUT_S = 114
LAST_ERROR = 146


def _frame(*pdu):
    data = bytes(pdu)
    crc = crc16(data, len(data))
    return data + bytes((crc & 0xFF, crc >> 8))


class Module:
    def __init__(self):
        self.platform = fake_platform()
        self.app = App(self.platform, BOARD, tmp_dir(), log_slots=16)
        self.app.points.cfg["pin_operator"] = hash_pin(PIN)
        self.uart = self.platform.uarts["RS485"]
        self.now_ms = 1000

    def advance(self, ms):
        """Tick the slave every 10 ms and the points every 100 ms for ms of simulated time. The
        App's slave is deferred (its answers come from the control slot: test_fw_app.py); here
        it answers in the tick that framed the request, so the clock stays the test's."""
        end = self.now_ms + ms
        while self.now_ms < end:
            self.now_ms += 10
            self.app.modbus.tick(self.now_ms)
            self.app.modbus.serve(self.now_ms)
            if self.now_ms % 100 == 0:
                self.app.points.tick(self.now_ms)

    def ask(self, req):
        self.uart.inject(req)
        self.advance(30)
        out = self.uart.tx_bytes()
        self.uart.clear_tx()
        return out

    def holding(self, addr, qty=1):
        r = self.ask(_frame(1, 3, addr >> 8, addr & 0xFF, 0, qty))
        assert len(r) == 5 + 2 * qty and crc16(r, len(r)) == 0, r
        return [(r[3 + 2 * i] << 8) | r[4 + 2 * i] for i in range(qty)]

    def inp(self, addr):
        r = self.ask(_frame(1, 4, addr >> 8, addr & 0xFF, 0, 1))
        assert len(r) == 7, r
        return (r[3] << 8) | r[4]

    def write(self, addr, value):
        """FC06; returns 0 on the echo or the exception code."""
        req = _frame(1, 6, addr >> 8, addr & 0xFF, (value >> 8) & 0xFF, value & 0xFF)
        r = self.ask(req)
        if r == req:
            return 0
        assert len(r) == 5 and r[1] == 0x86, r
        return r[2]

    def pin(self, text):
        raw = text.encode() + b"\0" * (8 - len(text))
        req = _frame(1, 16, 0, ACCESS_PIN, 0, 4, 8, *raw)
        r = self.ask(req)
        if r == _frame(1, 16, 0, ACCESS_PIN, 0, 4):
            return 0
        assert len(r) == 5 and r[1] == 0x90, r
        return r[2]


def test_identity_block():
    m = Module()
    words = m.holding(0, 8)
    assert words[0] == 0x4750
    assert words[1] >= 1
    assert m.holding(7) == [1]  # modbus_unit from the config


def test_writes_without_access_level_are_refused_and_change_nothing():
    m = Module()
    before = m.holding(FLOW_SP, 12)
    assert m.write(FLOW_SP, 150) == 4
    assert m.inp(LAST_ERROR) == REASON_ACCESS
    assert m.write(LEASE_S, 5) == 4
    r = m.ask(_frame(1, 5, 0, 0, 0xFF, 0))  # contactor close request
    assert r[1] == 0x85 and r[2] == 4
    r = m.ask(_frame(1, 15, 0, 0, 0, 4, 1, 0x0F))
    assert r[1] == 0x8F and r[2] == 4
    assert m.holding(FLOW_SP, 12) == before
    r = m.ask(_frame(1, 1, 0, 0, 0, 4))
    assert r[3] == 0


def test_pin_unlocks_and_never_reads_back_and_lock_relocks():
    m = Module()
    assert m.pin(PIN) == 0
    assert m.holding(ACCESS_LEVEL) == [1]
    assert m.holding(ACCESS_PIN, 4) == [0, 0, 0, 0]
    assert m.inp(STATUS_FLAGS) & 2
    assert m.write(FLOW_SP, 150) == 0
    assert m.holding(FLOW_SP) == [150]
    assert m.write(FLOW_SP, 1001) == 4  # unlocked, but out of range: never applied
    assert m.inp(LAST_ERROR) == REASON_RANGE
    assert m.holding(FLOW_SP) == [150]
    assert m.write(ACCESS_LEVEL, 1) == 4  # the level cannot be written up, only to 0
    assert m.write(ACCESS_LEVEL, 0) == 0
    assert m.holding(ACCESS_LEVEL) == [0]
    assert m.write(FLOW_SP, 160) == 4


def test_safety_limits_are_never_writable_even_unlocked():
    m = Module()
    assert m.pin(PIN) == 0
    before = m.holding(300, 8)
    for addr in range(300, 308):
        assert m.write(addr, 1) == 2, addr
    r = m.ask(_frame(1, 16, 1, 0x2C, 0, 8, 16, *([0] * 16)))
    assert r[1] == 0x90 and r[2] == 2
    assert m.holding(300, 8) == before


def test_wrong_pins_are_rate_limited_and_the_lockout_ends():
    m = Module()
    for i in range(3):
        assert m.pin("1111") == 4
        assert m.inp(LAST_ERROR) == REASON_PIN
        assert m.inp(ACCESS_FAILURES) == i + 1
    assert m.inp(STATUS_FLAGS) & 4  # PIN lockout flag
    assert 29 <= m.inp(ACCESS_LOCKOUT_S) <= 30
    assert m.pin(PIN) == 4  # even the right PIN is refused, unchecked, while locked out
    assert m.inp(LAST_ERROR) == REASON_LOCKOUT
    assert m.holding(ACCESS_LEVEL) == [0]
    m.advance(25000)
    assert m.pin(PIN) == 4 and m.inp(LAST_ERROR) == REASON_LOCKOUT
    m.advance(5500)  # 30 s after the third failure
    assert m.inp(ACCESS_LOCKOUT_S) == 0 and not m.inp(STATUS_FLAGS) & 4
    assert m.pin(PIN) == 0
    assert m.holding(ACCESS_LEVEL) == [1] and m.inp(ACCESS_FAILURES) == 0


def test_wrong_pins_slow_down_exponentially_up_to_a_cap_and_are_logged():
    """Safety review M7: 3 wrong PINs locked out for a fixed 30 s, then the count started again
    (7.7 PINs per minute sustained) and no failure was logged."""
    from app.eventlog import EV_PIN_FAILED

    m = Module()
    for _ in range(3):
        m.pin("0000")
    lockouts = [m.inp(ACCESS_LOCKOUT_S)]
    for _ in range(6):  # wait out each lockout, then one more wrong PIN
        m.advance(lockouts[-1] * 1000 + 100)
        assert m.pin("0000") == 4 and m.inp(LAST_ERROR) == REASON_PIN  # checked again ...
        lockouts.append(m.inp(ACCESS_LOCKOUT_S))  # ... and locked longer
    assert lockouts == [30, 60, 120, 240, 480, 900, 900], lockouts  # doubling, 15 min cap
    assert m.inp(ACCESS_FAILURES) == 9
    m.app.log.flush()
    failed = [r for r in m.app.log.read() if r[3] == EV_PIN_FAILED]
    assert [r[4] for r in failed] == list(range(1, 10))  # every failure, with its count
    assert [r[5] for r in failed][2:] == lockouts
    m.advance(900 * 1000 + 100)
    assert m.pin(PIN) == 0 and m.inp(ACCESS_FAILURES) == 0  # the right PIN clears the count


def test_unlock_expires_five_minutes_after_the_pin_whatever_is_written():
    m = Module()
    assert m.pin(PIN) == 0
    assert 299 <= m.inp(ACCESS_REMAINING_S) <= 300
    m.advance(200000)
    assert m.write(LEASE_S, 3600) == 0
    assert 99 <= m.inp(ACCESS_REMAINING_S) <= 100  # a write does not renew the unlock
    m.advance(101000)  # 301 s after the PIN
    assert m.holding(ACCESS_LEVEL) == [0]
    assert not m.inp(STATUS_FLAGS) & 2
    assert m.write(LEASE_S, 60) == 4 and m.inp(LAST_ERROR) == REASON_ACCESS
    assert m.holding(LEASE_S) == [3600]
    assert m.pin(PIN) == 0 and m.write(LEASE_S, 60) == 0  # the master sends its PIN again


def test_lease_expiry_reverts_the_setpoint_and_sets_its_status_bits():
    m = Module()
    default = m.holding(GRID_LIMIT)[0]
    assert m.pin(PIN) == 0
    assert m.write(LEASE_S, 2) == 0
    assert m.write(GRID_LIMIT, default + 77) == 0
    m.advance(1500)
    assert m.write(GRID_LIMIT, default + 78) == 0  # renewed before it ran out
    m.advance(1500)
    assert m.holding(GRID_LIMIT) == [default + 78]
    assert m.inp(LEASE_EXPIRED) == 0 and not m.inp(STATUS_FLAGS) & 1
    m.advance(700)  # 2.2 s after the last write: the control tick reverted it
    assert m.holding(GRID_LIMIT) == [default]
    assert m.inp(LEASE_EXPIRED) == 1 << 3  # grid_import_limit_kw is the 4th leased setpoint
    assert m.inp(STATUS_FLAGS) & 1
    r = m.ask(_frame(1, 2, 0, 2, 0, 1))  # discrete lease_expired_any
    assert r[3] == 1
    assert m.write(GRID_LIMIT, default + 1) == 0  # a new write clears its bit
    assert m.inp(LEASE_EXPIRED) == 0 and not m.inp(STATUS_FLAGS) & 1
    assert m.holding(FLOW_SP)[0] == m.app.config.values["flow_setpoint_lpm"]  # never leased


def test_a_pcs_request_is_leased_for_at_most_60_s_whatever_the_lease_setting():
    """Safety review m7: with setpoint_lease_s at 3600 a PCS request outlived a silent master
    by an hour; the grid limit written with it keeps the long lease."""
    m = Module()
    default = m.holding(GRID_LIMIT)[0]
    assert m.pin(PIN) == 0
    assert m.write(LEASE_S, 3600) == 0
    assert m.write(PCS_REQUEST, 0x10000 - 500) == 0  # -50.0 kW (s16)
    assert m.write(GRID_LIMIT, default + 5) == 0
    m.advance(59000)
    assert m.holding(PCS_REQUEST) == [0x10000 - 500]
    m.advance(1500)  # 60.5 s: the request reverted, the limit did not
    assert m.holding(PCS_REQUEST) == [0]
    assert m.holding(GRID_LIMIT) == [default + 5]


def test_fault_reset_coil_reads_back_zero_and_open_wins():
    m = Module()
    assert m.pin(PIN) == 0
    assert m.ask(_frame(1, 5, 0, 2, 0xFF, 0)) == _frame(1, 5, 0, 2, 0xFF, 0)
    r = m.ask(_frame(1, 15, 0, 0, 0, 2, 1, 0b11))  # close and open requested together
    assert r == _frame(1, 15, 0, 0, 0, 2)
    r = m.ask(_frame(1, 1, 0, 0, 0, 4))
    assert r[3] == 0b0010  # open wins; fault_reset already back to 0


# ---- safety commands (safety review M6) -----------------------------------------------------------
CLOSE = 0
RESET = 2


def _coil(m, addr, on, unit=1):
    """FC05; returns the reply (b"" for a broadcast)."""
    return m.ask(_frame(unit, 5, 0, addr, 0xFF if on else 0, 0))


def _coils(m):
    return m.ask(_frame(1, 1, 0, 0, 0, 4))[3]


def _resets_logged(m):
    from app.eventlog import EV_FAULTS_RESET

    m.app.log.flush()
    return [r for r in m.app.log.read() if r[3] == EV_FAULTS_RESET]


def test_a_master_rewriting_close_cyclically_makes_one_request():
    m = Module()
    assert m.pin(PIN) == 0
    assert _coil(m, CLOSE, True) == _frame(1, 5, 0, CLOSE, 0xFF, 0)
    assert _coils(m) & 1  # one request
    m.app.points.bank.set(m.app.points.bank.find(("contactor_close_request",))[0], 0)  # consumed
    for _ in range(5):  # the master's coil image, rewritten every cycle
        assert _coil(m, CLOSE, True) == _frame(1, 5, 0, CLOSE, 0xFF, 0)  # acknowledged ...
        assert not _coils(m) & 1  # ... but no new request
    _coil(m, CLOSE, False)
    _coil(m, CLOSE, True)  # a new rising edge: a new request
    assert _coils(m) & 1


def test_resets_act_on_an_edge_are_rate_limited_and_only_logged_when_they_clear():
    m = Module()
    assert m.pin(PIN) == 0
    from app.platform_faults import FAULT_WATCHDOG_RESET

    faults = m.app.faults
    faults.update(FAULT_WATCHDOG_RESET, True, m.now_ms)  # a latched warning, cause gone
    faults.update(FAULT_WATCHDOG_RESET, False, m.now_ms)
    logged = len(_resets_logged(m))
    _coil(m, RESET, True)
    assert (
        faults.latched_words == [0, 0] and len(_resets_logged(m)) == logged + 1
    )  # cleared: logged
    _coil(m, RESET, True)  # rewritten: no second reset
    assert m.app.points._resets == 1
    _coil(m, RESET, False)
    _coil(m, RESET, True)  # a reset that clears nothing is not logged
    assert m.app.points._resets == 2 and len(_resets_logged(m)) == logged + 1
    _coil(m, RESET, False)
    _coil(m, RESET, True)
    assert m.app.points._resets == 3
    _coil(m, RESET, False)
    r = _coil(m, RESET, True)  # a 4th within 10 minutes: refused, resets locked
    assert r[1] == 0x85 and r[2] == 4, r
    assert m.inp(STATUS_FLAGS) & 64
    m.advance(11 * 60 * 1000)
    r = _coil(m, RESET, True)
    assert r[1] == 0x85 and r[2] == 4  # locked until a local action (a reboot)


def test_broadcast_never_closes_resets_or_unlocks():
    m = Module()
    assert _coil(m, CLOSE, True, unit=0) == b""  # no reply to a broadcast
    raw = PIN.encode() + b"\0" * 4
    assert m.ask(_frame(0, 16, 0, ACCESS_PIN, 0, 4, 8, *raw)) == b""
    assert m.inp(STATUS_FLAGS) & 2 == 0  # not unlocked by a broadcast PIN
    assert m.pin(PIN) == 0
    assert _coil(m, CLOSE, True, unit=0) == b""
    assert _coil(m, RESET, True, unit=0) == b""
    assert not _coils(m) & 1 and m.app.points._resets == 0
    assert _coil(m, CLOSE, True) == _frame(1, 5, 0, CLOSE, 0xFF, 0)  # unit 1: executed
    assert _coils(m) & 1
