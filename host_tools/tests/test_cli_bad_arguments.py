"""Every `gridpod` command given bad arguments, as a technician would type them, through the real
CLI in a subprocess: no "Traceback" anywhere in the output, a non-zero exit status, and ONE short
line on stderr that names the problem. No board is needed: each mistake is caught before a port
is opened (a port that does not exist would give a different, port-shaped error)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_flash import ESP32, esp_full_image, uf2

HOST_TOOLS = Path(__file__).resolve().parents[1]
# this tree's gridpod, whatever the working directory of the command
ENV = dict(os.environ, PYTHONPATH=f"{HOST_TOOLS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")

MAX_LINE = 260  # "short": one terminal line and a wrap at most
NO_PORT = "/nonexistent/ttyGRIDPOD"  # named where a command needs a port; never reached


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Inputs the mistakes point at: a folder, an empty file, random bytes, images, a config."""
    d = tmp_path_factory.mktemp("bad")
    (d / "folder").mkdir()
    (d / "emptyfw").mkdir()
    (d / "empty.bin").write_bytes(b"")
    (d / "random.bin").write_bytes(os.urandom(150_000))
    (d / "esp.bin").write_bytes(esp_full_image(ESP32, 0x1000))
    (d / "pico.uf2").write_bytes(uf2(8))
    (d / "notes.txt").write_text("a technician's notes\n")
    (d / "cfg.json").write_text("{}")
    from gridpod.device.config import firmware_config

    (d / "good.json").write_text(json.dumps(firmware_config().defaults()))
    return d


def gridpod(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridpod.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=ENV,
    )


# (id, argv with {d} for the inputs folder, words the one error line must contain)
CASES = [
    ("no-command", [], "required: COMMAND"),
    ("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'"),
    ("doctor-unknown-option", ["doctor", "--frob"], "unrecognized arguments: --frob"),
    # monitor: values refused while parsing, before the port is opened
    ("monitor-no-port", ["monitor"], "--port"),
    ("monitor-unit-300", ["monitor", "--port", NO_PORT, "--unit", "300"], "300 is outside 1..247"),
    ("monitor-unit-0", ["monitor", "--port", NO_PORT, "--unit", "0"], "0 is outside 1..247"),
    ("monitor-unit-text", ["monitor", "--port", NO_PORT, "--unit", "one"], "'one' is not a whole"),
    ("monitor-interval-negative", ["monitor", "--port", NO_PORT, "--interval", "-1"], "0.1..3600"),
    ("monitor-interval-nan", ["monitor", "--port", NO_PORT, "--interval", "nan"], "0.1..3600"),
    ("monitor-baud", ["monitor", "--port", NO_PORT, "--baud", "1234"], "1234 is not one of"),
    ("monitor-parity", ["monitor", "--port", NO_PORT, "--parity", "O"], "invalid choice: 'O'"),
    ("monitor-missing-port", ["monitor", "--port", NO_PORT, "--once"], f"cannot open {NO_PORT}"),
    # flash --check-only: files that are missing, folders, empty, not an image
    (
        "flash-check-missing",
        ["flash", "--check-only", "--image", "{d}/nope.bin", "--board", "ESP32_DEVKITC"],
        "no such file",
    ),
    (
        "flash-check-folder",
        ["flash", "--check-only", "--image", "{d}/folder", "--board", "RPI_PICO"],
        "it is a folder",
    ),
    (
        "flash-check-empty-uf2",
        ["flash", "--check-only", "--image", "{d}/empty.bin", "--board", "RPI_PICO"],
        "empty file: not a UF2 file",
    ),
    (
        "flash-check-random-uf2",
        ["flash", "--check-only", "--image", "{d}/random.bin", "--board", "RPI_PICO"],
        "not a UF2 file",
    ),
    (
        "flash-check-bin-for-pico",
        ["flash", "--check-only", "--image", "{d}/esp.bin", "--board", "RPI_PICO"],
        "an ESP32 .bin, not a UF2 file",
    ),
    (
        "flash-check-uf2-for-esp",
        ["flash", "--check-only", "--image", "{d}/pico.uf2", "--board", "ESP32_DEVKITC"],
        "this is a UF2 file",
    ),
    (
        "flash-check-empty-bin",
        ["flash", "--check-only", "--image", "{d}/empty.bin", "--board", "ESP32_DEVKITC"],
        "empty file: not an ESP32 firmware",
    ),
    (
        "flash-unknown-board",
        ["flash", "--check-only", "--image", "{d}/esp.bin", "--board", "ESP32"],
        "ESP32: no such board",
    ),
    (
        "flash-missing-image-before-port",
        ["flash", "--image", "{d}/nope.bin", "--board", "ESP32_DEVKITC", "--port", NO_PORT],
        "no such file",
    ),
    # deploy: the firmware folder and the board are checked before the port is opened
    (
        "deploy-firmware-dir-typo",
        ["deploy", "--port", NO_PORT, "--firmware-dir", "{d}/firmwre"],
        "does not exist",
    ),
    (
        "deploy-firmware-dir-empty",
        ["deploy", "--port", NO_PORT, "--firmware-dir", "{d}/emptyfw"],
        "not a Gridpod firmware tree",
    ),
    (
        "deploy-firmware-dir-file",
        ["deploy", "--port", NO_PORT, "--firmware-dir", "{d}/notes.txt"],
        "is a file, not a folder",
    ),
    ("deploy-unknown-board", ["deploy", "--port", NO_PORT, "--board", "NOPE"], "NOPE: no such"),
    ("deploy-timeout-zero", ["deploy", "--port", NO_PORT, "--timeout", "0"], "1..86400"),
    ("deploy-no-port", ["deploy"], "no port: pass --port"),
    # stop / start (the application on a board's console)
    ("stop-no-port", ["stop"], "--port"),
    ("stop-missing-port", ["stop", "--port", NO_PORT, "--yes"], f"{NO_PORT}: cannot open"),
    ("start-no-port", ["start"], "--port"),
    ("start-timeout-zero", ["start", "--port", NO_PORT, "--timeout", "0"], "1..86400"),
    ("start-missing-port", ["start", "--port", NO_PORT], f"{NO_PORT}: cannot open"),
    # config
    ("config-unknown-action", ["config", "frob", "x.json"], "invalid choice: 'frob'"),
    ("config-validate-no-file", ["config", "validate"], "validate needs a FILE"),
    ("config-validate-missing", ["config", "validate", "{d}/nope.json"], "no such file"),
    ("config-validate-folder", ["config", "validate", "{d}/folder"], "it is a folder"),
    ("config-validate-board", ["config", "validate", "{d}/cfg.json", "--board", "X"], "only for"),
    (
        "config-pull-to-folder",
        ["config", "pull", "{d}/folder", "--port", NO_PORT],
        "is a folder: name a file",
    ),
    (
        "config-pull-no-such-folder",
        ["config", "pull", "{d}/nofolder/out.json", "--port", NO_PORT],
        "does not exist",
    ),
    (
        "config-pull-unwritable",
        ["config", "pull", "/proc/gridpod-out.json", "--port", NO_PORT],
        "cannot write there",
    ),
    (
        "config-push-several-needs-yes",
        ["config", "push", "{d}/good.json", "--port", NO_PORT, "--port", NO_PORT + "2"],
        "needs --yes",
    ),
    ("config-init-folder", ["config", "init", "{d}/folder"], "is a folder"),
    ("config-init-existing", ["config", "init", "{d}/notes.txt"], "exists: choose another name"),
    ("config-init-board", ["config", "init", "{d}/new.json", "--board", "NOPE"], "NOPE: no such"),
    ("config-init-two-names", ["config", "init", "{d}/a.json", "-o", "{d}/b.json"], "give one"),
    # vboard: nothing the user owns is replaced, no folder is made
    ("vboard-speed", ["vboard", "--speed", "fast"], "speed 'fast'"),
    (
        "vboard-link-onto-file",
        ["vboard", "--flash", "{d}/vb.img", "--link-console", "{d}/notes.txt"],
        "refusing to replace it",
    ),
    (
        "vboard-link-onto-folder",
        ["vboard", "--flash", "{d}/vb.img", "--link-modbus", "{d}/folder"],
        "refusing to replace it",
    ),
    ("vboard-flash-not-image", ["vboard", "--flash", "{d}/notes.txt"], "not a littlefs2 flash"),
    ("vboard-flash-folder", ["vboard", "--flash", "{d}/folder"], "not a littlefs2 flash"),
    ("vboard-flash-no-folder", ["vboard", "--flash", "{d}/no/such/f.img"], "does not exist"),
    ("vboard-bad-fault", ["vboard", "--fault", "leak:zone=9"], "zone must be 1 or 2"),
    ("vboard-fault-no-action", ["vboard-fault"], "say what to do"),
    ("vboard-fault-unknown", ["vboard-fault", "inject", "nosuch"], "unknown fault 'nosuch'"),
    (
        "vboard-fault-no-board",
        ["vboard-fault", "status", "--control", "{d}/nosock"],
        "no control socket",
    ),
    # fat: bench-setup typos are one line before anything runs
    ("fat-no-bench", ["fat"], "one of the arguments --virtual --port --all --labgrid is required"),
    (
        "fat-coordinator-without-labgrid",
        ["fat", "--virtual", "--coordinator", "127.0.0.1:1", "--report", "{d}/nofolder"],
        "--coordinator is for --labgrid",
    ),
    (
        "fat-report-unwritable",
        ["fat", "--virtual", "--report", "/proc/gridpod-fat"],
        "cannot write",
    ),
    ("fat-report-is-file", ["fat", "--virtual", "--report", "{d}/notes.txt"], "not a folder"),
    ("fat-heap", ["fat", "--virtual", "--heap", "abc"], "size 'abc'"),
    ("fat-boards-zero", ["fat", "--virtual", "--boards", "0"], "0 is outside 1..64"),
]


@pytest.mark.parametrize("argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_give_one_line_and_a_failing_status(files, argv, words):
    args = [a.replace("{d}", str(files)) for a in argv]
    before = (files / "notes.txt").read_text()
    proc = gridpod(*args, cwd=files)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode != 0, output
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("gridpod"), line
    assert ": error: " in line, line
    assert len(line) <= MAX_LINE, f"{len(line)} characters: {line}"
    assert words in line, line
    assert (files / "notes.txt").read_text() == before  # nothing of the user's was touched
    assert not (files / "no").exists() and not (files / "nofolder").exists()


def test_every_command_has_a_bad_argument_case():
    from gridpod.cli import COMMANDS

    covered = {argv[0] for _id, argv, _words in CASES if argv}
    assert set(COMMANDS) <= covered, set(COMMANDS) - covered


def test_version():
    proc = gridpod("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("gridpod 0.") and "firmware" in proc.stdout


def test_an_unexpected_error_is_one_line_and_debug_shows_the_stack(tmp_path):
    """A bug (an exception gridpod did not expect) is still one line with what to do; --debug
    prints the stack. The bug is planted by a sitecustomize that breaks the doctor's check."""
    (tmp_path / "sitecustomize.py").write_text(
        "import gridpod.device.doctor as d\n"
        "def broken(*a, **k):\n"
        "    raise ZeroDivisionError('planted')\n"
        "d.report = broken\n"
    )
    env = dict(ENV, PYTHONPATH=f"{tmp_path}{os.pathsep}{ENV['PYTHONPATH']}")
    for debug, want_stack in (([], False), (["--debug"], True)):
        proc = subprocess.run(
            [sys.executable, "-m", "gridpod.cli", *debug, "doctor"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert proc.returncode == 3, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("gridpod doctor: error: unexpected ZeroDivisionError: planted")
        assert "--debug" in last
        assert ("Traceback" in proc.stderr) == want_stack, proc.stderr
        if not want_stack:
            assert len(proc.stderr.strip().splitlines()) == 1
