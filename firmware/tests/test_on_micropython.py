"""Run every firmware test module again on the MicroPython unix port via mpy_runner.py.

The only firmware test file that uses pytest: one case per test module, -X heapsize= the
VIRTUAL board's heap budget (boards/VIRTUAL/board.json) except the App-level modules in HEAP_KB: the App plus the fake HAL and
the test code need ~60 KiB live on the 64-bit unix port, where every pointer and object header is
twice the size it is on an ESP32/RP2040. Fails with the runner's output. Firmware and tests are first
compiled with mpy-cross, as `gridpod deploy` does for a board: compiling .py on the device
fragments a small heap (parse trees interleave with the bytecode that stays), which real
deployments avoid. The modules run from .mpy, the test logic is the same file pytest runs.
"""

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
FIRMWARE = TESTS.parent
BIN = Path(sys.executable).parent
MICROPYTHON = BIN / "micropython"
MPY_CROSS = BIN / "mpy-cross"
# Heap per module where the board's budget is not enough on the 64-bit unix port (see above).
# Each about 16 KiB above the smallest heap that passes (measured, 8 KiB steps).
HEAP_KB = {
    "test_fw_app": 232,  # the App with the service channel (as test_fw_service)
    "test_fw_config_trial": 288,  # Apps booted through the trial, full-module boot attempt (272 passes)
    "test_fw_service": 232,  # the App and a few files per test (216 is the smallest that passes)
    "test_fw_modes": 232,
    "test_fw_alloc": 192,  # + the service channel (its console stream and reply line)
    "test_fw_config": 192,  # the control objects' defaults vs the tuning vectors
    "test_fw_modbus_slave": 96,  # the register map text and a bank per test
    "test_fw_modbus_points": 200,  # the App (and its service channel)
    "test_fw_ctl_cooling": 136,  # the config schema, parsed once for support.control_cfg
    "test_fw_ctl_grid": 136,  # the same
    "test_fw_ctl_contactors": 136,  # the same
    "test_fw_pack_limits": 136,  # the same, and the whole fault table
}
BOARD_HEAP_BYTES = json.loads((FIRMWARE.parent / "boards/VIRTUAL/board.json").read_text())[
    "heap_bytes"
]
MODULES = sorted(p.stem for p in TESTS.glob("test_*.py") if p.name != Path(__file__).name)


@functools.lru_cache(maxsize=1)
def _compiled_tree():
    out = Path(tempfile.mkdtemp(prefix="gridpod-mpy-"))
    sources = [
        p
        for d in ("app", "comms", "control", "drivers", "hal")
        for p in (FIRMWARE / d).rglob("*.py")
    ]
    sources += [p for p in TESTS.glob("*.py") if p.name not in ("conftest.py", Path(__file__).name)]
    for src in sources:
        rel = src.relative_to(TESTS if src.parent == TESTS else FIRMWARE).with_suffix(".mpy")
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(MPY_CROSS), "-s", src.name, "-o", str(dst), str(src)],
            check=True,
            capture_output=True,
        )
    shutil.copy(TESTS / "mpy_runner.py", out / "mpy_runner.py")
    return out


@pytest.mark.parametrize("module", MODULES)
def test_module_on_micropython(module):
    if not MICROPYTHON.exists() or not MPY_CROSS.exists():
        pytest.skip(f"MicroPython unix port or mpy-cross not found in {BIN}")
    tree = _compiled_tree()
    env = dict(os.environ, MICROPYPATH=f".frozen:{tree}")
    proc = subprocess.run(
        [
            str(MICROPYTHON),
            "-X",
            "heapsize=%d" % (HEAP_KB[module] * 1024 if module in HEAP_KB else BOARD_HEAP_BYTES),
            str(tree / "mpy_runner.py"),
            module,
        ],
        cwd=str(tree),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    last = output.strip().splitlines()[-1] if output.strip() else ""
    assert proc.returncode == 0 and last.endswith(" 0 failed"), output
