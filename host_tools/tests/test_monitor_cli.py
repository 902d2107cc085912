"""`gridpod monitor` end to end: `--once --json` against the virtual board, and its one-line errors
(no port, no answer, unknown or foreign register map) from the real CLI in a subprocess. The map
errors come from a small responder on a pty pair this test controls (it answers FC03 with a
chosen identity block)."""

import json
import os
import subprocess
import sys
import threading

import pytest
from gridpod.build.tree import firmware_files
from gridpod.device.config import firmware_config
from gridpod.modbus.register_map import MAGIC, MAP_CRC, MAP_VERSION, REGISTERS
from gridpod.vboard.supervisor import VirtualBoard
from vboard_helpers import make_flash

BOARD_HEAP_KB = 96  # as test_modbus_conformance.py until the 64 KiB boot is fixed


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(data: bytes) -> bytes:
    c = crc16(data)
    return data + bytes((c & 0xFF, c >> 8))


def gridpod(*args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridpod.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("gridpod monitor: error: ")
    return lines[0]


class IdentityResponder:
    """Unit 1 on a pty pair: answers FC03 from `holding` (a list of words), nothing else."""

    def __init__(self, holding: list[int]):
        self.holding = holding
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import select

        buf = b""
        while not self._stop:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                buf = b""  # t3.5 silence
                continue
            try:
                buf += os.read(self.master, 256)
            except OSError:
                return
            if len(buf) >= 8 and crc16(buf[:8]) == 0 and buf[0] == 1 and buf[1] == 3:
                start = int.from_bytes(buf[2:4], "big")
                qty = int.from_bytes(buf[4:6], "big")
                words = (self.holding + [0] * 200)[start : start + qty]
                data = b"".join(w.to_bytes(2, "big") for w in words)
                os.write(self.master, with_crc(bytes((1, 3, len(data))) + data))
                buf = buf[8:]

    def close(self) -> None:
        self._stop = True
        self._thread.join(1)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    cfgmod = firmware_config()
    files = firmware_files()
    files["/config.json"] = cfgmod.encode(cfgmod.defaults())
    flash = make_flash(tmp_path_factory.mktemp("mon") / "f.img", files, with_hal=False)
    with VirtualBoard(flash=flash, speed=1, heap_bytes=BOARD_HEAP_KB * 1024) as vb:
        vb.run_until(0.5)
        yield vb


def test_once_json_has_identity_telemetry_faults_and_timing(board):
    proc = gridpod("monitor", "--port", board.modbus_port, "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    snap = json.loads(lines[0])
    ident = snap["identity"]
    assert ident["magic"] == MAGIC
    assert (ident["map_version"], ident["map_crc"]) == (MAP_VERSION, MAP_CRC)
    assert ident["module_id"] == "GRIDPOD-0000" and ident["modbus_unit"] == 1
    assert snap["telemetry"]["supply_temp_c"] is None  # no driver yet: the n/a sentinel
    assert "flow_lpm" in snap["telemetry"] and "energy_it_kwh" in snap["telemetry"]
    assert snap["faults"]["faults_active"] == 0 and snap["faults"]["faults_active_hi"] == 0
    assert snap["faults"]["active"] == [] and snap["faults"]["latched"] == []
    timing = snap["timing"]
    assert 0 < timing["fast_tick_max_us"] < 10000
    assert timing["uptime_s"] >= 0 and timing["heap_free_bytes"] > 0
    assert snap["modbus"]["modbus_frames_ok"] >= 1
    inputs = {n for n, r in REGISTERS.items() if r.kind == "I"}
    sections = [s for s in snap if s not in ("identity", "states")]
    shown = [n for section in sections for n in snap[section]]
    shown = [n for n in shown if n not in ("active", "latched")]  # fault words decoded to names
    assert sorted(shown) == sorted(inputs)  # every input register, each in one section
    assert snap["states"]["run_mode"] == "normal" and set(snap["states"]) < inputs
    assert snap["status"]["run_mode"] == 0  # the raw number stays for scripts


def test_human_view_once(board):
    proc = gridpod("monitor", "--port", board.modbus_port, "--once")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "module GRIDPOD-0000" in out
    for section in ("telemetry", "faults", "timing"):
        assert f"\n{section}\n" in out
    assert "supply_temp_c" in out and "n/a" in out


def test_once_shows_fault_names_and_state_words(board):
    proc = gridpod("monitor", "--port", board.modbus_port, "--once")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("module GRIDPOD-0000  firmware ")
    assert "mode normal" in lines[0] and "0x" not in lines[0]
    assert lines[1] == "faults active: none" and lines[2] == "faults latched: none"
    value = {line.split()[0]: " ".join(line.split()[1:]) for line in lines if line[:2] == "  "}
    assert value["run_mode"] == "normal" and value["status_flags"] == "none"
    assert value["reset_cause"] == "power-on" and value["modbus_last_error"] == "none"
    assert value["fault_actions"] == "none"
    assert value["contactor_state"] == "n/a"  # battery not enabled on this board: no state


def test_state_words_follow_the_firmware_constants():
    """Words are looked up by the firmware's own constant names, so they follow a renumbering."""
    from gridpod.build.tree import import_firmware
    from gridpod.modbus.states import word

    contactors = import_firmware("control.contactors")
    cooling = import_firmware("control.cooling")
    battery = import_firmware("app.subsystems.battery")
    valves = import_firmware("app.subsystems.cooling")
    points = import_firmware("app.modbus_points")
    assert word("contactor_state", contactors.CLOSED) == "closed"
    assert word("contactor_state", contactors.PRECHARGING) == "precharging"
    assert word("cooling_state", cooling.HEALTH_LOST) == "lost"
    both = battery._POLE_COMMANDED | battery._POLE_AUX_CLOSED
    assert word("k_pos_state", both) == "closed" and word("k_pos_state", 0) == "open"
    assert word("k_neg_state", battery._POLE_AUX_CLOSED) == "aux closed, not commanded"
    shut = valves._VALVE_CLOSE_COMMANDED | valves._VALVE_AT_CLOSED
    assert word("zone1_valve_state", shut) == "closed"
    assert word("zone2_valve_state", valves._VALVE_CLOSE_COMMANDED) == "closing"
    flags = points.FLAG_LEASE_EXPIRED | points.FLAG_CLOSE_REQUEST
    assert word("status_flags", flags) == "lease expired, close requested"
    assert word("run_mode", points._RUN_SAFE_MODE) == "safe mode"
    assert word("flow_lpm", 12) is None and word("run_mode", None) is None


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (200, 60), (40, 12)])
def test_live_view_fits_the_terminal(board, size):
    """The live table of a real read fits the window: no line wider, no more lines than it has
    (the old view printed ~80 lines and scrolled the identity off a 24-line terminal)."""
    import io

    from gridpod.commands.monitor import live_view, snapshot
    from gridpod.modbus.client import GridpodModbus
    from rich.console import Console

    client = GridpodModbus(board.modbus_port)
    try:
        snap = snapshot(client)
    finally:
        client.close()
    snap["faults"]["active"] = ["leak", "pump_failed", "cooling_lost", "sensor", "tick_overrun"]
    width, height = size
    out = io.StringIO()
    Console(file=out, width=width, height=height, color_system=None).print(
        live_view(snap, width, height)
    )
    lines = out.getvalue().rstrip("\n").split("\n")
    assert len(lines) <= height and max(len(line.rstrip()) for line in lines) <= width
    assert lines[0].startswith("module GRIDPOD-0000")
    assert lines[1].startswith("faults active: leak")
    assert "supply_temp_c" not in out.getvalue()  # n/a here: left out, counted in the footer
    assert "not shown" in lines[-1] or "more lines" in lines[-1]
    if width >= 80:
        assert "run_mode" in out.getvalue() and "normal" in out.getvalue()


def test_no_port_is_one_line(tmp_path):
    line = one_line_error(gridpod("monitor", "--port", str(tmp_path / "ttyNOPE"), "--once"))
    assert "cannot open" in line and "ttyNOPE" in line and "gridpod doctor" in line


def test_no_answer_is_one_line(board):
    line = one_line_error(gridpod("monitor", "--port", board.modbus_port, "--unit", "9", "--once"))
    assert "no answer from unit 9" in line and "check wiring, unit, baud" in line


def test_unknown_map_version_is_one_line():
    responder = IdentityResponder([MAGIC, MAP_VERSION + 1, MAP_CRC])
    try:
        line = one_line_error(gridpod("monitor", "--port", responder.path, "--once", "--json"))
    finally:
        responder.close()
    assert f"register map version {MAP_VERSION + 1}" in line and "update gridpod" in line


def test_unknown_map_crc_is_one_line():
    responder = IdentityResponder([MAGIC, MAP_VERSION, MAP_CRC ^ 0x0101])
    try:
        line = one_line_error(gridpod("monitor", "--port", responder.path, "--once"))
    finally:
        responder.close()
    assert f"crc {MAP_CRC ^ 0x0101:#06x} is unknown here" in line


def test_not_a_gridpod_is_one_line():
    responder = IdentityResponder([0x1234, 1, 2])
    try:
        line = one_line_error(gridpod("monitor", "--port", responder.path, "--once"))
    finally:
        responder.close()
    assert "not a Gridpod register map (magic 0x1234)" in line


def test_responder_answers_a_known_map():
    """The responder is a fair stand-in: with the right identity the client gets past it."""
    from gridpod.modbus.client import GridpodModbus

    words = [0] * 24
    words[:3] = [MAGIC, MAP_VERSION, MAP_CRC]
    responder = IdentityResponder(words)
    try:
        client = GridpodModbus(responder.path)
        assert client.identity["map_version"] == MAP_VERSION
        client.close()
    finally:
        responder.close()
