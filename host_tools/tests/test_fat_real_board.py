"""`gridpod fat --port` on a bench that is only a console (a real board on USB, no RS-485, no
plant, no power control): the steps it cannot do are skipped with the reason, so the FAT ends
INCOMPLETE (exit 4), never PASS; the firmware hash on its certificate is the deploy id that
`gridpod doctor` reads from the same unit, not a digest of the host's files; and the module runs
when the FAT is done (its reads go through the service channel; a step that stops it restarts it).

The "board" is a virtual module deployed with gridpod deploy, reached only through its console
pty, as a technician reaches a board on /dev/ttyUSB0.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from gridpod.hil.bench import open_bench

HOST_TOOLS = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=f"{HOST_TOOLS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def gridpod(*args):
    return subprocess.run(
        [sys.executable, "-m", "gridpod.cli", *args], capture_output=True, text=True,
        timeout=300, env=ENV,
    )  # fmt: skip


@pytest.fixture(scope="module")
def board():
    b = open_bench("virtual")  # deployed and booted, like a board fresh from `gridpod deploy`
    yield b
    b.close()


def test_a_console_only_bench_ends_incomplete_with_the_unit_s_own_firmware_hash(board, tmp_path):
    port = board.console.port
    proc = gridpod("fat", "--port", port, "--report", str(tmp_path))
    s = json.loads((tmp_path / "fat.json").read_text())
    assert proc.returncode == 4, (proc.stdout[-1500:], proc.stderr[-500:])
    assert s["verdict"] == "INCOMPLETE"
    assert s["counts"]["failed"] == 0 and s["counts"]["bench error"] == 0, s["counts"]
    assert s["counts"]["skipped"] > s["counts"]["passed"] > 0, s["counts"]
    skipped = [t["message"] for t in s["tests"] if t["outcome"] == "skipped"]
    assert all("lacks" in m or "a person" in m for m in skipped), skipped[:3]
    page = (tmp_path / "fat.html").read_text()
    assert ">INCOMPLETE<" in page and ">PASS</span>" not in page
    assert "FAT INCOMPLETE" in proc.stdout

    doctor = gridpod("doctor", "--port", port)
    deployed = re.search(r"\(deploy ([0-9a-f]{16})\)", doctor.stdout)
    assert deployed, doctor.stdout
    # the FAT read the unit without stopping it, and gave back what a step stopped on purpose
    assert "application running normal" in doctor.stdout, doctor.stdout
    assert s["firmware_digest"] == s["identity"]["firmware_hash"] == deployed.group(1)
    assert deployed.group(1) in page


def test_a_mistyped_bench_option_is_a_bench_error_never_a_fail(tmp_path):
    proc = gridpod("fat", "--virtual", "--heap", "abc", "--report", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert "size 'abc'" in proc.stderr and "bench error" in proc.stderr
    assert not (tmp_path / "fat.json").exists()  # no certificate: nothing was judged
