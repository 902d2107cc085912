"""`make mutate`: apply each curated mutant (gridpod.hil.mutants) to a copy of the repository and
run the tests named with it; a mutant is killed when they fail. Prints one line per mutant with
the test that killed it, and exits 1 when any survived (a safety function no test proves).

The copy (the files git tracks, plus the working tree's changes) lives in a temporary folder, so
the checkout is never left mutated, whatever happens; the tests run there with this Python, one
mutant at a time, stopping at the first failure.

    python -m gridpod.hil.mutate [--only M01,M05] [--list]
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .mutants import MUTANTS

REPO = Path(__file__).resolve().parents[3]
_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


def _copy_repo(dst: Path) -> None:
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in files:
        if not name:
            continue
        src = REPO / name.decode()
        if src.is_file():
            target = dst / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def check_catalogue() -> list[str]:
    """Every mutant's original text occurs exactly once in its file."""
    problems = []
    for ident, _what, path, original, replacement, _tests in MUTANTS:
        text = (REPO / path).read_text()
        n = text.count(original)
        if n != 1:
            problems.append(f"{ident}: {path} holds the original text {n} times (needs 1)")
        if original == replacement:
            problems.append(f"{ident}: the replacement changes nothing")
    return problems


def run_mutant(copy: Path, mutant) -> tuple[bool, str, float]:
    """(killed, killing test or why not, seconds)."""
    _ident, _what, path, original, replacement, tests = mutant
    target = copy / path
    text = target.read_text()
    target.write_text(text.replace(original, replacement, 1))
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=copy,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        return True, "timed out (the mutant hung the tests)", time.monotonic() - t0
    finally:
        target.write_text(text)
    seconds = time.monotonic() - t0
    if proc.returncode == 0:
        return False, "survived", seconds
    failed = _FAILED.findall(proc.stdout)
    return True, failed[0] if failed else f"pytest exit {proc.returncode}", seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gridpod.hil.mutate", description=__doc__)
    ap.add_argument("--only", help="comma-separated mutant ids, e.g. M01,M05")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = ap.parse_args(argv)
    problems = check_catalogue()
    if problems:
        for p in problems:
            print("mutate: error:", p, file=sys.stderr)
        return 2
    chosen = [m for m in MUTANTS if not args.only or m[0] in args.only.split(",")]
    if args.list:
        for ident, what, path, *_ in chosen:
            print(f"{ident}  {path:36s} {what}")
        return 0
    survivors = []
    with tempfile.TemporaryDirectory(prefix="gridpod-mutate-") as tmp:
        copy = Path(tmp)
        _copy_repo(copy)
        print(f"mutate: {len(chosen)} mutants, each against its tests (a copy in {copy})")
        for i, mutant in enumerate(chosen, 1):
            killed, by, seconds = run_mutant(copy, mutant)
            verdict = "killed" if killed else "SURVIVED"
            print(
                f"[{i}/{len(chosen)}] {mutant[0]} {verdict:8s} {mutant[1]}: {by} ({seconds:.0f} s)"
            )
            if not killed:
                survivors.append(mutant[0])
    print(
        f"mutate: {len(chosen) - len(survivors)} of {len(chosen)} killed"
        + (f"; survived: {', '.join(survivors)}" if survivors else "")
    )
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
