"""The chip-time cost model (gridpod/vboard/chip_model.py, chip_time.py): bus times from the board files' clocks,
the ADS1115 cycle of hal/mcu.py, the chip factors from the published figures, frame kinds by the
scheduler's own phase rule, and the firmware's chip-time record read back by the host."""

import struct
import types

import pytest
from gridpod.build.tree import import_firmware
from gridpod.harness import protocol as h
from gridpod.vboard import chip_model as ct
from gridpod.vboard.chip_calibration import Calibration
from gridpod.vboard.chip_model import AdsModel, BoardCost
from gridpod.vboard.chip_time import ChipTime

CAL = Calibration(
    unix_bench_ms=50.0,
    read_overhead_us=0.1,
    plain_read_us=0.1,
    ads_read_us=0.5,
    ads_service_us=1.5,
    pcf_read_us=0.3,
)
# ESP32_DEVKITC, I2C0 at 400 kHz (2.5 us per bit), ESP32 driver overhead 50 us per transaction
ADS_READ_US = 48 * 2.5 + 50  # S, addr+W, pointer, Sr, addr+R, 2 bytes, P
ADS_WRITE_US = 38 * 2.5 + 50  # S, addr+W, pointer, 2 bytes, P
PCF_US = 20 * 2.5 + 50  # S, addr, 1 byte, P


def test_i2c_transactions_cost_their_bits_at_the_board_clock():
    esp = BoardCost("ESP32_DEVKITC", CAL)
    assert esp._txn("ADC_C", ct.BITS_REG_READ_2) == pytest.approx(ADS_READ_US)
    assert esp._txn("ADC_C", ct.BITS_REG_WRITE_2) == pytest.approx(ADS_WRITE_US)
    assert esp._txn("DIN", ct.BITS_BYTE_READ) == pytest.approx(PCF_US)
    slow = BoardCost("ESP32_DEVKITC", CAL).board
    slow["i2c"]["I2C0"]["freq_hz"] = 100_000
    assert BoardCost(slow, CAL)._txn("ADC_C", ct.BITS_REG_READ_2) == pytest.approx(48 * 10 + 50)
    pico = BoardCost("RPI_PICO", CAL)  # the same bits, the RP2040's smaller driver overhead
    assert pico._txn("ADC_A", ct.BITS_REG_READ_2) == pytest.approx(48 * 2.5 + 10)


def test_roles_sit_where_the_board_file_puts_them():
    esp = BoardCost("ESP32_DEVKITC", CAL).places
    assert esp["V_PACK"] == ("ads", "ADC_C", 0) and esp["GRID_KW"] == ("ads", "ADC_D", 1)
    assert esp["INTERLOCK_LOOP"] == ("pcf_in", "DIN") and esp["FAULT_LAMP"] == ("pcf_out", "DOUT")
    assert esp["LEAK_ZONE1"] == ("pin",) and esp["PUMP1_PWM"] == ("pwm",)
    pico = BoardCost("RPI_PICO", CAL).places
    assert pico["T_RETURN"] == ("adc",) and pico["MIX_VALVE_FB"] == ("adc",)
    assert pico["V_PACK"] == ("ads", "ADC_B", 0)


def test_chip_factor_is_the_published_loop_over_this_hosts_loop():
    def factor(board, mhz=None):
        return BoardCost(board, CAL, mhz).factor

    assert factor("ESP32_DEVKITC", 160) == pytest.approx(6112 / 50)  # measured at 160 MHz
    # by default the clock the board file sets (cpu_mhz, hal/mcu.py): 240, 240, 200 MHz
    assert factor("ESP32_DEVKITC") == pytest.approx(6112 * 160 / 240 / 50)
    assert factor("ESP32_S3_DEVKITC") == pytest.approx(3376 / 50)  # measured at 240 MHz
    assert factor("ESP32_S3_DEVKITC", 160) == pytest.approx(3376 * 240 / 160 / 50)
    assert factor("RPI_PICO") == pytest.approx(7984 * 125 / 200 / 50)
    stock = BoardCost("RPI_PICO", CAL).board
    del stock["cpu_mhz"]  # no clock in the board file: the one MicroPython boots at
    assert factor(stock) == pytest.approx(7984 / 50)


def test_ads_model_follows_the_hal_cycle():
    a = AdsModel(read_us=170.0, write_us=145.0)
    a.used = {0, 2}
    assert a.service(0.0) == 145.0  # nothing converting: start channel 0
    assert a.service(145.0 + ct.ADS_CONVERSION_US - 1) is None  # too soon: no bus access
    t = 145.0 + ct.ADS_CONVERSION_US
    assert a.service(t) == 170.0 + 170.0 + 145.0  # config, result, start the next
    assert a.ch == 2  # round robin over the channels in use
    assert a.service(t + 485.0 + ct.ADS_CONVERSION_US) == 485.0 and a.ch == 0


def _frame(board, start_us, reads, vm_us=10.0, outputs=(), uart_bytes=0, flash=None):
    return board.frame_cost(start_us, vm_us, reads, list(outputs), uart_bytes, flash)


FAST_READS = {
    "V_PACK": 1,
    "V_LINK": 1,
    "I_PACK": 1,
    "GRID_KW": 1,
    "INTERLOCK_LOOP": 1,
    "K_PRE_AUX": 1,
    "LEAK_ZONE1": 1,
}


def test_a_fast_tick_on_esp32_costs_cpu_plus_its_bus_transactions():
    esp = BoardCost("ESP32_DEVKITC", CAL)
    f = esp.factor
    for k in range(3):  # the first frames start the conversions; then the steady state
        work, idle, parts = _frame(esp, k * 10_000.0, FAST_READS)
    assert parts["cpu"] == pytest.approx(10.0 * f)
    # hal/mcu.py: the idle wait's two rounds (after the work, and 3 ms before the deadline with
    # four chips) serviced every chip: the tick's ADS1115 reads make no bus transfer
    assert esp.late_lead_us == 3000
    assert parts["i2c_ads"] == 0
    assert parts["i2c_pcf"] == pytest.approx(2 * PCF_US)  # INTERLOCK_LOOP, K_PRE_AUX on DIN
    hal = 4 * (0.5 - 0.1) * f + 2 * (0.3 - 0.1) * f
    assert parts["hal"] == pytest.approx(hal)
    assert work == pytest.approx(sum(parts.values()))
    assert idle > 0  # the frame left >= 3 ms: the idle wait serviced the chips
    # a 25 ms frame leaves no idle wait: the reads of the frame after it service their chips,
    # ADC_C (pack) and ADC_D (grid): two reads and a start each
    _frame(esp, 30_000.0, FAST_READS, vm_us=25_000 / f)
    work, idle, parts = _frame(esp, 55_000.0, FAST_READS)
    assert parts["i2c_ads"] == pytest.approx(2 * (2 * ADS_READ_US + ADS_WRITE_US))
    assert parts["hal"] == pytest.approx(hal + 2 * (1.5 - 0.5) * f)


def test_an_rs485_reply_costs_its_writes_and_a_flash_erase_stalls_the_tick():
    """hal/rs485.py queues the reply and returns (it waited for the wire, 14.3 ms for an FC03
    reply of 10 registers at 19200 8E1, before): the tick pays the UART.write calls, one per
    power-of-two view of the reply (25 bytes: 16 + 8 + 1)."""
    esp = BoardCost("ESP32_DEVKITC", CAL)
    work, _, parts = _frame(esp, 0.0, {}, vm_us=0.0, uart_bytes=25)
    assert parts["uart"] == pytest.approx(3 * 30.0)
    assert ct.uart_us(25, 19200) == pytest.approx(25 * 11 * 1e6 / 19200)  # the wire, not the tick
    esp.stats["fast"].add(work, 0.0, parts, esp.period_us, esp.budget)
    s = esp.stats["fast"].summary(esp.period_us)
    assert s["overruns"] == 0 and s["over_budget"] == 0 and s["max_dominant"] == "uart"
    _, _, parts = _frame(esp, 0.0, {}, vm_us=0.0, flash=(1, 1, 256))
    assert parts["flash"] == pytest.approx(45_000 + 30 + 255 * 2.5)


def test_tick_overrun_trips_follow_the_schedulers_policy():
    """app/scheduler.py: one fast slot run above 2x the tick, or three in a row above it, trips;
    a control frame's slot is judged against its own 100 ms period."""
    esp = BoardCost("ESP32_DEVKITC", CAL)
    us_per_vm_us = esp.factor

    def charge(kind, pct):
        esp.charge(kind, 0.0, pct / 100 * esp.period_us / us_per_vm_us, {}, [], 0, None)

    for pct in (150, 150, 40, 150, 150):  # never three in a row
        charge("fast", pct)
    assert esp.stats["fast"].trips == 0
    charge("fast", 150)  # the third in a row
    charge("fast", 210)  # above twice the tick on its own
    assert esp.stats["fast"].trips == 2
    charge("fast", 150)  # the run goes on: a trip again
    charge("control", 900)  # 90 ms of control work: late ticks, no trip; the run is broken
    charge("fast", 150)
    assert esp.stats["fast"].trips == 3 and esp.stats["control"].trips == 0
    charge("control", 2100)  # above 2 x 100 ms
    assert esp.stats["control"].trips == 1
    assert esp.summary()["fast"]["trips"] == 3


def test_pcf8574_above_its_rated_clock_is_flagged():
    warnings = BoardCost("ESP32_DEVKITC", CAL).warnings()
    assert len(warnings) == 2 and all("rated for 100 kHz" in w for w in warnings)
    board = BoardCost("RPI_PICO", CAL).board
    board["i2c"]["I2C0"]["freq_hz"] = 100_000
    assert BoardCost(board, CAL).warnings() == []


def test_frame_kinds_follow_the_schedulers_phase_rule():
    """The firmware's scheduler on the fake platform, a control task at each control phase:
    which frames ran the control slot and the housekeeping slot, against what ChipTime infers
    from the housekeeping flag alone."""
    sched_mod = import_firmware("app.scheduler")
    p = import_firmware("hal.fake").open_platform({"pins": {}})
    s = sched_mod.Scheduler(p, 10, 100, 1000, gc_collect=lambda: None, mem_free=lambda: 0)
    ran = []

    class Control:
        def tick(self, now_ms):
            ran.append(now_ms)
            return True

    for phase in range(sched_mod.PHASE_PUBLISH + 1):
        s.add(Control(), sched_mod.SLOT_CONTROL, phase)
    truth = []
    last = [p.reports, None]

    def on_wait(plat):
        hk = plat.reports != last[0]
        last[0] = plat.reports
        control = bool(ran) and ran[-1] == plat.ticks_ms() - 10
        truth.append("housekeeping" if hk else "control" if control else "fast")

    p.on_wait = on_wait
    s.run(frames=350)
    kinds = ChipTime([], CAL)
    assert kinds.control_frames == {0, 1, 2, 3, 4}
    seen = [kinds.frame_kind(k == "housekeeping") for k in truth]
    first = truth.index("housekeeping")
    assert all(k is None for k in seen[:first])
    assert seen[first:] == truth[first:]
    assert truth.count("housekeeping") == 4 and truth.count("control") == 35 * 5


class _Link:
    """Records the firmware's exchange; answers registrations and exchanges."""

    def __init__(self):
        self.buf = bytearray(4096)
        self.sent = None
        self.channels = 0

    def request(self, msg_type, n):
        b = self.buf
        if msg_type == h.REGISTER:
            struct.pack_into("<HI", b, 3, self.channels, 0)
            self.channels += 1
            return ord("r"), 6
        self.sent = bytes(b[3 : 3 + n])
        deadline = struct.unpack_from("<I", b, 3)[0]
        struct.pack_into("<IIHB", b, 3, deadline, deadline, 0, 0)
        return ord("x"), 11


def test_firmware_chip_record_reads_back_on_the_host(monkeypatch):
    harness = import_firmware("hal.harness")
    clock = [1000]
    fake_time = types.SimpleNamespace(ticks_us=lambda: clock[0])
    monkeypatch.setattr(import_firmware("hal.chip_record"), "time", fake_time)
    board = {"pins": {"V_PACK": {"pin": 1, "mode": "adc"}, "LEVEL_OK": {"pin": 2, "mode": "in"}}}
    link = _Link()
    p = harness.HarnessPlatform(board, link, {"chip_time": True})
    p.report(0, 0, 0, 1)  # a housekeeping frame (and heap_free: no gc.mem_free on CPython)
    v, level = p.adc("V_PACK"), p.digital_in("LEVEL_OK")
    p.wait_until_ms(10)  # boot frame
    clock[0] += 2500  # this frame's work
    for _ in range(3):
        v.read_u16()
    level.value()
    p.wait_until_ms(20)
    rec = h.decode_exchange(link.sent)[2]["chip"]
    assert rec.frame_us == 2500 and not rec.housekeeping and rec.flash is None
    assert rec.reads == {0: 3, 1: 1}
    p.wait_until_ms(30)  # nothing read: the counts started over
    assert h.decode_exchange(link.sent)[2]["chip"].reads == {}
    counts = [(1, 3, 700)]  # a runtime that counts flash operations since power-on
    p._chip._flash_ops = lambda: counts[0]
    p.wait_until_ms(40)
    assert h.decode_exchange(link.sent)[2]["chip"].flash == (1, 3, 700)
    counts[0] = (1, 5, 764)
    p.wait_until_ms(50)  # per frame: the difference since the last record
    assert h.decode_exchange(link.sent)[2]["chip"].flash == (0, 2, 64)
    plain = harness.HarnessPlatform(board, _Link(), {})  # chip time off: plain inputs
    assert type(plain.adc("V_PACK")) is harness._Input and plain._chip is None


def test_frames_the_modbus_traffic_touched_are_counted_apart():
    """A frame that read request bytes (rx, from the host) or sent a reply (uart bytes) also
    goes to the board's Modbus figures: the bench judges TICK_OVERRUN there."""
    esp = BoardCost("ESP32_DEVKITC", CAL)
    vm = 2.5 * esp.period_us / esp.factor  # 250 % of the tick
    esp.charge("fast", 0.0, vm, {}, [], 0, None)  # a steady frame: not Modbus
    esp.charge("fast", 10_000.0, 1.0, {}, [], 0, None, modbus=True)  # read a request
    esp.charge("control", 20_000.0, 1.0, {}, [], 25, None)  # answered: the reply
    m = esp.summary()["modbus"]
    assert m["frames"] == 2 and m["trips"] == 0 and m["fast_max_pct"] < 1
    esp.charge("fast", 30_000.0, vm, {}, [], 0, None, modbus=True)
    assert esp.summary()["modbus"]["trips"] == 1
    assert esp.summary()["fast"]["trips"] == 2
