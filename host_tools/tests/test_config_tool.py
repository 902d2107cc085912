"""gridpod config against a virtual board running the committed firmware: round trip, an invalid
file rejected with every error named, nothing written on rejection, diff, confirmation."""

import json
import shutil

import pytest
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


def test_invalid_file_lists_every_error_and_writes_nothing(board, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(values(module_id="KEEP-ME")))
    push(board.console_port, good, yes=True, log=quiet, restart=False)
    before = device_config(board)
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
    assert device_config(board) == before


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
    assert any('module_id: "KEEP-ME" -> "OTHER" [text]' in line for line in shown)
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
