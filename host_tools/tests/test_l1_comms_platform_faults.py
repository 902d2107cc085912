"""L1, the comms and platform rows of the DOMAIN.md fault catalogue that the Modbus conformance,
fuzz and power tests do not already cover, on the virtual module with the monitors on:

  two masters writing      two pyserial masters on the one RS-485 pty, interleaved writes and
                           collisions: every applied value is one a master wrote, out-of-range
                           writes never apply, the safety limits never move, no reset
  tick overrun             a task burns 25 ms of CPU in the fast slot with the battery closed:
                           TICK_OVERRUN raised, the first coil off within one fast tick, no re-close
  corrupted config         the full module with a corrupt /config.json: maintenance mode, an
                           operator close request never energises a coil; and maintenance mode
                           alone (the battery composed, no fault demanding open contactors)
                           refusing a close
  watchdog reset repeats   a main that stops feeding: after bad_boot_limit (10) bad boots the
                           boot-loop guard holds safe mode, the cause is logged each boot

The others: master silent past the lease (test_modbus_conformance.py lease test and
test_grid_scenario.py), noise / bad CRC / split frames / malformed requests (conformance + fuzz),
power loss during a write (test_vboard_power.py, test_firmware_on_vboard.py).
"""

import threading
import time

import serial
from gridpod.build.tree import firmware_files, import_firmware
from gridpod.device.config import firmware_config
from gridpod.device.eventlog import read_events
from gridpod.hil.monitors import MonitoredPlant
from gridpod.hil.operator import OPERATOR_MAIN, module_board, module_flash
from gridpod.plant import Plant
from gridpod.vboard.flash import FlashImage
from gridpod.vboard.supervisor import VirtualBoard
from test_control_closed_loop import HEAP_BYTES, _board, _faults, _first, _healthy
from test_firmware_on_vboard import STUCK_MAIN  # a task that stops checking in after 3 s
from vboard_helpers import make_flash
from vboard_helpers import modbus_frame as frame

TICK_OVERRUN = import_firmware("app.platform_faults").FAULT_TICK_OVERRUN
TASK_ERROR = import_firmware("app.platform_faults").FAULT_TASK_ERROR
COILS = ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL")
PIN = "1357"


def _read_holding(port, addr, n=1):
    port.reset_input_buffer()
    port.write(frame(1, 3, addr >> 8, addr & 0xFF, 0, n))
    deadline = time.monotonic() + 0.5
    out = b""
    while time.monotonic() < deadline and len(out) < 5 + 2 * n:
        out += port.read(port.in_waiting or 1)
    assert len(out) == 5 + 2 * n, out.hex()
    return [int.from_bytes(out[3 + 2 * i : 5 + 2 * i], "big") for i in range(n)]


def test_two_masters_writing_collide_safely(tmp_path):
    cfgmod = firmware_config()
    from app.access import hash_pin

    values = cfgmod.defaults()
    values["pin_operator"] = hash_pin(PIN)
    files = firmware_files()
    files["/config.json"] = cfgmod.encode(values)
    flash = make_flash(tmp_path / "f.img", files, with_hal=False)
    with VirtualBoard(flash=flash, speed=1, heap_bytes=96 * 1024) as vb:
        vb.run_until(0.5)
        a = serial.Serial(vb.modbus_port, 19200, timeout=0.05)
        b = serial.Serial(vb.modbus_port, 19200, timeout=0.05)
        try:
            limits_before = _read_holding(a, 300, 8)
            a.write(frame(1, 16, 0, 201, 0, 4, 8, *PIN.encode(), 0, 0, 0, 0))
            time.sleep(0.1)

            def master(port, value, out_of_range):
                for k in range(25):
                    v = out_of_range if k % 5 == 4 else value
                    port.write(frame(1, 6, 0, 100, v >> 8, v & 0xFF))  # flow_setpoint_lpm
                    try:
                        port.read(64)  # whatever comes back: ours, the other's, or a collision
                    except serial.SerialException:
                        pass  # the other master took the bytes this one was woken for

            ta = threading.Thread(target=master, args=(a, 200, 1001))
            tb = threading.Thread(target=master, args=(b, 300, 2000))
            ta.start()
            tb.start()
            ta.join()
            tb.join()
            time.sleep(0.1)
            b.close()
            applied = _read_holding(a, 100)[0]
            assert applied in (200, 300), applied  # one master's value, never an out-of-range one
            assert _read_holding(a, 300, 8) == limits_before  # safety limits untouched
            assert vb.resets == 0
        finally:
            a.close()
            b.close()


HOG = """
class Hog:
    # burns 25 ms of the VM's CPU time (not wall time: a loaded host would stretch that while
    # giving the VM less CPU, which the scheduler rightly does not count as an overrun)
    def __init__(self):
        self.done = False

    def tick(self, now_ms):
        if not self.done and now_ms >= 30000:
            self.done = True
            cpu = app.platform.cpu_us
            c0 = cpu()
            while cpu() - c0 < 25000:
                pass
        return True


from app.scheduler import SLOT_FAST
app.scheduler.add(Hog(), SLOT_FAST)
app.run()
"""


def test_tick_overrun_opens_the_contactors_within_a_tick_and_latches(tmp_path):
    flash = module_flash(tmp_path, main=False)
    img = FlashImage(flash)
    main = OPERATOR_MAIN.replace("app.run()", HOG) % ((15000,), ())
    img.write("/main.py", main.encode())
    img.save()
    vb, plant = _board(flash)
    with vb:
        vb.run_until(45)
        _healthy(vb, plant)  # monitors on: no re-close after the trip
    assert _first(plant, "K_POS_COIL", 1) is not None  # the battery was closed before the hog
    raised = [e["uptime_ms"] for fid, e in _faults(flash) if fid == TICK_OVERRUN]
    assert raised and 30000 <= raised[0] <= 30100, raised
    on = [c for c in COILS if [v for t, v in plant.edges[c] if t < raised[0]][-1] == 1]
    assert on == ["K_NEG_COIL", "K_POS_COIL"], plant.edges  # the mains were closed
    offs = [_first(plant, c, 0, after_ms=raised[0] - 10) for c in on]
    assert all(t is not None for t in offs), plant.edges
    assert min(offs) - raised[0] <= 10, (offs, raised)  # first coil off within one fast tick
    assert max(offs) - min(offs) == 100  # then the other pole after the 100 ms pole gap
    assert all(plant.outputs.get(c) == 0 for c in COILS)
    assert plant.edges["HEALTHY_RELAY"][-1][1] == 0  # de-energised: alarm
    _assert_fault_lamp(plant, raised[0], min(offs))


def _assert_fault_lamp(plant, raised_ms, first_coil_off_ms):
    """FAULT_LAMP (the firmware's fatal state, what the fatal_coil_off monitor reads) lights
    within one fast tick of the fault, no later than a fast tick after the first coil went off,
    and stays lit (latched)."""
    lamp = _first(plant, "FAULT_LAMP", 1)
    assert lamp is not None and 0 <= lamp - raised_ms <= 10, (raised_ms, plant.edges)
    assert lamp - first_coil_off_ms <= 10, (lamp, first_coil_off_ms)
    assert plant.edges["FAULT_LAMP"][-1] == (lamp, 1), plant.edges["FAULT_LAMP"]


BREAK_CURRENT_SENSE = """
class Breaker:
    # at 25 s the pack current driver starts raising inside the sequencer's fast step (a driver
    # bug, a dead ADC library): the contactor state machine no longer runs
    def __init__(self):
        self.done = False

    def tick(self, now_ms):
        if not self.done and now_ms >= 25000:
            self.done = True

            def broken():
                raise OSError(5)

            app.module.battery.i_pack.i_da = broken
        return True


from app.scheduler import SLOT_CONTROL
app.scheduler.add(Breaker(), SLOT_CONTROL)
app.run()
"""


def test_a_raising_sequencer_has_its_coils_opened_within_a_tick(tmp_path):
    """Safety review M1: a fast task that raises used to leave the coils energised until the
    watchdog bit (2.04 s measured); SafeOutputs now opens them within one fast tick."""
    flash = module_flash(tmp_path, main=False)
    img = FlashImage(flash)
    main = OPERATOR_MAIN.replace("app.run()", BREAK_CURRENT_SENSE) % ((15000,), ())
    img.write("/main.py", main.encode())
    img.save()
    # the board freezes at 26.5 s: the starved watchdog (2 s after 25 s) must not race the end
    # of the run (with run_until(27) it bit in about half the runs, failing resets == 0)
    plant = MonitoredPlant(Plant(seed=1, profile="training"))
    vb = module_board(flash, plant, HEAP_BYTES, run_for_s=26.5)
    with vb:
        vb.run_until(26.5)
        log = bytes(vb.console_log)
    assert plant.violation is None, plant.violation
    raised = [e["uptime_ms"] for fid, e in _faults(flash) if fid == TASK_ERROR]
    assert raised and 25000 <= raised[0] <= 25110, (raised, log[-600:])
    on = [c for c in COILS if [v for t, v in plant.edges[c] if t < raised[0]][-1] == 1]
    assert on == ["K_NEG_COIL", "K_POS_COIL"], plant.edges  # the mains were closed
    offs = [_first(plant, c, 0, after_ms=raised[0] - 10) for c in on]
    assert all(t is not None for t in offs), plant.edges
    assert max(offs) - raised[0] <= 10, (offs, raised)  # every coil off within one fast tick
    assert vb.resets == 0  # not the watchdog's doing
    _assert_fault_lamp(plant, raised[0], min(offs))


def test_corrupted_config_full_module_never_closes(tmp_path):
    """Maintenance mode: an operator close request never energises a coil. Safety review M8: the
    maintenance defaults compose no cooling, so the pumps ran at full speed (inverted PWM, pins
    never driven) and a wet rope closed nothing; now app/supervisor.py holds the pumps stopped and
    closes the wet zone (the leak_isolation monitor watches it too), and the healthy relay is
    never energised."""
    flash = module_flash(tmp_path, close_at_ms=(15000, 25000))
    img = FlashImage(flash)
    img.write("/config.json", b'{"config": {"module_id": "X", "battery_enabled": true')
    img.save()
    vb, plant = _board(flash)
    plant.faults.schedule("leak", at_s=20.0, zone=1)
    with vb:
        vb.run_until(35)
        log = _healthy(vb, plant)
    assert b"MAINTENANCE MODE" in log
    assert b"OP close request at 15" in log  # the operator really asked, twice
    for coil in COILS:
        assert _first(plant, coil, 1) is None, plant.edges.get(coil)
    _assert_supervised_without_the_application(plant, leak_zone=1, leak_ms=20000)


def _assert_supervised_without_the_application(plant, leak_zone, leak_ms):
    """Safety review M8, what a reviewer wants when no application runs: the healthy relay
    de-energised (alarm) from the first exchange on, the pumps stopped (inverted PWM: 65535) from
    the first exchange on and not turning, the wet zone closed within one fast tick, latched, the
    dry one open."""
    assert [v for _, v in plant.edges["HEALTHY_RELAY"]] == [0], plant.edges["HEALTHY_RELAY"]
    for k in (1, 2):
        assert [d for _, d in plant.edges[f"PUMP{k}_PWM"]] == [65535], plant.edges[f"PUMP{k}_PWM"]
        assert plant.coolant.pumps[k - 1].speed_frac < 0.01
    wet, dry = f"ZONE{leak_zone}_VALVE", f"ZONE{3 - leak_zone}_VALVE"
    closed = _first(plant, wet, 1)
    assert closed is not None and leak_ms <= closed <= leak_ms + 10, plant.edges[wet]
    assert plant.edges[wet][-1][1] == 1
    assert _first(plant, dry, 1) is None, plant.edges[dry]


def test_safe_boot_stops_the_pumps_isolates_a_wet_zone_and_signals_alarm(tmp_path):
    """Safety review M8: a safe boot (/SAFE_BOOT, perhaps left behind after maintenance, or the
    button held) returned before any output was made safe: pumps at full speed, zone valves open
    with no leak isolation, the alarm silent. Now its supervision loop (app/supervisor.py SafeBoot)
    runs instead of the application until Ctrl-C."""
    flash = module_flash(tmp_path, main=False)  # the stock main.py
    img = FlashImage(flash)
    img.write("/SAFE_BOOT", b"")
    img.save()
    vb, plant = _board(flash)
    plant.faults.schedule("leak", at_s=1.0, zone=2)
    with vb:
        vb.run_until(2)
        log = _healthy(vb, plant)
    assert b"SAFE BOOT" in log and b"safe-boot supervision" in log, log[-600:]
    assert b"MAINTENANCE" not in log and not FlashImage(flash).exists("/events.bin")  # no app
    for coil in COILS:
        assert [v for _, v in plant.edges[coil]] == [0], plant.edges[coil]
    _assert_supervised_without_the_application(plant, leak_zone=2, leak_ms=1000)


def test_the_healthy_relay_is_energised_while_healthy_and_drops_when_the_app_stops(tmp_path):
    """Safety review M8: the alarm relay was energised = alarm, so a stopped, dead or hung
    application raised none. The healthy relay is energised while the full module runs healthy
    and de-energised when the application stops (Ctrl-C here, as a deploy does; a dead or
    resetting board releases its pin the same way)."""
    flash = module_flash(tmp_path, main=False)  # the stock main.py
    vb, plant = _board(flash)
    with vb:
        vb.run_until(3)
        healthy = _first(plant, "HEALTHY_RELAY", 1)
        assert healthy is not None and healthy <= 100, plant.edges["HEALTHY_RELAY"]
        assert _first(plant, "HEALTHY_RELAY", 0, after_ms=healthy) is None
        console = serial.Serial(vb.console_port, 115200, timeout=0.1)
        try:
            console.write(b"\x03")
            vb.wait_console(b"stopped (Ctrl-C)", timeout_s=10)
        finally:
            console.close()
        log = _healthy(vb, plant)
    assert b"Traceback" not in log
    assert plant.outputs["HEALTHY_RELAY"] == 0, plant.edges["HEALTHY_RELAY"]  # alarm
    assert all(plant.outputs.get(c) == 0 for c in COILS)


def test_battery_without_coolant_proof_is_refused_and_never_closes(tmp_path):
    """Safety review M4: has_cooling 0 with battery_enabled passed validation, and the battery
    closed on request with no coolant proof at all. Now the config is refused: maintenance mode,
    the close request is ignored."""
    flash = module_flash(tmp_path, close_at_ms=(15000,), has_cooling=False, cooling_enabled=False)
    vb, plant = _board(flash)
    with vb:
        vb.run_until(20)
        log = _healthy(vb, plant)
    assert b"MAINTENANCE MODE" in log and b"has_cooling: 0 with battery_enabled" in log, log[-800:]
    assert b"OP close request at 15" in log  # the operator really asked
    for coil in COILS:
        assert _first(plant, coil, 1) is None, plant.edges.get(coil)


CYCLIC_MASTER = """
import gc
from app import startup
from app.scheduler import SLOT_CONTROL
app = startup.build('/')
points = app.points
bank = points.bank
rows = bank.find(('contactor_close_request', 'fault_reset'))
points._set_level(1)  # the operator level, as after a PIN (its unlock slides with each write)
points.unlock_until_ms = 300000
gc.collect()


class CyclicMaster:
    # a SCADA that rewrites its coil image (close = 1, reset = 1) every control tick, through the
    # same hook an FC05/FC15 write runs (ModbusPoints.check_bit, then written)
    def tick(self, now_ms):
        if now_ms >= 15000:
            for r in rows:
                if points.check_bit(r, 1, now_ms) == 0:
                    bank.set(r, 1)
                    points.written(r, now_ms)
        return True


app.scheduler.add(CyclicMaster(), SLOT_CONTROL)
app.run()
"""


def test_a_cyclic_master_writing_reset_and_close_does_not_reclose_after_trips(tmp_path):
    """Safety review M6: a master writing reset + close every cycle re-closed after every trip
    (15 re-closes in 60 s while the interlock loop opened for 0.3 s every 4 s). A rewritten 1 is
    no new request, so the battery closes once and stays open after the first trip."""
    flash = module_flash(tmp_path, main=False)
    img = FlashImage(flash)
    img.write("/main.py", CYCLIC_MASTER.encode())
    img.save()
    vb, plant = _board(flash)
    for k in range(10):  # the loop opens for 0.3 s every 4 s from 25 s on
        at = 25.0 + 4 * k
        plant.faults.schedule("interlock_open", at_s=at, clear_at_s=at + 0.3)
    with vb:
        vb.run_until(65)
        _healthy(vb, plant)  # monitors on: contactor_after_trip flags a re-close
    closes = [t for t, v in plant.edges["K_POS_COIL"] if v == 1]
    assert len(closes) == 1 and closes[0] < 25000, closes  # closed once, before the first trip
    assert plant.outputs.get("K_POS_COIL") == 0 and plant.outputs.get("K_NEG_COIL") == 0


BRUTE_FORCE = """
import gc
from app import startup
from comms.register_bank import REASON_LOCKOUT
from app.scheduler import SLOT_CONTROL
app = startup.build('/')
points = app.points
pin_row = points.bank.find(('access_pin',))[0]
gc.collect()


class Guesser:
    # tries the next 4-digit PIN through the access_pin hook every control tick (10 per second,
    # faster than the bus carries them) and counts the guesses the firmware really checked
    def __init__(self):
        self.n = 0
        self.checked = 0
        self.buf = bytearray(8)

    def tick(self, now_ms):
        self.buf[0:4] = b'%04d' % (self.n % 10000)
        self.n += 1
        if points.check_write(pin_row, self.buf, 0, now_ms) != REASON_LOCKOUT:  # else unchecked
            self.checked += 1
        if now_ms >= 1200000 and self.n > 0:
            print('GUESSES', self.n, 'CHECKED', self.checked)
            self.n = -10**9
        return True


app.scheduler.add(Guesser(), SLOT_CONTROL)
app.run()
"""


def test_a_pin_brute_force_slows_down_exponentially_and_is_logged(tmp_path):
    """Safety review M7: 3 PINs checked per 30 s sustained (7.7 per minute, a 4-digit PIN in
    under 22 h) and no failure logged. Over 20 simulated minutes of guessing 10 PINs a second,
    the firmware now checks 8 (30 s lockout doubling per failure, 15 min cap) and logs each."""
    flash = module_flash(tmp_path, main=False, pin_operator=_hash("2468"))
    img = FlashImage(flash)
    img.write("/main.py", BRUTE_FORCE.encode())
    img.save()
    vb, plant = _board(flash)
    with vb:
        vb.wait_console(b"CHECKED", timeout_s=120)
        log = bytes(vb.console_log)
        vb.power_off()
    line = log[log.index(b"GUESSES") :].split(b"\n")[0].split()
    guesses, checked = int(line[1]), int(line[3])
    assert guesses >= 11000, line  # the guesser really kept trying
    assert checked == 8, line
    events = read_events(FlashImage(flash).read("/events.bin"))
    assert len([e for e in events if e["event"] == "pin_failed"]) == checked


FATAL_IN_FAST = """
from app import startup
from app.platform_faults import FAULT_TASK_ERROR
from app.scheduler import SLOT_FAST
app = startup.build('/')
log = app.log


class FastFault:
    # a fatal fault raised from the fast slot at 20 s: flash writes counted across the call
    def __init__(self):
        self.done = False

    def tick(self, now_ms):
        if not self.done and now_ms >= 20000:
            self.done = True
            before = log.flash_writes
            app.faults.update(FAULT_TASK_ERROR, True, now_ms)
            print('FAST_SLOT_FLASH_WRITES', log.flash_writes - before, 'AT', now_ms)
        return True


app.scheduler.add(FastFault(), SLOT_FAST)
app.run()
"""


def test_a_fatal_fault_in_the_fast_slot_reaches_flash_outside_it(tmp_path):
    """Safety review M10: a fatal raise wrote the event log to flash inside the 10 ms fast slot
    (a sector erase is tens of ms on a chip). Now the fast slot writes nothing; the record is on
    the littlefs flash within one control period."""
    flash = module_flash(tmp_path, main=False)
    img = FlashImage(flash)
    img.write("/main.py", FATAL_IN_FAST.encode())
    img.save()
    vb, plant = _board(flash)
    with vb:
        vb.wait_console(b"FAST_SLOT_FLASH_WRITES", timeout_s=60)
        vb.run_until(20.2)
        log = bytes(vb.console_log)
        vb.power_off()  # cut: only what reached the flash counts
    line = log[log.index(b"FAST_SLOT_FLASH_WRITES") :].split(b"\n")[0].split()
    assert line[1] == b"0", line
    raised = [e["uptime_ms"] for fid, e in _faults(flash) if fid == TASK_ERROR]
    assert raised == [int(line[3])], (raised, line)


def _hash(pin):
    return import_firmware("app.access").hash_pin(pin)


def test_repeated_watchdog_resets_enter_safe_mode(tmp_path):
    files = firmware_files("VIRTUAL")
    files["/main.py"] = STUCK_MAIN.encode()
    flash = make_flash(tmp_path / "f.img", files, with_hal=False)
    with VirtualBoard(flash=flash, speed="max", heap_bytes=HEAP_BYTES) as vb:
        vb.wait_console(b"SAFE MODE", timeout_s=120)
        resets = vb.resets
        vb.power_off()
    events = read_events(FlashImage(flash).read("/events.bin"))
    causes = [e["arg1"] for e in events if e["event"] == "reset_cause"]
    assert causes[0] == 1 and causes[1:11] == [3] * 10, causes  # power-on, then 10 watchdog resets
    assert resets >= 10
    boots = [e for e in events if e["event"] == "boot"]
    assert boots[-1]["arg2"] & 2, boots[-1]  # the last boot ran in safe mode


MAINTENANCE_ALONE = """
from app import state
# maintenance mode entered by the mode alone: the config was valid (the battery is composed) and
# no fault row demands open contactors, so app/state.py's mode check is the only barrier left
state.maintenance = True
state.add_reason("test: maintenance mode with the full module composed")
app.run()
"""


def test_maintenance_mode_alone_refuses_a_close_of_the_composed_battery(tmp_path):
    """Safety review m12: a corrupt config falls back to the defaults, which compose no battery,
    and raises CONFIG_INVALID (open contactors): the test above could not fail with maintenance
    mode removed from close_permitted(). Here the full module runs in maintenance mode with no
    fault active: requests once coolant flow is proven (15 s, 25 s) must still energise no coil,
    and the alarm relay says the controller is not in normal service."""
    flash = module_flash(tmp_path, main=False)
    img = FlashImage(flash)
    main = OPERATOR_MAIN.replace("app.run()", MAINTENANCE_ALONE) % ((15000, 25000), ())
    img.write("/main.py", main.encode())
    img.save()
    vb, plant = _board(flash)
    with vb:
        vb.run_until(27)
        log = _healthy(vb, plant)
    assert log.count(b"OP close request at") == 2, log[-600:]  # the operator really asked, twice
    assert plant.coolant.flow_lpm >= 90.0  # cooling ran: flow proven, only the mode refuses
    fatal = [(f, e) for f, e in _faults(flash) if e["severity"] == "fatal"]
    assert not fatal, fatal  # no fault row did the refusing
    for coil in COILS:
        assert _first(plant, coil, 1) is None, plant.edges.get(coil)
    assert plant.edges["HEALTHY_RELAY"][-1][1] == 0  # not normal service: de-energised, alarm
