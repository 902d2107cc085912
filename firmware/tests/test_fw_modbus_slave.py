"""Modbus RTU slave and register bank on the fake UART (no App, no hooks): CRC-16/MODBUS vectors,
t3.5 framing on the fake clock (margin, length-known fast path, split and back-to-back frames),
every exception in the DOMAIN.md check order 01 -> 03 -> 02 -> 04, quantity limits at and past the
edges, FC05 values, 32-bit partial writes, broadcast silence, drop counters, bounded receive work.

Without hooks the bank has no access levels: every W1/L1 register is writable, so exception 04
here is always "value outside its limits". Access, PINs and leases: test_fw_modbus_points.py.
"""

from comms.modbus_rtu import ModbusSlave, crc16, t35_us
from comms.register_bank import REASON_RANGE, RegisterBank
from hal.fake import FakeUart

# Addresses from comms/register_map.py (the tables end at: holding 308, input 149, coil 4,
# discrete 38).
FLOW_SP = 100  # u16 L1 0..1000
DP_SP = 101  # u16 L1 0..600
TEMP_SP = 102  # s16 L1 100..600
PCS_REQ = 104  # s16 L1 -10000..10000
WORK_TOKENS = 120  # u32 W1, no limits
TEMP_MAX = 300  # safety limit, read-only
HOLDING_END = 309
INPUT_END = 149
COIL_END = 4
DISCRETE_END = 68


def _frame(*pdu):
    data = bytes(pdu)
    crc = crc16(data, len(data))
    return data + bytes((crc & 0xFF, crc >> 8))


class Rig:
    """One slave on a fake UART with a manual clock; tick() is one 10 ms fast tick."""

    def __init__(self, unit=1, baud=19200, margin_us=0):
        self.uart = FakeUart("RS485", baud, 8, "E", 1)
        self.bank = RegisterBank()
        self.slave = ModbusSlave(self.uart, self.bank, unit, baud, margin_us)
        self.now_ms = 1000

    def tick(self, step_ms=10):
        self.now_ms += step_ms
        self.slave.tick(self.now_ms)

    def take(self):
        out = self.uart.tx_bytes()
        self.uart.clear_tx()
        return out

    def ask(self, req, ticks=3):
        self.uart.inject(req)
        for _ in range(ticks):
            self.tick()
        return self.take()

    def exc(self, *pdu):
        resp = self.ask(_frame(1, *pdu))
        assert len(resp) == 5, resp
        assert crc16(resp, 5) == 0
        assert resp[1] == (pdu[0] | 0x80) & 0xFF, resp
        return resp[2]

    def read_holding(self, addr, qty=1):
        resp = self.ask(_frame(1, 3, addr >> 8, addr & 0xFF, 0, qty))
        assert len(resp) == 5 + 2 * qty and crc16(resp, len(resp)) == 0, resp
        return [(resp[3 + 2 * i] << 8) | resp[4 + 2 * i] for i in range(qty)]


# ----- CRC and timing constants -------------------------------------------------------------------


def test_crc16_modbus_check_value_and_known_frames():
    assert crc16(b"123456789", 9) == 0x4B37  # the CRC catalogue's check value for CRC-16/MODBUS
    assert crc16(b"", 0) == 0xFFFF
    assert _frame(1, 3, 0, 0, 0, 10)[-2:] == b"\xc5\xcd"  # classic example, low byte first
    assert _frame(1, 4, 0, 0, 0, 1)[-2:] == b"\x31\xca"
    f = _frame(0x11, 3, 0, 0x6B, 0, 3)
    assert crc16(f, len(f)) == 0  # a whole frame's CRC is 0
    g = bytearray(f)
    g[2] ^= 0x01
    assert crc16(g, len(g)) != 0
    assert crc16(f, 4) == crc16(f[2:4], 2, crc16(f, 2))  # incremental


def test_t35_below_and_above_19200_baud_plus_margin():
    assert t35_us(9600) == 4011  # ceil(38.5e6 / 9600)
    assert t35_us(19200) == 2006
    assert t35_us(19201) == 1750  # fixed above 19200
    assert t35_us(115200) == 1750
    assert t35_us(115200, 500) == 2250
    assert ModbusSlave(FakeUart("U", 9600, 8, "E", 1), None, 1, 9600).silence_ms == 5
    assert ModbusSlave(FakeUart("U", 115200, 8, "E", 1), None, 1, 115200, 1500).silence_ms == 4


# ----- framing ------------------------------------------------------------------------------------


def test_complete_request_is_served_in_the_tick_it_arrives():
    r = Rig()
    r.uart.inject(_frame(1, 3, 0, FLOW_SP, 0, 1))
    r.tick()
    assert r.take() == _frame(1, 3, 2, 0, 0)
    assert r.slave.frames_ok == 1


def test_split_frame_across_ticks_is_joined():
    r = Rig()
    req = _frame(1, 16, 0, FLOW_SP, 0, 2, 4, 0, 10, 0, 20)
    r.uart.inject(req[:3])
    r.tick()
    r.uart.inject(req[3:7])  # byte count now known: 13 bytes expected
    r.tick()
    assert r.take() == b""
    r.uart.inject(req[7:])
    r.tick()
    assert r.take() == _frame(1, 16, 0, FLOW_SP, 0, 2)
    assert r.read_holding(FLOW_SP, 2) == [10, 20]


def test_silence_ends_a_frame_exactly_after_t35_on_the_fake_clock():
    for baud, silence_ms in ((9600, 5), (19200, 3), (38400, 2)):
        r = Rig(baud=baud)
        req = _frame(1, 3, 0, 0, 0, 1)
        r.uart.inject(req[:5])
        r.tick(1)
        r.tick(silence_ms - 1)  # still inside t3.5: the frame stays open
        r.uart.inject(req[5:])
        r.tick(1)
        assert len(r.take()) == 7, baud  # joined and answered
        r.uart.inject(req[:5])
        r.tick(1)
        r.tick(silence_ms)  # t3.5 of silence: the 5 bytes are a frame of their own
        r.uart.inject(req[5:])
        r.tick(1)
        r.tick(20)
        assert r.take() == b"", baud
        assert r.slave.bad_crc == 2, (baud, r.slave.bad_crc)  # the head, then the tail


def test_margin_keeps_a_frame_open_across_a_quiet_tick():
    req = _frame(1, 3, 0, 0, 0, 1)
    for margin_us, answered in ((0, False), (15000, True)):  # 2006 + 15000 us -> 18 ms
        r = Rig(margin_us=margin_us)
        r.uart.inject(req[:4])
        r.tick()
        r.tick()  # 10 ms without a byte
        r.uart.inject(req[4:])
        r.tick()
        r.tick()
        r.tick()
        assert (len(r.take()) == 7) == answered, margin_us


def test_unknown_length_frame_is_served_at_the_silence():
    # FC03 with two extra bytes and a valid CRC: the length path fails, the silence ends it.
    for margin_us, quiet_ticks in ((0, 1), (15000, 2)):
        r = Rig(margin_us=margin_us)
        r.uart.inject(_frame(1, 3, 0, 0, 0, 1, 0, 0))
        r.tick()
        for _ in range(quiet_ticks - 1):
            r.tick()
            assert r.take() == b""
        r.tick()
        assert r.take() == _frame(1, 0x83, 3), margin_us


def test_back_to_back_requests_in_one_tick_are_answered_in_order():
    r = Rig()
    r.uart.inject(
        _frame(1, 3, 0, FLOW_SP, 0, 1)
        + _frame(1, 6, 0, FLOW_SP, 0, 55)
        + _frame(1, 3, 0, FLOW_SP, 0, 1)
    )
    r.tick()
    assert r.take() == (
        _frame(1, 3, 2, 0, 0) + _frame(1, 6, 0, FLOW_SP, 0, 55) + _frame(1, 3, 2, 0, 55)
    )


def test_other_units_traffic_is_skipped_then_our_request_served():
    r = Rig()
    # Unit 2's request and its slave's answer (lengths unknown to us), then ours, one burst.
    r.uart.inject(_frame(2, 3, 0, 0, 0, 1) + _frame(2, 3, 2, 0x12, 0x34) + _frame(1, 4, 0, 0, 0, 1))
    r.tick()
    assert r.take() == _frame(1, 4, 2, 0, 0)
    assert r.slave.other_unit == 2 and r.slave.bad_crc == 0


def test_bad_crc_and_other_unit_are_silent_and_counted():
    r = Rig()
    bad = bytearray(_frame(1, 3, 0, 0, 0, 1))
    bad[-1] ^= 0x5A
    assert r.ask(bytes(bad)) == b""
    assert r.ask(_frame(2, 6, 0, FLOW_SP, 0, 9)) == b""
    assert r.ask(b"\x01\x03") == b""  # shorter than any frame
    assert (r.slave.bad_crc, r.slave.other_unit, r.slave.frames_ok) == (2, 1, 0)
    assert r.read_holding(FLOW_SP) == [0]  # unit 2's write did not land here


def test_configured_unit_address():
    r = Rig(unit=247)
    assert r.ask(_frame(1, 3, 0, 0, 0, 1)) == b""
    assert r.ask(_frame(247, 3, 0, 0, 0, 1)) == _frame(247, 3, 2, 0, 0)


def test_receive_work_bounded_per_tick():
    r = Rig()
    one = _frame(1, 3, 0, 0, 0, 1)
    r.uart.inject(one * 32)  # a flood: 256 bytes, 32 requests in one tick
    for _ in range(8):
        r.tick()
        assert len(r.take()) == 4 * 7  # _MAX_FRAMES_PER_TICK answered per tick, in order
    # Requests held back by the budget are not cut off by the silence: all 32 answered.
    assert r.slave.frames_ok == 32 and r.slave.bad_crc == 0
    r.tick()
    assert r.take() == b""


def test_other_units_frames_count_against_the_per_tick_budget():
    # 64 shortest frames for unit 2 in one tick. Skipping each one costs a CRC scan and a buffer
    # shift; unbounded, this tick took ~10x the time of 4 served requests on the unix port.
    r = Rig()
    r.uart.inject(_frame(2, 7) * 64)
    r.tick()
    assert r.slave.other_unit <= 4
    for _ in range(16):
        r.tick()
    assert r.slave.other_unit == 64 and r.slave.bad_crc == 0
    assert r.ask(_frame(1, 3, 0, 0, 0, 1)) == _frame(1, 3, 2, 0, 0)


def test_a_short_burst_of_other_units_traffic_does_not_hide_our_request():
    r = Rig()
    other = _frame(2, 3, 0, 0, 0, 1) + _frame(2, 3, 2, 0x12, 0x34)
    r.uart.inject(other * 3 + _frame(1, 3, 0, 0, 0, 1))  # 6 foreign frames, then ours
    r.tick()
    r.tick()
    r.tick()
    assert r.take() == _frame(1, 3, 2, 0, 0)
    assert r.slave.other_unit == 6


def test_frame_longer_than_the_buffer_is_dropped_and_counted():
    r = Rig()
    # FC16 with 124 registers: 257 bytes, past the 253-byte PDU limit; it cannot be answered.
    req = _frame(1, 16, 0, FLOW_SP, 0, 124, 248, *([0] * 248))
    r.uart.inject(req[:200])
    r.tick()
    r.uart.inject(req[200:])
    r.tick()
    r.tick()
    r.tick()
    assert r.take() == b""
    assert r.slave.rx_overruns == 1 and r.slave.bad_crc >= 1
    assert r.ask(_frame(1, 3, 0, 0, 0, 1)) == _frame(1, 3, 2, 0, 0)  # still serving


# ----- exceptions and their order -------------------------------------------------------------


def test_exception_01_for_every_unsupported_function():
    r = Rig()
    for fc in (0, 7, 8, 11, 17, 22, 23, 43, 100, 127):
        assert r.exc(fc, 0, 0, 0, 1) == 1, fc
    assert r.exc(7) == 1  # 01 before 03: no body at all
    assert r.slave.exceptions == 11


def test_exception_order_01_03_02_04():
    r = Rig()
    assert r.exc(3, 0xFF, 0xFF, 0, 0) == 3  # 03 before 02: bad quantity outside the map
    assert r.exc(6, 1, 0x2C, 0, 1, 0) == 3  # FC06 frame of 9 bytes: structure first
    assert r.exc(16, 1, 0x2C, 0, 1, 3, 0, 1, 0) == 3  # byte count wrong at a read-only address
    assert r.exc(5, 0, 100, 0x12, 0x34) == 3  # bad FC05 value before a coil outside the map
    # 02 before 04: pcs_power_request 20000 (> 10000) together with reserved 106.
    assert r.exc(16, 0, PCS_REQ, 0, 3, 6, 0x4E, 0x20, 0, 0, 0, 0) == 2
    assert r.exc(6, 0, PCS_REQ, 0x4E, 0x20) == 4
    assert r.bank.last_error == REASON_RANGE
    assert r.read_holding(PCS_REQ) == [0]


def test_quantity_limits_fc01_fc02():
    r = Rig()
    for fc, end in ((1, COIL_END), (2, DISCRETE_END)):
        resp = r.ask(_frame(1, fc, 0, 0, 0, end))
        assert len(resp) == 5 + (end + 7) // 8 and resp[2] == (end + 7) // 8, fc
        assert r.exc(fc, 0, 0, 0, end + 1) == 2  # one past the map
        assert r.exc(fc, 0, 0, 0x07, 0xD0) == 2  # 2000: a legal quantity, outside the map
        assert r.exc(fc, 0, 0, 0x07, 0xD1) == 3  # 2001
        assert r.exc(fc, 0, 0, 0, 0) == 3
        assert r.exc(fc, 0xFF, 0xFF, 0x07, 0xD1) == 3


def test_quantity_limits_fc03_fc04():
    r = Rig()
    for fc, end in ((3, HOLDING_END), (4, INPUT_END)):
        start = end - 125
        resp = r.ask(_frame(1, fc, start >> 8, start & 0xFF, 0, 125))
        assert len(resp) == 255 and resp[2] == 250 and crc16(resp, 255) == 0, fc
        assert r.exc(fc, (start + 1) >> 8, (start + 1) & 0xFF, 0, 125) == 2
        assert r.exc(fc, 0, 0, 0, 126) == 3
        assert r.exc(fc, 0, 0, 0, 0) == 3
        assert r.exc(fc, end >> 8, end & 0xFF, 0, 1) == 2


def test_quantity_limits_fc15():
    r = Rig()
    assert r.ask(_frame(1, 15, 0, 0, 0, 4, 1, 0b1010)) == _frame(1, 15, 0, 0, 0, 4)
    assert r.ask(_frame(1, 1, 0, 0, 0, 4)) == _frame(1, 1, 1, 0b1010)
    assert r.exc(15, 0, 0, 0, 5, 1, 0) == 2  # one past the map
    assert r.exc(15, 0, 0, 0x07, 0xB0, 246, *([0] * 246)) == 2  # 1968 coils: legal, outside
    assert r.exc(15, 0, 0, 0x07, 0xB1, 247) == 3  # 1969
    assert r.exc(15, 0, 0, 0, 0, 0) == 3
    assert r.exc(15, 0, 0, 0, 4, 2, 0, 0) == 3  # byte count != ceil(quantity / 8)


def test_quantity_limits_fc16():
    r = Rig()
    assert r.exc(16, 0, 0, 0, 123, 246, *([0] * 246)) == 2  # 123: legal, identity read-only
    assert r.exc(16, 0, FLOW_SP, 0, 124, 0) == 3  # 124
    assert r.exc(16, 0, FLOW_SP, 0, 0, 0) == 3
    assert r.exc(16, 0, FLOW_SP, 0, 2, 3, 0, 1, 2) == 3  # byte count != 2 x quantity
    assert r.exc(16, 0, FLOW_SP, 0, 2, 4, 0, 1) == 3  # byte count says 4, 2 present


def test_fc05_values():
    r = Rig()
    assert r.ask(_frame(1, 5, 0, 2, 0xFF, 0)) == _frame(1, 5, 0, 2, 0xFF, 0)
    assert r.ask(_frame(1, 1, 0, 0, 0, 4)) == _frame(1, 1, 1, 0b0100)
    assert r.ask(_frame(1, 5, 0, 2, 0, 0)) == _frame(1, 5, 0, 2, 0, 0)
    assert r.ask(_frame(1, 1, 0, 0, 0, 4)) == _frame(1, 1, 1, 0)
    for hi, lo in ((0, 1), (0, 0xFF), (0xFF, 0xFF), (0x12, 0x34), (1, 0), (0xFF, 1)):
        assert r.exc(5, 0, 2, hi, lo) == 3, (hi, lo)
    assert r.ask(_frame(1, 1, 0, 0, 0, 4)) == _frame(1, 1, 1, 0)  # none of them applied
    assert r.exc(5, 0, COIL_END, 0xFF, 0) == 2


def test_writes_to_read_only_reserved_and_outside():
    r = Rig()
    before = r.read_holding(0, 8)
    assert r.exc(6, 0, 0, 0, 1) == 2  # magic
    assert r.exc(6, 1, 0x2C, 0, 99) == 2  # supply_temp_max_c, a safety limit
    assert r.exc(6, 0, 106, 0, 1) == 2  # reserved
    assert r.exc(6, HOLDING_END >> 8, HOLDING_END & 0xFF, 0, 1) == 2  # outside
    assert r.exc(16, 0, 99, 0, 2, 4, 0, 1, 0, 1) == 2  # reserved 99 then a setpoint
    assert r.read_holding(0, 8) == before
    assert r.read_holding(FLOW_SP) == [0]


def test_32_bit_values_are_written_whole_or_not_at_all():
    r = Rig()
    assert r.exc(6, 0, WORK_TOKENS, 0, 1) == 2  # high half
    assert r.exc(6, 0, WORK_TOKENS + 1, 0, 1) == 2  # low half
    assert r.exc(16, 0, WORK_TOKENS + 1, 0, 1, 2, 0, 1) == 2
    assert r.exc(16, 0, WORK_TOKENS + 1, 0, 2, 4, 0, 1, 0, 2) == 2  # low half + reserved
    assert r.exc(16, 0, WORK_TOKENS - 1, 0, 2, 4, 0, 1, 0, 2) == 2  # reserved + high half
    assert r.read_holding(WORK_TOKENS, 2) == [0, 0]
    req = _frame(1, 16, 0, WORK_TOKENS, 0, 2, 4, 0x12, 0x34, 0x56, 0x78)
    assert r.ask(req) == _frame(1, 16, 0, WORK_TOKENS, 0, 2)
    assert r.read_holding(WORK_TOKENS, 2) == [0x1234, 0x5678]
    assert r.bank.get(r.bank.row("work_tokens")) == 0x12345678
    assert r.exc(6, 0, 5, 0, 1) == 2  # config_crc (u32, read-only) as well


def test_limits_signed_and_unsigned_at_and_past_the_edges():
    r = Rig()
    cases = (
        (FLOW_SP, 0, True),
        (FLOW_SP, 1000, True),
        (FLOW_SP, 1001, False),
        (TEMP_SP, 100, True),
        (TEMP_SP, 99, False),
        (TEMP_SP, 600, True),
        (TEMP_SP, 601, False),
        (TEMP_SP, -1, False),
        (PCS_REQ, -10000, True),
        (PCS_REQ, -10001, False),
        (PCS_REQ, 10000, True),
        (PCS_REQ, 10001, False),
    )
    for addr, value, ok in cases:
        before = r.read_holding(addr)
        raw = value & 0xFFFF
        if ok:
            assert r.ask(_frame(1, 6, 0, addr, raw >> 8, raw & 0xFF)) != b""
            assert r.read_holding(addr) == [raw], (addr, value)
        else:
            assert r.exc(6, 0, addr, raw >> 8, raw & 0xFF) == 4, (addr, value)
            assert r.read_holding(addr) == before, (addr, value)


def test_fc16_is_all_or_nothing():
    r = Rig()
    assert r.ask(_frame(1, 16, 0, FLOW_SP, 0, 2, 4, 0, 7, 0, 8)) != b""
    assert r.exc(16, 0, FLOW_SP, 0, 2, 4, 0, 9, 0x02, 0x59) == 4  # dp 601 > 600
    assert r.read_holding(FLOW_SP, 2) == [7, 8]  # flow not applied either


def test_broadcast_executes_writes_and_never_answers():
    r = Rig()
    assert r.ask(_frame(0, 6, 0, FLOW_SP, 0, 42)) == b""
    assert r.read_holding(FLOW_SP) == [42]
    assert r.ask(_frame(0, 16, 0, FLOW_SP, 0, 2, 4, 0, 43, 0, 44)) == b""
    assert r.ask(_frame(0, 5, 0, 1, 0xFF, 0)) == b""
    assert r.ask(_frame(0, 15, 0, 2, 0, 2, 1, 3)) == b""
    assert r.ask(_frame(1, 1, 0, 0, 0, 4)) == _frame(1, 1, 1, 0b1110)
    assert r.read_holding(FLOW_SP, 2) == [43, 44]
    # reads, exceptions and unsupported functions: silent as well, nothing changed
    for pdu in (
        (3, 0, 0, 0, 1),
        (6, 0, 0, 0, 1),
        (6, 0, FLOW_SP, 0x03, 0xE9),
        (7,),
        (5, 0, 0, 1, 2),
    ):
        assert r.ask(_frame(0, *pdu)) == b"", pdu
    assert r.read_holding(FLOW_SP, 2) == [43, 44]
    assert r.read_holding(0) == [0]
    assert r.slave.broadcasts == 9


# ----- deferred serving: the fast slot frames, the control slot answers (app/compose.py) ------
def test_deferred_slave_frames_in_the_tick_and_answers_in_serve():
    """docs/chip-time.md: an answer costs 8-16 ms of CPU on a chip, more than the 10 ms fast tick
    (TICK_OVERRUN). Deferred, tick() frames and holds a write at rx[0]; the ticks after it read
    nothing more; serve() answers it, then frames and answers what followed it (back-to-back
    requests), in one call."""
    r = Rig()
    r.slave.deferred = True
    write = _frame(1, 6, 0, FLOW_SP, 0, 120)
    r.uart.inject(write + _frame(1, 3, 0, 0, 0, 1))
    for _ in range(9):
        r.tick()
    assert r.take() == b"" and r.slave.frames_ok == 0
    assert r.slave.rx_len == 16 and r.slave._pending == 8  # both read; the write held
    r.slave.serve(r.now_ms)
    out = r.take()
    assert out[:8] == write  # the echo of the write
    assert out[8:11] == bytes((1, 3, 2)) and crc16(out[8:], 7) == 0  # the read behind it
    assert r.slave.frames_ok == 2 and r.slave.rx_len == 0 and r.slave._pending == 0
    assert r.bank.get(r.bank.r_default.index("cfg:flow_setpoint_lpm")) == 120
    r.slave.serve(r.now_ms)  # nothing held: nothing happens
    assert r.take() == b""


def test_deferred_slave_answers_a_quick_read_every_other_tick_at_most():
    """Deferred: a read of at most 64 data bytes is answered in the tick that framed it, every
    other tick at most (on the slowest chip such a tick can run a little over its 10 ms: never
    two in a row, never the three in a row that trip); a longer read waits for serve(), like a
    write."""
    r = Rig()
    r.slave.deferred = True
    r.slave.stale = False  # its owner keeps the status registers fresh (a master is polling)
    small = _frame(1, 3, 0, FLOW_SP, 0, 1)
    r.uart.inject(small + small)
    r.tick()
    assert len(r.take()) == 7 and r.slave._pending == 0 and r.slave.rx_len == 8
    r.tick()  # the second waits a tick
    assert r.take() == b"" and r.slave.rx_len == 8
    r.tick()
    assert len(r.take()) == 7 and r.slave.rx_len == 0
    answered = []
    for _ in range(20):  # a master asking every tick
        r.uart.inject(small)
        r.tick()
        answered.append(len(r.take()) > 0)
    assert not any(answered[i] and answered[i + 1] for i in range(19)), answered
    assert sum(answered) >= 9
    for _ in range(30):  # let the master stop: what it left is answered
        r.tick()
    r.take()
    assert r.slave.rx_len == 0
    r.uart.inject(_frame(1, 3, 0, FLOW_SP, 0, 33))  # 66 data bytes: not quick
    r.tick()
    assert r.take() == b"" and r.slave._pending == 8
    r.slave.serve(r.now_ms)
    assert len(r.take()) == 5 + 66
    r.slave.stale = True  # the owner paused the refresh (a quiet line): a quick read waits too
    r.uart.inject(small)
    r.tick()
    assert r.take() == b"" and r.slave._pending == 8
    r.slave.serve(r.now_ms)
    assert len(r.take()) == 7


def test_deferred_slave_holds_a_request_ended_by_the_silence():
    """A request of a function this slave does not support ends at the t3.5 silence; deferred,
    its exception 01 is answered by serve(), like any request."""
    r = Rig()
    r.slave.deferred = True
    r.uart.inject(_frame(1, 43, 14, 1, 0))  # FC43 read device identification: unsupported
    for _ in range(5):
        r.tick()
    assert r.take() == b""
    r.slave.serve(r.now_ms)
    resp = r.take()
    assert len(resp) == 5 and resp[1] == 43 | 0x80 and resp[2] == 1


def test_a_deferred_slave_under_a_flood_never_answers_in_the_tick():
    """A master flooding valid requests: every fast tick frames at most up to the held request
    (no answer, no bank access there); each serve() answers a bounded batch."""
    r = Rig(baud=115200)
    r.slave.deferred = True
    req = _frame(1, 4, 0, 100, 0, 49)  # a status read: the most expensive answer
    served = []
    for k in range(100):
        r.uart.inject(req * 3)
        r.tick()
        assert r.take() == b"", k
        if k % 10 == 9:
            before = r.slave.frames_ok
            r.slave.serve(r.now_ms)
            served.append(r.slave.frames_ok - before)
            r.take()
    assert all(1 <= n <= 5 for n in served), served
