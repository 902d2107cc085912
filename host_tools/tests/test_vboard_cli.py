"""`gridpod vboard` as a technician or a script runs it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vboard_helpers import BLINK_MAIN, make_flash

GRIDPOD = [sys.executable, "-m", "gridpod.cli"]


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(p) for p in text)
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def start_cli(*args):
    proc = subprocess.Popen(
        [*GRIDPOD, "vboard", "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = json.loads(proc.stdout.readline())
    return proc, first


def wait_gone(pid, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} outlived its supervisor"
        time.sleep(0.02)


def test_prints_ports_links_and_cleans_up_on_sigterm(tmp_path):
    con, mb = tmp_path / "console", tmp_path / "rs485"
    proc, ports = start_cli(
        "--flash", str(tmp_path / "f.img"), "--link-console", str(con), "--link-modbus", str(mb)
    )
    try:
        assert (ports["console"], ports["modbus"]) == (str(con), str(mb))
        assert (ports["plant"], ports["profile"]) == ("model", "training")  # the default plant
        assert os.readlink(con).startswith("/dev/pts/") and os.readlink(mb).startswith("/dev/pts/")
        time.sleep(0.3)
        vms = children(proc.pid)
        assert vms, "no VM process under the supervisor"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        for pid in vms:
            wait_gone(pid)
        assert not con.exists() and not con.is_symlink()
    finally:
        proc.kill()


def test_vm_dies_with_a_killed_supervisor(tmp_path):
    proc, ports = start_cli("--flash", str(tmp_path / "f.img"), "--plant", "stub")
    assert ports["plant"] == "stub" and "control" not in ports
    time.sleep(0.3)
    vms = children(proc.pid)
    assert vms
    proc.kill()
    proc.wait()
    for pid in vms:
        wait_gone(pid)


def test_run_for_and_stats_in_lockstep(tmp_path):
    flash = make_flash(tmp_path / "f.img", {"/main.py": BLINK_MAIN})
    out = subprocess.run(
        [
            *GRIDPOD,
            "vboard",
            "--quiet",
            "--flash",
            str(flash),
            "--speed",
            "max",
            "--run-for",
            "20",
            "--stats",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    stats = lines[-1]
    assert set(stats) >= {
        "sim_s",
        "wall_s",
        "ticks",
        "max_tick_us",
        "heap_min_free",
        "resets",
        "overruns",
    }
    assert stats["sim_s"] == 20.0
    assert 1990 <= stats["ticks"] <= 2010
    assert stats["resets"] == 0


@pytest.mark.parametrize("layout", [[], ["--romfs"]], ids=["littlefs", "romfs"])
def test_install_firmware_and_heap_option(tmp_path, layout):
    out = subprocess.run(
        [
            *GRIDPOD,
            "vboard",
            "--quiet",
            "--flash",
            str(tmp_path / "f.img"),
            "--install-firmware",
            *layout,
            "--heap",
            "120K",
            "--speed",
            "max",
            "--run-for",
            "2",
            "--stats",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout.splitlines()[-1])
    assert stats["sim_s"] == 2.0


def test_bad_arguments_give_one_line_errors(tmp_path):
    for args, words in (
        (["--speed", "fast"], "speed 'fast'"),
        (["--heap", "lots"], "size 'lots'"),
        (["--board", "NOPE"], "unknown board 'NOPE'"),
        (["--flash-size", "1000"], "flash size 1000"),
        (["--romfs"], "add --install-firmware"),
    ):
        out = subprocess.run(
            [*GRIDPOD, "vboard", "--flash", str(tmp_path / "x.img"), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 1
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], out.stderr
