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


# ----- nothing the user owns is destroyed (newcomer review 2026-12-03) ---------------------------
def user_file(path: Path, size: int = 131072) -> bytes:
    """A file of the user's, sized like a flash image (a whole number of 4 KiB blocks), so that
    only the content tells it from one."""
    data = (b"my commissioning notes, line %d\n" * 5000)[:size]
    path.write_bytes(data)
    return data


def test_link_onto_an_existing_file_is_refused_and_the_file_kept(tmp_path):
    from gridpod.vboard.board_file import VirtualBoardError
    from gridpod.vboard.supervisor import VirtualBoard

    mine = tmp_path / "site.json"
    data = user_file(mine, 300)
    with pytest.raises(VirtualBoardError, match="is a file that exists: refusing to replace"):
        VirtualBoard(flash=tmp_path / "f.img", link_console=mine)
    assert mine.read_bytes() == data
    folder = tmp_path / "configs"
    folder.mkdir()
    with pytest.raises(VirtualBoardError, match="is a folder that exists"):
        VirtualBoard(flash=tmp_path / "f.img", link_modbus=folder)
    assert folder.is_dir()


def test_a_dangling_link_is_replaced_and_a_live_one_refused(tmp_path):
    from gridpod.vboard.board_file import VirtualBoardError
    from gridpod.vboard.supervisor import VirtualBoard

    stale = tmp_path / "console"
    stale.symlink_to("/dev/pts/99999")  # left by a board that was killed
    with VirtualBoard(flash=tmp_path / "f.img", link_console=stale) as vb:
        assert os.readlink(stale) == vb.console.port.path
        with pytest.raises(VirtualBoardError, match="still open .another virtual board"):
            VirtualBoard(flash=tmp_path / "g.img", link_console=stale)
        assert os.readlink(stale) == vb.console.port.path  # the running board keeps its link
    assert not stale.is_symlink()


def test_flash_on_a_file_that_is_not_an_image_is_refused_and_kept(tmp_path):
    from gridpod.vboard.flash import FlashImageError, install_tree
    from gridpod.vboard.supervisor import VirtualBoard

    mine = tmp_path / "notes.img"
    data = user_file(mine)
    with pytest.raises(FlashImageError, match="not a littlefs2 flash image: refusing to format"):
        VirtualBoard(flash=mine)
    with pytest.raises(FlashImageError, match="refusing to format"):
        install_tree(mine, {"/main.py": b"print(1)"})  # --install-firmware's host-side write
    assert mine.read_bytes() == data
    out = subprocess.run(
        [*GRIDPOD, "vboard", "--quiet", "--flash", str(mine), "--install-firmware"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "refusing to format it" in out.stderr, out.stderr
    assert mine.read_bytes() == data


def test_flash_in_a_missing_folder_makes_no_folder(tmp_path):
    from gridpod.vboard.flash import FlashImageError, create_blank
    from gridpod.vboard.supervisor import VirtualBoard

    target = tmp_path / "no" / "such" / "f.img"
    with pytest.raises(FlashImageError, match="folder .*such does not exist"):
        VirtualBoard(flash=target)
    with pytest.raises(FlashImageError, match="does not exist"):
        create_blank(target)
    assert not (tmp_path / "no").exists()


def test_a_refused_board_leaves_no_temp_folder(tmp_path, monkeypatch):
    """VirtualBoard() makes its temp folder only after every path check, and removes it when a
    later step (here: a flash size no chip has) fails."""
    import tempfile

    from gridpod.vboard import supervisor
    from gridpod.vboard.flash import FlashImageError

    made = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(**kw):
        made.append(real_mkdtemp(dir=tmp_path, **kw))
        return made[-1]

    monkeypatch.setattr(supervisor.tempfile, "mkdtemp", mkdtemp)
    with pytest.raises(FlashImageError, match="flash size 1000 B"):
        supervisor.VirtualBoard(flash_size=1000)  # the image lives in the temp folder
    assert made and not any(Path(p).exists() for p in made)
    with pytest.raises(FlashImageError, match="flash size 1000 B"):
        supervisor.VirtualBoard(flash=tmp_path / "new.img", flash_size=1000)
    assert len(made) == 1  # refused before a temp folder was made
