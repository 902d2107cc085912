"""The App on the fake HAL: heartbeat, Modbus on RS-485, safe-boot escape, watchdog reset seen on the
next boot, Ctrl-C, startup from board.json."""

from app import startup, state
from app.app import App
from app.eventlog import (
    EV_BOOT,
    EV_CONFIG_DEFAULTS,
    EV_FAULT_RAISED,
    EV_RESET_CAUSE,
)
from app.platform_faults import FAULT_BROWN_OUT, FAULT_IO_BUS, FAULT_WATCHDOG_RESET
from comms.modbus_rtu import crc16
from control.faults import ACTION_ALARM
from hal import RESET_BROWN_OUT, RESET_WATCHDOG
from hal.fake import WatchdogExpired
from support import BOARD, exists, fake_platform, tmp_dir, write_bytes


def _app(root, platform=None):
    return App(platform or fake_platform(), BOARD, root, log_slots=32)


def _codes(app):
    return [r[3] for r in app.log.read()]


def test_missing_config_boots_normal_with_defaults():
    app = _app(tmp_dir())
    assert state.is_normal() and state.reason == ""
    assert state.close_permitted()
    assert EV_CONFIG_DEFAULTS in _codes(app)
    assert EV_BOOT in _codes(app) and EV_RESET_CAUSE in _codes(app)


def test_heartbeat_1hz_and_status_led():
    p = fake_platform()
    app = _app(tmp_dir(), p)
    app.run(frames=300)
    led = p.outputs["STATUS_LED"]
    edges = led.history[1:]
    assert len(edges) == 5
    for i in range(1, len(edges)):
        assert edges[i][0] - edges[i - 1][0] == 500
        assert edges[i][1] != edges[i - 1][1]


def test_rs485_serves_modbus_with_the_config_line_settings():
    p = fake_platform()
    app = _app(tmp_dir(), p)
    uart = p.uarts["RS485"]
    assert (uart.baud, uart.parity, uart.stop) == (19200, "E", 1)
    app.run(frames=2)
    uart.inject(b"\x01\x03\x00\x00\x00\x01\x84\x0a")  # read holding 0 (magic)
    app.run(frames=9)  # to the next control frame: frame 10 of the scheduler
    assert uart.tx_bytes() == b"\x01\x03\x02\x47\x50\x8b\x88"
    assert app.modbus.frames_ok == 1


def test_modbus_requests_are_framed_in_the_fast_slot_and_answered_in_the_control_slot():
    """docs/chip-time.md: an answer with its status refresh costs 8-16 ms of CPU on an ESP32 or
    RP2040, over the 10 ms tick; in the fast slot a poll took it over 200 % (TICK_OVERRUN,
    contactors open), a flood of four a tick more. The fast slot now collects and frames the
    bytes and answers one short read a tick from the last refresh (1-3 ms on a chip); a write
    (and whatever else costs more) is held for the control slot, within 100 ms, and the status
    registers are refreshed there."""
    p = fake_platform()
    app = _app(tmp_dir(), p)
    uart = p.uarts["RS485"]
    _poll_once(app, uart)  # frames 0-9: a master is polling, the registers are kept fresh
    app.run(frames=1)  # frame 10: a control frame (every 10th) refreshes them
    uart.inject(b"\x01\x03\x00\x00\x00\x01\x84\x0a")  # read holding 0: a quick read
    app.run(frames=1)
    assert uart.tx_bytes() == b"\x01\x03\x02\x47\x50\x8b\x88"  # answered in the fast tick
    uart.clear_tx()
    app.points._set_level(1)  # unlocked as by a PIN
    app.points.unlock_until_ms = p.ticks_ms() + 100000
    write = b"\x01\x06\x00\x6e\x00\x3c"  # setpoint_lease_s (110) = 60
    crc = crc16(write, 6)
    write += bytes((crc & 0xFF, crc >> 8))
    uart.inject(write)
    app.run(frames=8)  # frames 12-19: fast only
    assert uart.tx_bytes() == b"" and app.modbus.rx_len == 8  # framed and held, not answered
    assert app.modbus.frames_ok == 2
    fast = app.scheduler.slots[0].tasks
    assert app.modbus in fast and all(getattr(t, "tick", None) != app.modbus.serve for t in fast)
    app.run(frames=1)  # frame 20: the control slot answers (an echo) and applies it
    assert uart.tx_bytes() == write and app.modbus.frames_ok == 3
    assert app.points.bank.get(app.points.bank.find(("setpoint_lease_s",))[0]) == 60


def _poll_once(app, uart):
    """One read of holding 0 (the magic), answered by the next control frame; run to it."""
    uart.inject(b"\x01\x03\x00\x00\x00\x01\x84\x0a")
    app.run(frames=10)
    assert uart.tx_bytes() == b"\x01\x03\x02\x47\x50\x8b\x88"
    uart.clear_tx()


def _uptime_read(app, now_s):
    """FC04 read of uptime_s (u32, two registers) and the answer it must get at now_s."""
    bank = app.points.bank
    addr = bank.r_addr[bank.find(("uptime_s",))[0]]
    req = bytes((1, 4, addr >> 8, addr & 0xFF, 0, 2))
    crc = crc16(req, 6)
    ans = bytes((1, 4, 4, 0, 0, now_s >> 8, now_s & 0xFF))
    acrc = crc16(ans, 7)
    return req + bytes((crc & 0xFF, crc >> 8)), ans + bytes((acrc & 0xFF, acrc >> 8))


def test_the_status_refresh_pauses_on_a_quiet_line_and_a_read_never_gets_old_registers():
    """The status refresh is most of a control tick's work on a chip (docs/chip-time.md). While
    no master asks it pauses; the first read after the quiet spell is held for the control slot,
    which refreshes the registers before it answers, so the answer is no older than a control
    period; while the master keeps asking, quick reads are answered in the fast slot again."""
    p = fake_platform()
    app = _app(tmp_dir(), p)
    uart = p.uarts["RS485"]
    refreshes = []
    refresh = app.points.refresh
    app.points.bank.hooks_refresh = lambda now_ms: refreshes.append(now_ms) or refresh(now_ms)
    app.points.refresh = lambda now_ms: refreshes.append(now_ms) or refresh(now_ms)
    app.run(frames=1000)  # 10 s, nobody asks
    assert len(refreshes) <= 50  # the first 5 s at most, then none
    assert not [t for t in refreshes if t > 5100]
    assert app.modbus.stale
    app.run(frames=1)  # frame 1000, a control frame (every 10th)
    req, ans = _uptime_read(app, 10)  # the registers paused at 5 s would say 4 or 5
    uart.inject(req)
    app.run(frames=1)  # frame 1001: fast only
    assert uart.tx_bytes() == b""  # held: the registers are stale
    app.run(frames=9)  # frame 1010: the control slot refreshes, then answers
    assert uart.tx_bytes() == ans, uart.tx_bytes().hex()
    assert refreshes[-1] == 10100
    uart.clear_tx()
    assert not app.modbus.stale  # the master asked: refreshed every control tick again
    req, ans = _uptime_read(app, 10)
    uart.inject(req)
    app.run(frames=1)
    assert uart.tx_bytes() == ans  # a quick read, answered in the fast tick


def test_watchdog_reset_recorded_on_next_boot():
    root = tmp_dir()
    p = fake_platform()
    app = _app(root, p)
    app.run(frames=50)
    app.heartbeat.tick = lambda now_ms: False  # the control task stops checking in
    bit = False
    try:
        app.run(frames=1000)
    except WatchdogExpired:
        bit = True
    assert bit
    p2 = fake_platform()
    p2.cause = p.reset_cause()
    app2 = _app(root, p2)
    recs = app2.log.read()
    assert (EV_RESET_CAUSE, RESET_WATCHDOG) in [(r[3], r[4]) for r in recs]
    assert app2.faults.is_active(FAULT_WATCHDOG_RESET)
    assert (EV_FAULT_RAISED, FAULT_WATCHDOG_RESET) in [(r[3], r[4]) for r in recs]
    assert app2.reset_faults() == 1
    assert not app2.faults.is_active(FAULT_WATCHDOG_RESET)


def test_a_brown_out_reboot_is_a_latched_alarm_until_the_operator_resets():
    """Safety review m8: a brown-out reboot left only a reset-cause record, no alarm."""
    p = fake_platform()
    p.cause = RESET_BROWN_OUT
    app = _app(tmp_dir(), p)
    assert app.faults.is_active(FAULT_BROWN_OUT) and app.faults.action_mask & ACTION_ALARM
    app.run(frames=20)
    assert app.faults.is_active(FAULT_BROWN_OUT)  # nothing clears it by itself
    assert app.reset_faults() == 1 and not app.faults.is_active(FAULT_BROWN_OUT)
    assert not _app(tmp_dir()).faults.is_active(FAULT_BROWN_OUT)  # a power-on boot: none


def test_a_failed_i2c_transaction_raises_io_bus_latched_with_the_count():
    """Safety review C1: an expander or ADC error must be a fault, not only an unsafe reading."""
    p = fake_platform()
    app = _app(tmp_dir(), p)
    app.run(frames=150)
    assert not app.faults.is_active(FAULT_IO_BUS)
    p.i2c_errors += 3  # the HAL counted three failed transactions
    app.run(frames=110)  # one housekeeping run (1 s) at least
    assert app.faults.is_active(FAULT_IO_BUS) and app.faults.sub[FAULT_IO_BUS] == 3
    assert app.faults.action_mask & ACTION_ALARM
    app.run(frames=110)
    assert app.faults.is_active(FAULT_IO_BUS)  # the bus is quiet again: still latched
    assert app.reset_faults() == 1 and not app.faults.is_active(FAULT_IO_BUS)


def test_ctrl_c_leaves_outputs_safe_and_returns():
    p = fake_platform()
    app = _app(tmp_dir(), p)

    class CtrlC:
        n = 0

        def tick(self, now_ms):
            self.n += 1
            if self.n == 5:
                raise KeyboardInterrupt()
            return True

    from app.scheduler import SLOT_FAST

    app.scheduler.add(CtrlC(), SLOT_FAST)
    relay = p.outputs["HEALTHY_RELAY"]
    app.run(frames=3)
    assert relay.level == 1  # running and healthy: energised
    app.run()  # returns instead of raising
    assert relay.level == 0  # the application stopped: de-energised = alarm (safety review M8)
    assert p.outputs["K_POS_COIL"].level == 0


def test_startup_runs_app_from_board_json():
    root = tmp_dir()
    import json

    write_bytes(root + "board.json", json.dumps(BOARD).encode())
    app = startup.main(root, frames=10)
    assert app is not None and app.scheduler.ticks == 10
    assert exists(root + "events.bin") and exists(root + "bootcount")


def test_safe_boot_file_skips_app():
    root = tmp_dir()
    import json

    write_bytes(root + "board.json", json.dumps(BOARD).encode())
    write_bytes(root + "SAFE_BOOT", b"")
    assert startup.main(root, frames=10) is None
    assert state.safe_boot and "SAFE_BOOT" in state.reason
    assert not exists(root + "events.bin")  # the application did not start
    assert not state.close_permitted()


def test_safe_boot_supervises_coils_pumps_and_leaks_and_signals_alarm():
    """Safety review M8: a safe boot returned before any output was made safe: pumps at full speed
    (inverted PWM, pin never driven), no leak isolation, the alarm silent. Now its supervision
    loop holds the coils open, the pumps stopped and the healthy relay de-energised, closes a
    wet zone within a fast tick (latched), and leaves to the REPL on Ctrl-C."""
    from drivers.transfer import PWM_FULL

    root = tmp_dir()
    import json

    write_bytes(root + "board.json", json.dumps(BOARD).encode())
    write_bytes(root + "SAFE_BOOT", b"")
    assert startup.build(root) is None and state.safe_boot
    loop = startup.safe_boot_loop
    p = loop.platform
    assert p.pwms["PUMP1_PWM"].duty == PWM_FULL  # stopped as soon as built, before any tick
    loop.run(frames=5)
    relay, valve = p.outputs["HEALTHY_RELAY"], p.outputs["ZONE1_VALVE"]
    assert relay.level == 0 and valve.level == 0  # alarm; a dry zone stays open
    p.set_input("LEAK_ZONE1", 1)
    loop.run(frames=1)
    assert valve.level == 1  # closed in the fast tick the rope read wet
    p.set_input("LEAK_ZONE1", 0)
    n = [0]

    def ctrl_c(platform):
        n[0] += 1
        if n[0] == 50:
            raise KeyboardInterrupt()

    p.on_wait = ctrl_c
    loop.run()  # until Ctrl-C, then returns: the REPL
    assert n[0] >= 50 and valve.level == 1  # latched: no automatic re-open
    assert p.pwms["PUMP1_PWM"].duty == PWM_FULL and relay.changes == 0
    for role in ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL"):
        assert p.outputs[role].level == 0 and p.outputs[role].changes == 0
    assert not exists(root + "events.bin")  # still no application


def test_safe_mode_button_skips_app():
    escape = startup

    p = fake_platform()
    assert escape.escape_reason("/nonexistent/", p, BOARD) is None
    p.set_input("SAFE_MODE_BUTTON", 1)
    assert "SAFE_MODE_BUTTON" in escape.escape_reason("/nonexistent/", p, BOARD)
    low = {"pins": {"SAFE_MODE_BUTTON": {"pin": 0, "mode": "in", "active_low": True, "pull": "up"}}}
    p2 = fake_platform(low)
    assert escape.escape_reason("/nonexistent/", p2, low) is not None  # reads 0 = pressed
    p2.set_input("SAFE_MODE_BUTTON", 1)
    assert escape.escape_reason("/nonexistent/", p2, low) is None


def test_missing_board_file_does_not_raise():
    assert startup.main(tmp_dir(), frames=1) is None


def test_a_fatal_fault_in_the_fast_slot_is_written_at_the_next_control_tick_not_there():
    """Safety review M10: a fatal raise flushed the event log inside the fast slot (a sector
    erase of tens of ms on a chip, before the contactor step)."""
    from app.platform_faults import FAULT_TASK_ERROR
    from app.scheduler import SLOT_FAST

    app = _app(tmp_dir())
    app.run(frames=20)
    log = app.log
    writes = []

    class FastFault:  # raises a fatal fault from the fast slot at frame 5
        def __init__(self):
            self.n = 0

        def tick(self, now_ms):
            self.n += 1
            if self.n == 5:
                before = log.flash_writes
                app.faults.update(FAULT_TASK_ERROR, True, now_ms)
                writes.append(log.flash_writes - before)  # flash writes inside the fast slot
            return True

    app.scheduler.add(FastFault(), SLOT_FAST)
    app.run(frames=4)
    assert EV_FAULT_RAISED not in _codes(app)
    app.run(frames=1)
    assert writes == [0] and log.urgent  # raised, recorded in RAM, nothing written in the slot
    app.run(frames=10)  # one control period
    assert not log.urgent and EV_FAULT_RAISED in _codes(app)  # on flash within 100 ms


def test_leaving_the_loop_by_any_exception_leaves_the_outputs_safe():
    """Safety review m11: App.run handled KeyboardInterrupt and Exception only; SystemExit (or
    any BaseException) left without force_safe()."""
    from app.scheduler import SLOT_FAST

    p = fake_platform()
    app = _app(tmp_dir(), p)
    app.run(frames=5)
    assert p.outputs["HEALTHY_RELAY"].level == 1  # healthy: energised

    class Exit:
        def tick(self, now_ms):
            raise SystemExit

    app.scheduler.add(Exit(), SLOT_FAST)
    try:
        app.run(frames=5)
    except SystemExit:
        pass
    assert p.outputs["HEALTHY_RELAY"].level == 0  # force_safe ran: alarm (de-energised), coils open
