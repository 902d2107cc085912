"""gridpod deploy on virtual boards: full, no-op, one file, killed halfway then completed, and
three boards plus a bad port in parallel.

The firmware trees are copies of the working tree's firmware in tmp dirs with small code changes
(a marker printed by main.py, a constant added to modules), so "which firmware boots" is visible
on the console. Their application answers on the service channel: the no-op deploy is decided
there and restarts nothing; a deploy that changes files onto a running application is allowed to
stop it (yes=True, as `--yes`).
The VM heap is raised to 128 KiB: these tests are about deploy, the 64 KiB budget of the
application is the firmware tests' business, and others change the application concurrently.
"""

import shutil
from pathlib import Path

import pytest
from gridpod import GridpodError
from gridpod.device import app_control
from gridpod.device.deploy import DeployError, deploy
from gridpod.multi import run_many, summary_table
from gridpod.vboard.flash import FlashImage, create_blank
from gridpod.vboard.supervisor import VirtualBoard
from vboard_helpers import REPO, mpremote

HEAP = 128 * 1024
CHANGED_MODULES = ["app/state.py", "app/housekeeping.py", "app/fsutil.py", "app/bootguard.py"]


def quiet(_line):
    pass


def committed_firmware(base: Path) -> Path:
    """The working tree's firmware (tests excluded) in base/head/firmware. It was a pinned older
    application with the deploy mechanism laid over it; a pinned application has neither the
    service channel nor the maintenance window, and since the virtual board's watchdog runs at
    the REPL (as a board's does) it resets such a board ~2 s into every host tool session."""
    dst = base / "head" / "firmware"
    shutil.copytree(REPO / "firmware", dst, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    return dst


def tree(base: Path, name: str, marker: str | None = None, touched=()) -> Path:
    """A copy of firmware/ (tests excluded); main.py prints `marker`; `touched` modules changed."""
    dst = base / name
    shutil.copytree(base / "head" / "firmware", dst, ignore=shutil.ignore_patterns("tests"))
    if marker:
        main = dst / "main.py"
        main.write_text(f"print('FIRMWARE {marker}')\n" + main.read_text())
    for rel in touched:
        with open(dst / rel, "a") as f:
            f.write(f"\nDEPLOY_TEST_{name.upper()} = {len(name)}\n")
    return dst


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("trees")
    committed_firmware(base)
    return {
        "A": tree(base, "a", "A"),
        "A1": tree(base, "a1", "A", touched=["app/state.py"]),
        "B": tree(base, "b", "B", touched=CHANGED_MODULES),
    }


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A freshly flashed board: MicroPython and an empty littlefs, no firmware yet."""
    flash = tmp_path_factory.mktemp("flash") / "flash.img"
    create_blank(flash)
    with VirtualBoard(flash=flash, speed=1, heap_bytes=HEAP) as vb:
        yield vb


def test_full_deploy(board, trees):
    result = deploy(board.console_port, board="VIRTUAL", firmware_dir=trees["A"], log=quiet)
    assert result["health"] == "healthy"
    assert len(result["sent"]) == result["files"] > 20
    assert "/app/app.mpy" in result["sent"] and "/board.json" in result["sent"]
    assert b"FIRMWARE A" in board.console_log
    listing = mpremote(board.console_port, "fs", "ls", ":/").stdout
    assert "manifest.json" in listing


def test_noop_deploy_sends_nothing_and_leaves_the_application_running(board, trees):
    started = app_control.start(board.console_port)  # the mpremote listing above stopped it
    assert "application started" in started["summary"], started
    lines = []
    boots = board.console_log.count(b"boot #")
    mark = len(board.console_log)
    result = deploy(board.console_port, firmware_dir=trees["A"], log=lines.append)
    assert result["sent"] == [] and result["bytes_sent"] == 0
    assert any("nothing sent" in line for line in lines)
    assert result["health"] == "healthy" and result["restarted"] is False
    assert board.console_log.count(b"boot #") == boots
    assert b"stopped" not in board.console_log[mark:]


def test_one_changed_file_sends_one_file(board, trees):
    result = deploy(board.console_port, firmware_dir=trees["A1"], log=quiet, yes=True)
    assert result["sent"] == ["/app/state.mpy"]
    check = "import app.state; print(app.state.DEPLOY_TEST_A1)"
    assert mpremote(board.console_port, "exec", check).stdout.strip() == "2"


class Killed(Exception):
    pass


def test_killed_deploy_keeps_old_firmware_then_rerun_completes(board, trees):
    def cut_power_at_third_file(n, total, path):
        if n == 3:
            board.power_cycle()  # brown-out mid-upload, and the host side dies with it
            raise Killed(path)

    boots = board.console_log.count(b"boot #")
    with pytest.raises(Killed):
        deploy(
            board.console_port, firmware_dir=trees["B"], on_file=cut_power_at_third_file, yes=True
        )
    board.wait_console(b"boot #%d" % (boots + 1), timeout_s=20)
    after_kill = bytes(board.console_log[board.console_log.rfind(b"MicroPython") :])
    tail = bytes(board.console_log[-2000:])
    assert b"FIRMWARE B" not in tail and b"Traceback" not in tail, after_kill
    old = "import app.state; print(hasattr(app.state, 'DEPLOY_TEST_B'))"
    assert mpremote(board.console_port, "exec", old).stdout.strip() == "False"
    staged = mpremote(board.console_port, "exec", "import os; print(os.listdir('/.deploy'))")
    assert staged.stdout.count("'") == 2, staged.stdout  # one staging dir, no pending flag

    lines = []
    result = deploy(board.console_port, firmware_dir=trees["B"], log=lines.append, yes=True)
    assert any("(2 already staged)" in line for line in lines), lines
    assert len(result["sent"]) == len(CHANGED_MODULES) + 1 - 2  # main.py + modules - staged
    assert result["health"] == "healthy"
    assert b"FIRMWARE B" in board.console_log[-3000:]
    new = "import app.state; print(app.state.DEPLOY_TEST_B)"
    assert mpremote(board.console_port, "exec", new).stdout.strip() == "1"
    gone = "import os; print(os.listdir('/.deploy'))"
    assert mpremote(board.console_port, "exec", gone).stdout.strip() == "[]"


def test_a_wrong_firmware_dir_is_refused_and_the_firmware_kept(board, trees, tmp_path):
    """A typo or an empty folder used to deploy an empty firmware: boot.py and main.py deleted
    (littlefs), or "healthy" on a ROMFS board. It is refused before the port is opened, so the
    board keeps its files and its manifest."""
    manifest = "print(open('/manifest.json').read())"
    before = mpremote(board.console_port, "exec", manifest).stdout
    listing = mpremote(board.console_port, "fs", "ls", ":/").stdout
    assert "boot.py" in listing and "main.py" in listing
    empty = tmp_path / "empty"
    empty.mkdir()
    half = tmp_path / "half"  # a tree with main.py but not what it imports
    half.mkdir()
    (half / "main.py").write_text("print('hello')\n")
    for folder, words in (
        (empty, "not a Gridpod firmware tree .no boot.py"),
        (half, "not a Gridpod firmware tree"),
        (tmp_path / "firmwre", "does not exist"),
    ):
        with pytest.raises(DeployError, match=words):
            deploy(board.console_port, board="VIRTUAL", firmware_dir=folder, log=quiet)
    with pytest.raises(GridpodError, match="NOPE: no such board"):
        deploy(board.console_port, board="NOPE", firmware_dir=trees["A"], log=quiet)
    assert mpremote(board.console_port, "exec", manifest).stdout == before
    listing = mpremote(board.console_port, "fs", "ls", ":/").stdout
    assert "boot.py" in listing and "main.py" in listing


def test_wrong_board_refused_before_anything_is_sent(board, trees):
    with pytest.raises(DeployError, match="ESP32_DEVKITC is esp32 .xtensawin. but the device"):
        deploy(board.console_port, board="ESP32_DEVKITC", firmware_dir=trees["A"], log=quiet)


def test_three_boards_and_a_bad_port_in_parallel(trees, tmp_path):
    boards = []
    try:
        for n in range(3):
            flash = tmp_path / f"f{n}.img"
            create_blank(flash)
            boards.append(VirtualBoard(flash=flash, speed=1, heap_bytes=HEAP).__enter__())
        ports = [b.console_port for b in boards] + [str(tmp_path / "no-such-port")]

        def job(port, log):
            return deploy(port, board="VIRTUAL", firmware_dir=trees["A"], log=log)

        results = run_many(ports, job, tmp_path / "logs", echo=None)
    finally:
        for b in boards:
            b.close()
    table = summary_table(results)
    assert [r["ok"] for r in results] == [True, True, True, False], table
    assert "cannot open" in results[3]["summary"]
    assert "3/4 boards ok" in table
    for r, b in zip(results[:3], boards, strict=True):
        assert "[1/" in Path(r["log"]).read_text()  # each board has its own log with progress
        assert FlashImage(b.flash_path).exists("/manifest.json")
    assert len({r["log"] for r in results}) == 4


def test_gridpod_error_is_base(trees):
    assert issubclass(DeployError, GridpodError)
