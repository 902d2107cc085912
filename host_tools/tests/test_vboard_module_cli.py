"""The whole virtual module from a shell (issue 14 part 4): `gridpod vboard` runs the plant model
with the full-module config, takes faults at a simulated time (--fault) or from another process
while it runs (`gridpod vboard-fault`, the control socket), records the plant (--trace) and
prints invariant violations (--monitors). Every board is the real CLI in a subprocess; times
are simulated (the trace's t_s), never wall-clock measurements.
"""

import csv
import json
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gridpod.device.config import firmware_config
from gridpod.vboard.control import request
from gridpod.vboard.scenario import FaultSpecError, fault_spec
from vboard_helpers import REPO, make_flash

GRIDPOD = [sys.executable, "-m", "gridpod.cli"]
LEAK_CLOSE_S = 0.2  # DOMAIN.md: a zone's valve commanded closed within 200 ms of its leak input


def gridpod(*args, timeout_s=60.0):
    return subprocess.run([*GRIDPOD, *args], capture_output=True, text=True, timeout=timeout_s)


def read_trace(path: Path) -> list[dict]:
    rows = list(csv.DictReader(open(path, newline="")))
    for row in rows:
        for key, value in row.items():
            if key != "faults":
                row[key] = float(value)
    return rows


def first(rows, column, value, after_s=0.0):
    return next((r["t_s"] for r in rows if r["t_s"] >= after_s and r[column] == value), None)


def full_module_config(path: Path) -> Path:
    """A values file as `gridpod config pull` writes it, with the three subsystems enabled."""
    values = dict(
        firmware_config().defaults(), cooling_enabled=True, battery_enabled=True, grid_enabled=True
    )
    path.write_text(json.dumps(values, indent=2))
    return path


class RunningBoard:
    """`gridpod vboard ...` in the background; its JSON banner; stopped with SIGTERM."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [*GRIDPOD, "vboard", "--quiet", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()
        self.banner = json.loads(line)

    def status(self) -> dict:
        reply = request(self.banner["control"], "status")
        assert reply["ok"], reply
        return reply

    def wait_sim(self, t_s: float, timeout_s: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while (status := self.status())["t_s"] < t_s:
            assert time.monotonic() < deadline, f"simulated clock at {status['t_s']} s"
            time.sleep(0.05)
        return status

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        _out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


@pytest.fixture
def board_args(tmp_path):
    return ["--flash", str(tmp_path / "f.img"), "--install-firmware", "--romfs"]


def test_leak_fault_at_60s_isolates_zone1_in_the_trace(tmp_path, board_args):
    trace = tmp_path / "trace.csv"
    config = full_module_config(tmp_path / "module.json")
    out = gridpod(
        "vboard", "--quiet", *board_args, "--config", str(config), "--speed", "max",
        "--run-for", "61.5", "--fault", "leak:zone=1@60", "--trace", str(trace), "--monitors",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "t = 60.000 s: fault leak:zone=1 injected" in out.stderr
    assert "invariant" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    rows = read_trace(trace)
    assert rows[-1]["t_s"] == 61.5
    before = [r for r in rows if r["t_s"] < 60.0]
    assert before and all(r["leak_zone1"] == 0 and r["zone1_close_cmd"] == 0 for r in before)
    assert first(rows, "leak_zone1", 1) == 60.0
    closed = first(rows, "zone1_close_cmd", 1)
    assert closed is not None and 60.0 <= closed <= 60.0 + LEAK_CLOSE_S, closed
    assert all(r["zone2_close_cmd"] == 0 and r["zone2_valve_pct"] == 100 for r in rows)
    end = rows[-1]
    assert end["zone1_valve_pct"] < 100 and end["faults"] == "leak:zone=1"
    assert end["flow_lpm"] > 50 and end["healthy_relay"] == 0  # zone 2 still cooled; alarm on


def test_fault_injected_from_another_process_is_in_the_trace(tmp_path, board_args):
    trace = tmp_path / "trace.csv"
    board = RunningBoard(*board_args, "--full-module", "--speed", "max", "--trace", str(trace))
    try:
        board.wait_sim(10.0)  # booted, pumps running
        ctl = ["vboard-fault", "--control", board.banner["control"], "--json"]
        injected = gridpod(*ctl, "inject", "leak:zone=2", timeout_s=30)
        assert injected.returncode == 0, injected.stderr
        at_s = json.loads(injected.stdout)["at_s"]
        assert board.wait_sim(at_s + 1.0)["faults"] == ["leak:zone=2"]
        cleared = gridpod(*ctl, "clear", "leak", timeout_s=30)
        assert cleared.returncode == 0, cleared.stderr
        cleared_s = json.loads(cleared.stdout)["t_s"]
        assert board.wait_sim(cleared_s + 1.0)["faults"] == []
    finally:
        code, err = board.stop()
    assert code == 0, err
    assert f"t = {at_s:.3f} s: fault leak:zone=2 injected" in err
    rows = read_trace(trace)
    assert all(r["leak_zone2"] == 0 and r["zone2_close_cmd"] == 0 for r in rows if r["t_s"] < at_s)
    assert first(rows, "leak_zone2", 1) == at_s
    closed = first(rows, "zone2_close_cmd", 1)
    assert closed is not None and at_s <= closed <= at_s + LEAK_CLOSE_S, (at_s, closed)
    after_clear = [r for r in rows if r["t_s"] >= cleared_s]
    assert after_clear and all(r["leak_zone2"] == 0 and r["faults"] == "" for r in after_clear)
    assert all(r["zone2_close_cmd"] == 1 for r in after_clear)  # isolation stays latched
    assert all(r["zone1_close_cmd"] == 0 for r in rows)


def make_vboard_command(tmp_path: Path) -> list[str]:
    """`make vboard`'s own command line (make -n), its build/ paths moved under tmp_path."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(
        ["make", "-s", "-n", "-C", str(REPO), "vboard", "STAMP=", "VENV=/VENV"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.replace("\\\n", " ").splitlines() if " vboard " in x)
    words = shlex.split(line)
    assert words[:2] == ["/VENV/bin/gridpod", "vboard"], words
    return [w.replace("build/", f"{tmp_path}/") for w in words[2:]]


def test_make_vboard_runs_a_healthy_full_module(tmp_path):
    """What `make vboard` starts: firmware installed, every subsystem on, the plant model under
    the training load. `gridpod monitor` on its Modbus port reads coolant flow and no fault
    (the stub plant showed 0 L/min and four faults: pump failed, cooling lost, filter, sensor)."""
    args = make_vboard_command(tmp_path)
    assert {"--install-firmware", "--romfs", "--full-module", "--monitors"} <= set(args)
    board = RunningBoard(*args, "--speed", "10")  # the last --speed wins
    try:
        assert board.banner["plant"] == "model" and board.banner["profile"] == "training"
        assert board.banner["control"] == f"{tmp_path}/vboard.ctl"
        board.wait_sim(20.0)
        mon = gridpod("monitor", "--port", board.banner["modbus"], "--once", "--json")
        assert mon.returncode == 0, mon.stderr
        snap = json.loads(mon.stdout)
        status = board.status()
    finally:
        code, err = board.stop()
    assert code == 0, err
    assert snap["faults"]["faults_active"] == 0 and snap["faults"]["faults_latched"] == 0
    telemetry = snap["telemetry"]
    assert telemetry["flow_lpm"] > 50 and telemetry["pump1_tach_rpm"] > 0
    assert 60 < telemetry["it_load_kw"] < 80  # training: 90 % of the 80 kW rating
    assert status["violations"] == [] and "invariant" not in err, err
    rows = read_trace(tmp_path / "vboard-trace.csv")
    assert rows[-1]["flow_lpm"] > 50 and all(r["faults"] == "" for r in rows)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("lek@60", "unknown fault 'lek' (did you mean leak?)"),
        ("leak:zone=3@60", "zone must be 1 or 2, not 3"),
        ("leak:zon=1@60", "unknown parameter 'zon'; leak takes zone=1, lpm=2.0"),
        ("leak:zone@60", "parameter 'zone' is not key=value"),
        ("leak:zone=1,zone=2", "parameter 'zone' given twice"),
        ("leak:zone=1@soon", "time 'soon' is not a number of simulated seconds"),
        ("leak:zone=1@-5", "no time after @"),
        ("leak:zone=1@60-50", "clear time 50 s is not after 60 s"),
        ("ntc_open@5", "needs role=...; ntc_open takes role"),
        ("ntc_open:role=T_NOWHERE", "'T_NOWHERE' is not an analog sensor role"),
        ("low_flow:factor=lots", "factor=lots must be a number"),
        ("modbus_noise@5", "RS-485 link fault"),
        ("watchdog_reset@5", "needs a bench hook"),
    ],
)
def test_bad_fault_specs_are_refused_with_one_line(spec, words):
    """The check both commands run before anything starts (in-process: no board needed)."""
    with pytest.raises(FaultSpecError) as info:
        fault_spec(spec)
    text = str(info.value)
    assert words in text and "\n" not in text, text


def test_bad_options_are_one_line_errors_before_anything_starts(tmp_path):
    bad_config = tmp_path / "bad.json"
    bad_config.write_text(json.dumps({"cooling_enabled": 7}))
    flash = tmp_path / "f.img"
    for args, words in (
        (["--fault", "leak:zone=1@10", "--fault", "lek@60"], "unknown fault 'lek'"),
        (["--config", str(bad_config)], "error(s), nothing written"),
        (["--plant", "stub", "--fault", "leak@1"], "--fault needs the plant model"),
    ):
        out = gridpod("vboard", "--flash", str(flash), *args)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 1 and len(lines) == 1, out.stderr
        assert lines[0].startswith("gridpod vboard: error: ") and words in lines[0], lines[0]
        assert not flash.exists()  # refused before a board was made
    out = gridpod("vboard-fault", "--control", str(tmp_path / "nowhere"), "status")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1, out.stderr
    assert lines[0].startswith("gridpod vboard-fault: error: no control socket"), lines[0]
    listed = gridpod("vboard-fault", "--list")
    assert listed.returncode == 0
    assert any(
        line.split()[0] == "leak" and "zone=1" in line for line in listed.stdout.splitlines()
    )


# Drives the main contactor's coil on at t = 1 s with no precharge and no coolant flow.
CLOSE_UNSAFELY_MAIN = """
import json
from hal import virtual
p = virtual.open_platform(json.load(open('/board.json')))
k_pos = p.digital_out('K_POS_COIL')
t = p.ticks_ms()
while True:
    t = t + 10
    p.wait_until_ms(t)
    if t >= 1000:
        k_pos.value(1)
"""


def test_monitors_print_each_violation_on_one_line_and_exit_3(tmp_path):
    flash = make_flash(tmp_path / "f.img", {"/main.py": CLOSE_UNSAFELY_MAIN})
    out = gridpod(
        "vboard", "--quiet", "--flash", str(flash), "--speed", "max", "--run-for", "2",
        "--monitors",
    )  # fmt: skip
    assert out.returncode == 3, out.stderr
    lines = [x for x in out.stderr.splitlines() if "invariant" in x]
    names = sorted(x.split()[3] for x in lines)
    assert names == ["close_without_flow", "contactor_precharge"], out.stderr
    assert all(x.startswith("gridpod vboard: invariant ") and "at t = 1.0" in x for x in lines)
