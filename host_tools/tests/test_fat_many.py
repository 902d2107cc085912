"""`gridpod fat` on several boards at once: four virtual modules deployed and FAT-tested in
parallel, one report folder and log each, one table, one exit status; a failing or broken board
does not stop the others.

The four-board run selects two FAT tests with -k (boot banner, REPL): each board still starts its
own VM, deploys the firmware with gridpod deploy, pushes its production config and boots it, but
runs two tests, not the module FAT (test_fat_module.py runs that once). A partial run is never a
PASS: each board ends INCOMPLETE (exit 4).
"""

import json
import re
import time
import xml.etree.ElementTree as ET

from gridpod.cli import main
from gridpod.fat.run import exit_code

QUICK = "boot_banner or console_repl"


def test_four_virtual_boards_in_parallel(tmp_path, capsys):
    t0 = time.monotonic()
    code = main(["fat", "--virtual", "--boards", "4", "--report", str(tmp_path), "-k", QUICK])
    wall_s = time.monotonic() - t0
    out = capsys.readouterr().out
    assert code == 4, out  # INCOMPLETE: a partial run
    labels = [f"board-{n}" for n in range(1, 5)]
    board_s = []
    for label in labels:
        folder = tmp_path / label
        report = json.loads((folder / "fat.json").read_text())
        assert report["verdict"] == "INCOMPLETE", (label, report["tests"])
        assert report["counts"]["passed"] == 2 and report["counts"]["failed"] == 0
        assert "partial run" in report["selection"]
        assert "partial run" in (folder / "fat.html").read_text()
        junit = ET.parse(folder / "fat-junit.xml").getroot()
        assert sum(int(s.get("tests")) for s in junit.iter("testsuite")) == 2
        log = (tmp_path / f"{label}.log").read_text()
        assert "gridpod.cli fat --virtual" in log and "2 passed" in log and "INCOMPLETE" in log
        row = re.search(rf"^{label}\s+FAILED\s+([\d.]+)s\s+INCOMPLETE", out, re.M)
        assert row, out
        board_s.append(float(row.group(1)))
    assert "FAT INCOMPLETE: 0 of 4 boards passed" in out
    # in parallel, not one after another: the boards' times add up to well over the wall time
    assert sum(board_s) > 2.0 * wall_s, (board_s, wall_s)


def write_suite(folder):
    folder.mkdir()
    (folder / "conftest.py").write_text('pytest_plugins = ["gridpod.hil.plugin"]\n')
    (folder / "test_suite.py").write_text(
        "import os, pytest\n\n"
        "@pytest.mark.req('REQ-BOOT-002')\n"
        "def test_board_two_fails():\n"
        "    assert os.environ['GRIDPOD_FAT_BOARD'] != 'board-2'\n"
    )


def test_one_failing_board_does_not_stop_the_others(tmp_path, capsys):
    suite = tmp_path / "suite"
    write_suite(suite)
    report = tmp_path / "r"
    argv = ["fat", "--virtual", "--boards", "3", "--report", str(report), "--suite", str(suite)]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 1, out
    verdicts = {
        n: json.loads((report / f"board-{n}" / "fat.json").read_text())["verdict"]
        for n in (1, 2, 3)
    }
    # a one-test suite leaves the module's other requirements untested: never a PASS
    assert verdicts == {1: "INCOMPLETE", 2: "FAIL", 3: "INCOMPLETE"}
    assert "board-2  FAILED" in out and "FAT FAIL: 0 of 3 boards passed" in out


def test_missing_ports_are_bench_errors_not_failures(tmp_path, capsys):
    argv = ["fat", "--report", str(tmp_path), "-k", QUICK]
    argv += ["--port", str(tmp_path / "ttyGONE1"), "--port", str(tmp_path / "ttyGONE2")]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 2, out
    assert out.count("BENCH ERROR") >= 2 and "0 of 2 boards passed" in out
    for log in tmp_path.glob("*.log"):
        assert "no serial port" in log.read_text()
    assert len(list(tmp_path.glob("*.log"))) == 2


def test_exit_code_bench_error_outranks_fail_outranks_incomplete():
    assert exit_code(["PASS", "PASS"]) == 0
    assert exit_code(["PASS", "INCOMPLETE"]) == 4
    assert exit_code(["PASS", "FAIL", "INCOMPLETE"]) == 1
    assert exit_code(["FAIL", "BENCH ERROR", "PASS"]) == 2
    assert exit_code([]) == 2
