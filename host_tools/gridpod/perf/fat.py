"""`make fat`'s wall time: the module FAT on one virtual module, run once through the real CLI.

Goal (issue #14): under 2 minutes wall on 2 cores. A test cannot check wall time honestly on a
shared machine, so the figure lives here: `python -m gridpod.perf.fat` prints the verdict, the
counts and the wall time beside the goal, and the CPU time the run used (the figure that does not
depend on what else the machine runs). Nothing here asserts.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WALL_GOAL_S = 120.0


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cpu0, t0 = _children_cpu_s(), time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "gridpod.cli", "fat", "--virtual", "--report", tmp],
            capture_output=True,
            text=True,
            timeout=900,
            env=dict(os.environ),
        )
        wall_s, cpu_s = time.monotonic() - t0, _children_cpu_s() - cpu0
        report = Path(tmp) / "fat.json"
        if not report.exists():
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            print(f"make fat: no report ({last[0]})")
            return 1
        s = json.loads(report.read_text())
    load_1min = os.getloadavg()[0]
    print(
        f"make fat (virtual module): {s['verdict']}, {len(s['tests'])} tests, "
        f"{len(s['requirements'])} requirements, {s['plot_count']} plots in {wall_s:.1f} s wall "
        f"[goal < {WALL_GOAL_S:.0f} s], {cpu_s:.1f} s CPU, host load {load_1min:.1f} "
        f"on {os.cpu_count()} cores"
    )
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
