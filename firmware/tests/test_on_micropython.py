"""Run every firmware test module again on the MicroPython unix port via mpy_runner.py.

The only firmware test file that uses pytest: one case per test module, -X heapsize=64K (the
VIRTUAL board's heap budget), failing with the runner's output.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
FIRMWARE = TESTS.parent
MICROPYTHON = Path(sys.executable).parent / "micropython"
MODULES = sorted(p.stem for p in TESTS.glob("test_*.py") if p.name != Path(__file__).name)


@pytest.mark.parametrize("module", MODULES)
def test_module_on_micropython(module):
    if not MICROPYTHON.exists():
        pytest.skip(f"MicroPython unix port not found at {MICROPYTHON}")
    env = dict(os.environ, MICROPYPATH=f".frozen:{FIRMWARE}:{TESTS}")
    proc = subprocess.run(
        [str(MICROPYTHON), "-X", "heapsize=64K", str(TESTS / "mpy_runner.py"), module],
        cwd=str(TESTS),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    last = output.strip().splitlines()[-1] if output.strip() else ""
    assert proc.returncode == 0 and last.endswith(" 0 failed"), output
