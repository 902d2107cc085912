"""What a board does when a host tool stops its application, at --speed 1 (README "When a host
tool stops the application"): the outputs go safe and a maintenance window opens, during which
the HAL's timer feeds the hardware watchdog; when the window ends the board resets into the
application. The virtual board's clock and watchdog run while the firmware sits at the REPL, as a
board's do. The window is the board file's "maintenance_window_ms", short here (WINDOW_MS) so the
test takes seconds; the watchdog is the config default, 2 s, shorter than the window.
"""

import json
import re

from gridpod.build.tree import firmware_files
from gridpod.device import app_control
from gridpod.vboard.supervisor import VirtualBoard
from vboard_helpers import make_flash, mpremote

WINDOW_MS = 3000
WDT_MS = 2000  # config watchdog_timeout_ms default
BANNER = re.compile(rb"gridpod: module \S+ board \S+ boot #(\d+) reset cause (\d+)")
RESET_HARD, RESET_WATCHDOG = 2, 3


def flash_with_window(tmp_path, main=None):
    files = firmware_files("VIRTUAL")
    board = json.loads(files["/board.json"])
    board["maintenance_window_ms"] = WINDOW_MS
    files["/board.json"] = json.dumps(board).encode()
    if main is not None:
        files["/main.py"] = main.encode()
    return make_flash(tmp_path / "f.img", files, with_hal=False)


def boots(log: bytes) -> list[tuple[int, int]]:
    """(boot number, reset cause) of every boot banner."""
    return [(int(m.group(1)), int(m.group(2))) for m in BANNER.finditer(log)]


def test_a_stopped_application_restarts_when_its_maintenance_window_ends(tmp_path):
    with VirtualBoard(flash=flash_with_window(tmp_path), speed=1) as vb:
        vb.wait_console(b"boot #1 ", timeout_s=20)
        port = vb.console_port
        vb.run_until(1.0)
        assert vb.plant.edges["HEALTHY_RELAY"][-1][1] == 1  # healthy, running
        result = app_control.stop(port, yes=True)
        stopped_ms = vb.sim_ms
        assert result["window_s"] == WINDOW_MS // 1000
        assert vb.plant.edges["HEALTHY_RELAY"][-1][1] == 0  # alarm: the stop reached the plant
        vb.wait_console(b"boot #2 ", timeout_s=10)
        restarted_ms = vb.sim_ms
        log = bytes(vb.console_log)
        assert b"maintenance window 3 s" in log and b"maintenance window over" in log
        assert b"watchdog expired" not in log  # fed through the window, longer than its 2 s
        # the clock ran at the REPL: the reset came when the window ended, in simulated time
        assert WINDOW_MS - 200 <= restarted_ms - stopped_ms <= WINDOW_MS + 500

        # mpremote's own way in: Ctrl-C, then a soft reset into the raw REPL. The watchdog
        # survives the soft reset; boot.py opens the window again, so the session is not cut
        # by it, and the board is back in the application when the window ends.
        mark = len(vb.console_log)
        out = mpremote(port, "exec", "import app.state; print('mode', app.state.is_normal())")
        assert out.stdout.strip() == "mode True"
        vb.wait_console(b"boot #3 ", timeout_s=10)
        log = bytes(vb.console_log)
    assert b"watchdog expired" not in log[mark:], log[mark:][-800:]
    assert boots(log) == [(1, 1), (2, RESET_HARD), (3, RESET_HARD)], boots(log)


def test_an_application_that_leaves_its_loop_otherwise_is_reset_by_the_watchdog(tmp_path):
    # The scan loop ends after 150 frames without Ctrl-C (as a crash would): no window opens,
    # and the watchdog the application started bites WDT_MS later at the REPL.
    main = "from app import startup\nstartup.main(frames=150)\nprint('LOOP LEFT')\n"
    with VirtualBoard(flash=flash_with_window(tmp_path, main), speed=1) as vb:
        vb.wait_console(b"LOOP LEFT", timeout_s=20)
        left_ms = vb.sim_ms
        vb.wait_console(b"boot #2 ", timeout_s=10)
        bitten_ms = vb.sim_ms
        log = bytes(vb.console_log)
    assert b"[vboard] watchdog expired: reset" in log
    assert boots(log) == [(1, 1), (2, RESET_WATCHDOG)], boots(log)
    # fed last at the loop's last housekeeping second (every task checks in once a second)
    assert WDT_MS - 1000 <= bitten_ms - left_ms <= WDT_MS + 300, bitten_ms - left_ms
