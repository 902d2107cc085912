"""L1: a technician's read-only tools against a live module never disturb it (issue 13).

The full module (cooling, battery, grid composed; the real plant, training profile; the invariant
monitors on) runs the stock boot plus an operator task that requests the contactors closed at
15 s; it was deployed the way `gridpod deploy` lays it out (littlefs .mpy files and the manifest),
so the deploy below has nothing to send. Once the battery is closed the real CLI is pointed at its
console, one command after another: doctor, monitor --once, config pull, config diff, a config
push that is declined, a no-op deploy, the event log read. Then: the contactors never opened, no fault was raised,
the heartbeat never paused, the application never restarted, and the monitors saw nothing.
The board runs in lockstep (--speed max) throughout: every wall second of the tools is many
simulated seconds of the module, all of it watched (tens of simulated seconds here); the same
reads at --speed 1 are in test_vboard_maintenance.py and `make bench` (gridpod.perf.deploy).
"""

import io
import json
import shutil

from gridpod.cli import main
from gridpod.device import doctor
from gridpod.device.deploy import build
from gridpod.device.eventlog import read_device_events, read_events
from gridpod.hil.monitors import MonitoredPlant
from gridpod.hil.operator import OPERATOR_MAIN, module_config
from gridpod.plant import Plant
from gridpod.vboard.flash import FlashImage
from gridpod.vboard.supervisor import VirtualBoard
from vboard_helpers import REPO, make_flash

# Above the VIRTUAL budget (110000): the littlefs layout that deploy writes plus the operator's
# own module does not fit it (the budget is test_module_heap.py's business; this is about reads)
HEAP_BYTES = 128 * 1024
CLOSE_AT_MS = 15000
CLOSED_S = 21.0  # precharge and both mains done (test_control_closed_loop: 2-4 s after K_PRE)
HEARTBEAT_GAP_MS = 600  # the STATUS_LED toggles every 500 ms on the 100 ms control grid
ARCH = "x64"  # what the VM reports: the arch gridpod deploy builds for


def operator_firmware(tmp_path):
    """firmware/ (tests excluded) whose main.py runs the stock boot plus the operator task."""
    fw = tmp_path / "firmware"
    shutil.copytree(REPO / "firmware", fw, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    (fw / "operator_main.py").write_text(OPERATOR_MAIN % ((CLOSE_AT_MS,), ()))
    (fw / "main.py").write_text("import operator_main\n")
    return fw


def edges_after(plant, role, t_ms):
    return [(t, v) for t, v in plant.edges.get(role, []) if t >= t_ms]


def test_field_tools_never_disturb_a_live_module(tmp_path, monkeypatch, capsys):
    fw = operator_firmware(tmp_path)
    files, manifest = build("VIRTUAL", ARCH, fw)
    files["/manifest.json"] = json.dumps(manifest).encode()  # as deploy's switch leaves it
    files["/config.json"] = module_config()
    flash = make_flash(tmp_path / "f.img", files, with_hal=False)
    plant = MonitoredPlant(Plant(seed=1, profile="training"))
    pulled, changed = tmp_path / "pulled.json", tmp_path / "changed.json"
    with VirtualBoard(flash=flash, speed="max", plant=plant, heap_bytes=HEAP_BYTES) as vb:
        vb.run_until(CLOSED_S)
        assert plant.plant.power.mains_closed(), plant.edges
        port = vb.console_port
        t_tools = vb.sim_ms
        capsys.readouterr()

        info = doctor.probe(port)
        assert (
            info["application"].startswith("running normal") and "no fault" in info["application"]
        )
        assert info["deployed"] == manifest["id"] and info["board"] == "VIRTUAL"
        _ok, lines = doctor.report([port])
        assert any(port in line and "application running" in line for line in lines), lines

        assert main(["monitor", "--port", port, "--once", "--json"]) == 0
        snap = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert snap["identity"]["module_id"] == "GRIDPOD-0000"
        assert snap["status"]["contactor_state"] == 2 and snap["faults"]["active"] == [], snap[
            "faults"
        ]

        assert main(["config", "pull", str(pulled), "--port", port]) == 0
        values = json.loads(pulled.read_text())
        assert values["battery_enabled"] and values["grid_enabled"]
        assert main(["config", "diff", str(pulled), "--port", port]) == 0
        assert "same as the device" in capsys.readouterr().out

        changed.write_text(json.dumps(dict(values, module_id="POD-A17")))
        monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))  # the technician answers no
        assert main(["config", "push", str(changed), "--port", port]) == 1
        out = capsys.readouterr()
        assert "This stops the application" in out.out  # the question says so first
        assert "not confirmed: nothing written, the application runs on" in out.err

        assert main(["deploy", "--port", port, "--firmware-dir", str(fw)]) == 0
        assert "nothing sent, not restarted" in capsys.readouterr().out

        events = read_device_events(port)  # the event log, read while the module runs
        assert [e["event"] for e in events[:2]] == ["boot", "reset_cause"], events

        t_done = vb.sim_ms
        vb.run_until(t_done / 1000 + 2.0)
        end = vb.sim_ms
        log = bytes(vb.console_log)

    assert end - t_tools > 5000, end - t_tools  # the module ran on while the tools talked
    assert b"Traceback" not in log and b"MemoryError" not in log, log[-800:]
    assert b"stopped (Ctrl-C)" not in log and log.count(b"gridpod: module ") == 1, log[-800:]
    for role in ("K_NEG_COIL", "K_POS_COIL"):  # closed once, never opened again
        assert [v for _t, v in plant.edges[role]] == [0, 1], (role, plant.edges[role])
    k_pos_on = plant.edges["K_POS_COIL"][1][0]
    assert k_pos_on < t_tools and plant.plant.power.mains_closed()
    assert not [v for _t, v in edges_after(plant, "HEALTHY_RELAY", k_pos_on) if v == 0]  # no alarm
    beats = [t for t, _v in edges_after(plant, "STATUS_LED", t_tools)]
    gaps = [b - a for a, b in zip([t_tools, *beats], [*beats, end], strict=True)]
    assert beats and max(gaps) <= HEARTBEAT_GAP_MS, gaps
    events = read_events(FlashImage(flash).read("/events.bin"))
    raised = [e for e in events if e["event"] == "fault_raised"]
    assert raised == [], raised
    assert plant.violation is None, plant.violation
