"""MicroPython's own test suite (`tests/run-tests.py -t <port>`) against the virtual board, beside
the plain unix port: does the board pass what the unix port passes?

    python -m gridpod.perf.mp_tests --micropython MP [--dirs basics micropython ...] [--out DIR]
    make mp-tests MP=<folder>

MP is a MicroPython source folder (`tests/`, `tools/`, `extmod/` and
`lib/micropython-lib/python-stdlib/unittest/`), at the commit the VM was built from (1.29.0
preview: upstream 13303f8d29, micropython-lib 8380c7bb8f; review 2026-12-03 fidelity.md has the
commands that make it). The virtual board is an empty one (no firmware) at its board's heap
budget, `unittest` copied into its `/lib` as `mpremote mip install unittest` would on a board.
run-tests.py runs under this Python (it needs pyserial), CPYTHON3 too (expected output of tests
without a .exp file). Both runs go to DIR (results JSON, outputs of failures).

It prints each run's pass/fail/skip counts and wall time, then every test that passes on the
unix port and not on the board, with the reason when it is a known difference a real board also
has (KNOWN below, README "MicroPython's test suite on the virtual board"). Exit status 1 when a
difference is not known: a fidelity regression. Minutes of wall time: never part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..vboard.flash import FlashImage, create_blank
from ..vboard.supervisor import VirtualBoard

DIRS = ("basics", "micropython", "extmod", "float", "unicode", "misc")
UNITTEST = "lib/micropython-lib/python-stdlib/unittest/unittest/__init__.py"

# Tests that pass on the unix port and not on the virtual board, because a real ESP32/RP2 board
# would not pass them either (the reason says why). Anything else is a fidelity bug.
_BOARD_SKIP = "run-tests.py skips it on every board (sys.platform is not a PC's)"
_NO_VFSPOSIX = "no VfsPosix (the host filesystem), as on a board"
_HEAP = "MemoryError at the board's heap budget: the test skips, as on a board with that heap"
KNOWN = {
    "basics/exception_chain.py": _BOARD_SKIP + "; a board prints no warning",
    "basics/sys_path.py": "no __file__ for code sent through the raw REPL, as on a board",
    "extmod/re_stack_overflow2.py": _HEAP + " (passes at --heap 256K)",
    "extmod/vfs_fat_ramdisklarge.py": _HEAP + " (a 4 GiB FAT; skips at 256K too)",
    "extmod/vfs_posix.py": _NO_VFSPOSIX,
    "extmod/vfs_posix_enoent.py": _NO_VFSPOSIX,
    "extmod/vfs_posix_ilistdir_del.py": _NO_VFSPOSIX,
    "extmod/vfs_posix_ilistdir_filter.py": _NO_VFSPOSIX,
    "extmod/vfs_posix_paths.py": _NO_VFSPOSIX,
    "extmod/vfs_posix_readonly.py": _NO_VFSPOSIX,
    "micropython/meminfo.py": _BOARD_SKIP + "; a board's memory layout differs",
    "misc/sys_atexit.py": "no sys.atexit, as in the ESP32 and RP2 builds",
    "unicode/file1.py": _BOARD_SKIP + "; reads a host file",
    "unicode/file2.py": _BOARD_SKIP + "; reads a host file",
    "unicode/file_invalid.py": _BOARD_SKIP + "; reads a host file",
}


def unix_micropython() -> str:
    return str(Path(sys.executable).with_name("micropython"))


def run_tests(mp: Path, target: list[str], dirs, results: Path, env_extra=None) -> float:
    """One run-tests.py run; its wall time in seconds."""
    env = dict(os.environ, CPYTHON3=sys.executable, **(env_extra or {}))
    cmd = [sys.executable, "run-tests.py", *target, "-r", str(results), "-d", *dirs]
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=mp / "tests", env=env, check=False)
    return time.monotonic() - t0


def results_of(folder: Path) -> dict[str, str]:
    with open(folder / "_results.json") as f:
        return {name: result for name, result, *_ in json.load(f)["results"]}


def counts(results: dict[str, str]) -> str:
    n = {k: sum(1 for v in results.values() if v == k) for k in ("pass", "fail", "skip")}
    return f"{n['pass']} pass / {n['fail']} fail / {n['skip']} skip"


def board_flash(path: Path, mp: Path) -> Path:
    """A blank board with unittest in /lib."""
    create_blank(path)
    img = FlashImage(path)
    img.write("/lib/unittest/__init__.py", (mp / UNITTEST).read_bytes())
    img.save()
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gridpod.perf.mp_tests", description=__doc__)
    ap.add_argument("--micropython", required=True, type=Path, help="MicroPython source folder")
    ap.add_argument("--dirs", nargs="+", default=list(DIRS), help="test folders")
    ap.add_argument("--out", type=Path, default=Path("build/mp-tests"), help="results folder")
    ap.add_argument("--heap", type=int, default=None, help="board heap budget in bytes")
    ap.add_argument("--no-unix", action="store_true", help="skip the unix port's run")
    args = ap.parse_args(argv)
    mp = args.micropython.resolve()
    if not (mp / "tests" / "run-tests.py").exists() or not (mp / UNITTEST).exists():
        print(f"mp_tests: {mp} needs tests/run-tests.py and {UNITTEST}", file=sys.stderr)
        return 2
    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    lines = []
    if not args.no_unix:
        wall = run_tests(
            mp, [], args.dirs, out / "unix", {"MICROPY_MICROPYTHON": unix_micropython()}
        )
        unix = results_of(out / "unix")
        lines.append(f"unix port: {counts(unix)} in {wall:.0f} s")
    with tempfile.TemporaryDirectory(prefix="gridpod-mp-tests-") as tmp:
        flash = board_flash(Path(tmp) / "flash.img", mp)
        with VirtualBoard(flash=flash, speed=1, heap_bytes=args.heap) as vb:
            wall = run_tests(mp, ["-t", vb.console_port], args.dirs, out / "vboard")
            stats = vb.stats()
    board = results_of(out / "vboard")
    lines.append(
        f"virtual board: {counts(board)} in {wall:.0f} s "
        f"(resets {stats['resets']}, soft reboots {stats['soft_reboots']})"
    )
    unknown = 0
    if not args.no_unix:
        for name in sorted(unix):
            if unix[name] == "pass" and board.get(name) != "pass":
                reason = KNOWN.get(name)
                unknown += reason is None
                lines.append(
                    f"  {name}: {board.get(name)}: {reason or 'NOT KNOWN: a fidelity bug?'}"
                )
    print("\n".join(lines))
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
