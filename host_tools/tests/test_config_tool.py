"""gridpod config against a virtual board running the committed firmware: round trip, an invalid
file rejected with every error named, nothing written on rejection, diff, confirmation."""

import json
import shutil

import pytest
from gridpod import GridpodError
from gridpod.device.config import (
    ConfigError,
    diff,
    firmware_config,
    pull,
    push,
    validate_file,
)
from gridpod.device.deploy import deploy
from gridpod.vboard.flash import create_blank
from gridpod.vboard.supervisor import VirtualBoard
from test_deploy import HEAP, REPO
from vboard_helpers import mpremote


def quiet(_line):
    pass


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    base = tmp_path_factory.mktemp("cfg")
    # the working tree's firmware: the tool validates with this tree's schema (config v2 added
    # keys, so a pinned older revision rejects what the tool writes)
    fw = base / "firmware"
    shutil.copytree(REPO / "firmware", fw, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    flash = base / "flash.img"
    create_blank(flash)
    with VirtualBoard(flash=flash, speed=1, heap_bytes=HEAP) as vb:
        deploy(vb.console_port, board="VIRTUAL", firmware_dir=fw, log=quiet)
        yield vb


def device_config(board):
    out = mpremote(board.console_port, "exec", "print(open('/config.json').read())").stdout
    return out.strip()


def values(**changes):
    v = firmware_config().defaults()
    v.update(changes)
    return v


def test_round_trip(board, tmp_path):
    src = tmp_path / "site.json"
    src.write_text(json.dumps(values(module_id="SKID-07", flow_setpoint_lpm=120)))
    result = push(board.console_port, src, yes=True, log=quiet)
    assert json.loads(device_config(board))["config"]["module_id"] == "SKID-07"
    assert b"module SKID-07 board VIRTUAL" in board.console_log  # the app booted with it
    back = tmp_path / "back.json"
    pulled = pull(board.console_port, back, log=quiet)
    assert json.loads(back.read_text()) == json.loads(src.read_text())
    assert pulled["crc"] == result["crc"]
    assert diff(json.loads(back.read_text()), validate_file(src)) == []


def device_candidate(board):
    out = mpremote(board.console_port, "exec", "print(open('/config.json.new').read())").stdout
    return out.strip()


def test_invalid_file_lists_every_error_and_writes_nothing(board, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(values(module_id="KEEP-ME")))
    before = device_config(board)  # (mpremote stopped the application)
    result = push(board.console_port, good, yes=True, log=quiet, restart=False)
    assert "tries it at its next start" in result["summary"]
    assert json.loads(device_candidate(board))["config"]["module_id"] == "KEEP-ME"
    assert device_config(board) == before  # --no-restart: a candidate, not the config
    before = device_config(board), device_candidate(board)
    bad = values(flow_setpoint_lpm=5000, modbus_baud=12345, supply_temp_max_ddegc="hot")
    del bad["modbus_unit"]
    bad["colour"] = "red"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ConfigError) as err:
        push(board.console_port, path, yes=True, log=quiet)
    text = str(err.value)
    assert "5 error(s), nothing written" in text
    for expected in (
        "flow_setpoint_lpm: 5000 outside 0..1000 [L/min]",
        "modbus_baud: 12345 is not a standard rate [baud]",
        "supply_temp_max_ddegc: 'hot' is not an integer [0.1degC]",
        "modbus_unit: missing [address]",
        "colour: unknown key",
    ):
        assert expected in text
    assert (device_config(board), device_candidate(board)) == before


def test_corrupt_document_and_refused_confirmation_write_nothing(board, tmp_path):
    before = device_config(board)
    cfg = firmware_config()
    doc = json.loads(cfg.encode(values(module_id="OTHER")))
    doc["crc32"] ^= 1
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="crc32: stored .* computed .*file corrupt"):
        push(board.console_port, path, yes=True, log=quiet)
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(values(module_id="OTHER")))
    shown = []
    with pytest.raises(ConfigError, match="not confirmed"):
        push(board.console_port, ok, ask=lambda q: "n", log=shown.append)
    assert any('module_id: "SKID-07" -> "OTHER" [text]' in line for line in shown)
    assert device_config(board) == before


def test_diff_names_the_changed_tuning_elements():
    from gridpod.device.config import diff, firmware_config

    old = firmware_config().defaults()
    new = dict(old, contactor_tuning=list(old["contactor_tuning"]), flow_setpoint_lpm=120)
    new["contactor_tuning"][3] = 4000
    assert diff(old, new) == [
        "contactor_tuning[3] precharge_retry_ms: 3000 -> 4000 [ms]",
        "flow_setpoint_lpm: 100 -> 120 [L/min]",
    ]


# ----- a config a technician can write (issue 13 part 5) -----------------------------------------
def test_init_writes_a_complete_valid_file_and_its_key_reference(tmp_path):
    from gridpod.device.config_init import init

    out = tmp_path / "pod.json"
    done = init(out)
    values = validate_file(out)  # the firmware's validator accepts it as written
    cfg = firmware_config()
    assert values == cfg.defaults() and done["crc"] == f"{cfg.config_crc(values):08x}"
    doc = json.loads(out.read_text())
    assert doc["contactor_tuning"]["precharge_tau_ms"] == 470  # tuning by element name
    reference = done["reference"].read_text()
    for row in cfg.rows():
        assert f"\n{row[0]} " in reference, row[0]
        for element in cfg.tuning_rows(row[0]):
            assert f"] {element[0]} " in reference, element[0]
    assert "safety floor: >= 10" in reference  # flow_setpoint_lpm, from app/config_rules.py
    before = out.read_text()
    with pytest.raises(GridpodError, match="exists: choose another name, or pass --force"):
        init(out)
    assert out.read_text() == before
    init(out, "RPI_PICO", force=True)
    assert validate_file(out)["pump_count"] == 2


def test_tuning_by_name_is_the_same_config_as_the_vector(tmp_path):
    from gridpod.device.config import with_names

    cfg = firmware_config()
    positional = values(flow_setpoint_lpm=120)
    positional["contactor_tuning"] = list(positional["contactor_tuning"])
    positional["contactor_tuning"][3] = 5000
    named = with_names(positional)
    assert named["contactor_tuning"]["precharge_retry_ms"] == 5000
    named["contactor_tuning"] = dict(reversed(list(named["contactor_tuning"].items())))  # any order
    path = tmp_path / "named.json"
    path.write_text(json.dumps(named))
    assert validate_file(path) == positional
    assert cfg.config_crc(validate_file(path)) == cfg.config_crc(positional)

    broken = with_names(values(modbus_baud=1234))
    broken["contactor_tuning"]["precharge_retry_ms"] = 100
    broken["contactor_tuning"]["precharge_tau"] = 470
    del broken["grid_tuning"]["pcs_max_kw"]
    path.write_text(json.dumps(broken))
    with pytest.raises(ConfigError) as err:
        validate_file(path)
    text = str(err.value)
    assert "4 error(s)" in text  # every problem at once, by name, with unit and range
    assert "contactor_tuning.precharge_tau: unknown element" in text
    assert "grid_tuning.pcs_max_kw: missing [kW, 0..10000]" in text
    assert "contactor_tuning[3] precharge_retry_ms: 100 outside 3000..600000 [ms]" in text
    assert "modbus_baud: 1234 is not a standard rate" in text


def test_on_schema_defaults_diff_and_pull_use_the_running_values(board, tmp_path):
    """A board with no /config.json runs the schema defaults: diff compares with them (no
    "<unset>"), pull writes them, and a named file pushes and pulls back by name."""
    from gridpod.device.config import diff_device

    mpremote(board.console_port, "exec", "import os\ntry: os.remove('/config.json')\nexcept: pass")
    same = tmp_path / "defaults.json"
    same.write_text(json.dumps(values()))
    notes = []
    assert diff_device(board.console_port, same, log=notes.append) == []
    assert any("no /config.json: the board runs on schema defaults" in n for n in notes)
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(values(module_id="SKID-09")))
    lines = diff_device(board.console_port, changed, log=quiet)
    assert lines == ['module_id: "GRIDPOD-0000" -> "SKID-09" [text]']
    pulled = tmp_path / "pulled.json"
    result = pull(board.console_port, pulled, log=quiet)
    assert json.loads(pulled.read_text()) == values()
    assert result["crc"] == f"{firmware_config().config_crc(values()):08x}"

    named = tmp_path / "named.json"
    from gridpod.device.config import with_names

    named.write_text(json.dumps(with_names(values(module_id="SKID-09"))))
    shown = []
    push(board.console_port, named, yes=True, log=shown.append)
    assert any('module_id: "GRIDPOD-0000" -> "SKID-09"' in line for line in shown)
    assert not any("<unset>" in line for line in shown)
    assert json.loads(device_config(board))["config"]["module_id"] == "SKID-09"
    back = tmp_path / "back.json"
    pull(board.console_port, back, log=quiet, names=True)
    assert json.loads(back.read_text()) == json.loads(named.read_text())
    assert list(json.loads(back.read_text()))[0] == "module_id"  # schema order for people


# ----- a push is committed only once the application ran healthy with it (issue 13 part 4) ------
# The littlefs layout (modules loaded into the heap) on a board with less heap than the full
# module needs: the platform runs, the full module raises MemoryError while it is built (the
# newcomer review's "a valid config crashed the board and stayed"). Measured: 90000 B boots the
# defaults and fails the full module; 100000 B fails it too, 110000 B runs it.
SMALL_HEAP = 90000


def test_a_config_the_module_cannot_start_with_is_rolled_back_and_a_good_one_committed(tmp_path):
    from gridpod.build.tree import firmware_files
    from gridpod.device.doctor import probe as doctor_probe
    from gridpod.device.eventlog import read_device_events
    from gridpod.device.service import ServiceChannel
    from gridpod.hil.soak import full_module_config
    from vboard_helpers import make_flash

    flash = make_flash(tmp_path / "f.img", firmware_files("VIRTUAL"), with_hal=False)
    full = tmp_path / "full.json"
    full.write_text(json.dumps(json.loads(full_module_config())["config"]))
    assert validate_file(full)["battery_enabled"]  # the host's validation accepts it
    good = tmp_path / "good.json"
    good.write_text(json.dumps(values(module_id="SKID-11")))
    with VirtualBoard(flash=flash, speed=1, heap_bytes=SMALL_HEAP) as vb:
        vb.wait_console(b"gridpod: module GRIDPOD-0000", timeout_s=30)
        with pytest.raises(ConfigError) as err:
            push(vb.console_port, full, yes=True, log=quiet)
        assert (
            "the module did not start with the new config; the previous config was restored: "
            "MemoryError: memory allocation failed" in str(err.value)
        ), str(err.value)
        log = bytes(vb.console_log)
        assert b"raised with the pushed config (MemoryError" in log and b"Traceback" not in log
        events = read_device_events(vb.console_port)
        restored = [e for e in events if e["event"] == "config_restored"]
        assert [(e["reason"], e["arg2"]) for e in restored] == [("crashed", 0)]
        import serial

        with serial.Serial(vb.console_port, 115200, timeout=0.1) as port:
            status = ServiceChannel(port).status()  # the application runs, on the defaults
        assert status["config_status"] == "defaults" and not status["config_trial"]
        assert status["mode"] == "normal" and status["faults"] == []
        told = doctor_probe(vb.console_port)["config"]  # doctor says it too, reading live
        assert "the last push was not kept, the previous config was restored: MemoryError" in told
        names = mpremote(vb.console_port, "exec", "import os; print(os.listdir('/'))").stdout
        assert "config.json" not in names and "config.json.new" not in names

        result = push(vb.console_port, good, yes=True, log=quiet)
        assert result["summary"].endswith(f"crc32 {result['crc']} committed")
        doc = mpremote(vb.console_port, "exec", "print(open('/config.json').read())").stdout
        assert json.loads(doc)["config"]["module_id"] == "SKID-11"
        assert b"committed (ran healthy)" in bytes(vb.console_log)
