"""gridpod doctor against a virtual board's console pty, and the CLI shells of doctor, flash,
deploy and config (exit codes, one-line results and errors)."""

import json
import re

import pytest
from gridpod.cli import main
from gridpod.device import doctor
from gridpod.device.config import firmware_config
from gridpod.device.deploy import deploy
from gridpod.vboard.flash import create_blank
from gridpod.vboard.supervisor import VirtualBoard
from test_deploy import HEAP, committed_firmware
from test_flash import ESP32, esp_full_image


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    base = tmp_path_factory.mktemp("doc")
    fw = committed_firmware(base)
    flash = base / "flash.img"
    create_blank(flash)
    with VirtualBoard(flash=flash, speed=1, heap_bytes=HEAP) as vb:
        result = deploy(vb.console_port, board="VIRTUAL", firmware_dir=fw, log=lambda s: None)
        vb.deploy_id = result["id"]
        yield vb


def test_doctor_probes_the_board(board):
    info = doctor.probe(board.console_port)
    assert info["micropython"].startswith("1.29.0 (vboard, mpy v6.3 x64)")
    assert info["board"] == "VIRTUAL"
    assert info["deployed"] == board.deploy_id
    assert info["config"].endswith("(schema defaults, no /config.json)")
    assert info["application"].startswith("running normal")  # asked, not stopped
    ok, lines = doctor.report([board.console_port])
    assert any(board.console_port in line and "board VIRTUAL" in line for line in lines)
    assert any(line.startswith("ok    MicroPython VM (micropython_run)") for line in lines)


def test_doctor_reports_a_dead_port_and_permission_fix(tmp_path, monkeypatch):
    ok, lines = doctor.report([str(tmp_path / "ttyNONE")])
    assert not ok and any("no MicroPython answer" in line for line in lines)
    dev = tmp_path / "ttyUSB9"
    dev.write_text("")
    monkeypatch.setattr(doctor.os, "access", lambda path, mode: False)
    ok, text = doctor.permission(str(dev))
    assert not ok and "usermod -aG" in text and "log out" in text


def test_cli_config_validate(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(firmware_config().defaults()))
    assert main(["config", "validate", str(good)]) == 0
    assert "valid (" in capsys.readouterr().out
    bad = dict(firmware_config().defaults(), pump_count=9, fast_tick_ms=1)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main(["config", "validate", str(tmp_path / "bad.json")]) == 1
    err = capsys.readouterr().err
    assert "2 error(s)" in err and "pump_count: 9 outside 0..2 [pumps]" in err
    assert "fast_tick_ms: 1 outside 5..50 [ms]" in err


def test_cli_doctor_and_deploy(board, capsys):
    main(["doctor", "--port", board.console_port])
    assert "board VIRTUAL" in capsys.readouterr().out
    assert main(["deploy", "--port", "/nonexistent/tty"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gridpod deploy: error: /nonexistent/tty: cannot")


def test_cli_flash_check_only(tmp_path, capsys):
    image = tmp_path / "fw.bin"
    image.write_bytes(esp_full_image(ESP32, 0x1000))
    assert main(["flash", "--image", str(image), "--board", "ESP32_DEVKITC", "--check-only"]) == 0
    assert "image ok for ESP32_DEVKITC" in capsys.readouterr().out
    args = ["flash", "--image", str(image), "--board", "ESP32_S3_DEVKITC", "--port", "/dev/x"]
    assert main(args) == 1
    assert "built for esp32" in capsys.readouterr().err


def test_doctor_never_prints_none(board):
    ok, lines = doctor.report([board.console_port])
    line = next(line for line in lines if board.console_port in line)
    assert "None" not in line
    assert re.search(r"Gridpod firmware \d+\.\d+ ", line) and line.startswith("ok"), line
    assert f"deploy {board.deploy_id}" in line
    # a deployed firmware older than app/version.py: version unknown, still ok
    info = dict(doctor.probe(board.console_port), firmware=None, application=None)
    ok, older = doctor.describe_probe(board.console_port, info)
    assert ok and "Gridpod firmware of unknown version" in older and "None" not in older


def test_doctor_fails_a_board_with_no_firmware(tmp_path):
    """A freshly flashed board (MicroPython only) is not "all checks passed": doctor says what is
    missing and the command that installs it, in words, never Python's None."""
    with VirtualBoard(flash=tmp_path / "blank.img", speed=1, heap_bytes=HEAP) as vb:
        ok, lines = doctor.report([vb.console_port])
    line = next(line for line in lines if vb.console_port in line)
    assert not ok and line.startswith("FAIL")
    assert "None" not in line
    assert "board none (no /board.json); no Gridpod firmware (no deploy manifest)" in line
    assert f"gridpod deploy --port {vb.console_port} --board B" in line and "VIRTUAL" in line
