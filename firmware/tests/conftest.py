"""pytest setup for firmware unit tests: firmware/ and the CPython `micropython` shim on sys.path.

Firmware test modules are plain functions with plain asserts so that firmware/tests/mpy_runner.py
runs the very same files on the MicroPython unix port (see test_on_micropython.py).
"""

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent
for _p in (_TESTS, _TESTS.parent, _TESTS / "shim"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
