"""Deploy times on the virtual board beside a plain `mpremote cp -r` of the same tree.

Figures (wall seconds, this host, virtual board at --speed 1 over its console pty):
- deploy full: a fresh board (blank littlefs) gets every file;
- deploy no-op: the same deploy again while the application runs: decided on its service channel
  (its status, then its own check of every file against its manifest), nothing sent, nothing
  restarted; and how long it took to decide that nothing had to be sent (deploy_noop_check_s);
  also as the `gridpod deploy` command, Python start-up included, as a technician sees it;
- deploy one file: one module changed (the running application is stopped, with yes=True as
  `--yes` gives it; one file sent, verified, switched, app restarted);
- mpremote cp -r full: the files deploy writes (same .mpy, same board.json) copied by the
  unmodified mpremote CLI to another fresh board; and the same command again, when mpremote
  (1.23 and later) hashes each file and skips the unchanged ones.

Both ways end on a board running the new firmware only for deploy (it restarts the app and waits
for its boot banner, or leaves a running one alone when nothing changed); the plain copy does
neither, so the comparison favours mpremote (and its Ctrl-C stops the application).
The VM heap is 128 KiB as in test_deploy: deploy is timed here, not the application's heap.
Nothing here asserts; `python -m gridpod.perf.deploy` prints the figures and ratios.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..build.tree import FIRMWARE_DIR
from ..device.deploy import build, deploy
from ..vboard.flash import create_blank
from ..vboard.supervisor import VirtualBoard

BENCH_HEAP_BYTES = 128 * 1024
BOARD = "VIRTUAL"
CHANGED_MODULE = "app/state.py"  # any module works; this one is small and always present
NOOP_TARGET_S = 1.0
SPEEDUP_TARGET = 5.0


def _quiet(_line: str) -> None:
    pass


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    return round(time.perf_counter() - t0, 3), value


def _run(cmd: list[str], timeout_s: float = 300.0) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed: {result.stderr.strip()[-300:]}")
    return result


def _mpremote_cp(port: str, tree: Path) -> float:
    """`mpremote connect PORT fs cp -r <every top-level entry of tree> :` in tree; wall seconds."""
    entries = sorted(p.name for p in tree.iterdir())
    cmd = [sys.executable, "-m", "mpremote", "connect", port, "fs", "cp", "-r", *entries, ":"]
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tree, timeout=300)
    seconds = round(time.perf_counter() - t0, 3)
    if result.returncode:
        raise RuntimeError(f"mpremote cp -r failed: {result.stderr.strip()[-300:]}")
    return seconds


def _fresh_board(tmp: Path, name: str, console_baud: int | None) -> VirtualBoard:
    flash = tmp / f"{name}.img"
    create_blank(flash)
    return VirtualBoard(
        flash=flash, speed=1, heap_bytes=BENCH_HEAP_BYTES, console_baud=console_baud
    )


def deploy_benchmark(firmware_dir: Path = FIRMWARE_DIR, console_baud: int | None = None) -> dict:
    """Time deploy (full, no-op, one file) and mpremote cp -r on fresh virtual boards.

    console_baud None: a native-USB console (RP2040, S3); 115200: an ESP32 DevKitC's USB-UART."""
    with tempfile.TemporaryDirectory(prefix="gridpod-perf-deploy-") as tmp_name:
        tmp = Path(tmp_name)
        changed = tmp / "firmware-changed"
        shutil.copytree(firmware_dir, changed, ignore=shutil.ignore_patterns("tests"))
        with open(changed / CHANGED_MODULE, "a") as f:
            f.write("\nBENCH_DEPLOY_CHANGED = 1\n")

        with _fresh_board(tmp, "deploy", console_baud) as vb:
            port = vb.console_port
            arch = _device_arch(port)
            full_s, full = _timed(deploy, port, BOARD, firmware_dir, log=_quiet)
            marks: list[float] = []  # when deploy says "up to date": the check is done
            t0 = time.perf_counter()
            noop_s, noop = _timed(
                deploy,
                port,
                BOARD,
                firmware_dir,
                log=lambda line: "up to date" in line and marks.append(time.perf_counter()),
            )
            noop_check_s = round(marks[0] - t0, 3) if marks else None
            cli = [sys.executable, "-m", "gridpod.cli", "deploy", "--port", port]
            noop_cli_s, _ = _timed(_run, cli + ["--firmware-dir", str(firmware_dir)])
            one_s, one = _timed(deploy, port, BOARD, changed, log=_quiet, yes=True)

        files, _manifest = build(BOARD, arch, firmware_dir)
        tree = tmp / "tree"
        for path, data in files.items():
            dst = tree / path.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
        with _fresh_board(tmp, "copy", console_baud) as vb:
            cp_full_s = _mpremote_cp(vb.console_port, tree)
            cp_again_s = _mpremote_cp(vb.console_port, tree)

    return {
        "console_baud": console_baud,
        "board": BOARD,
        "mpy_arch": arch,
        "files": full["files"],
        "tree_bytes": sum(len(d) for d in files.values()),
        "deploy_full_s": full_s,
        "deploy_full_sent": len(full["sent"]),
        "deploy_noop_s": noop_s,
        "deploy_noop_sent": len(noop["sent"]),
        "deploy_noop_restarted": noop.get("restarted", True),
        "deploy_noop_check_s": noop_check_s,
        "deploy_noop_cli_s": noop_cli_s,
        "deploy_one_file_s": one_s,
        "deploy_one_file_sent": len(one["sent"]),
        "mpremote_cp_full_s": cp_full_s,
        "mpremote_cp_again_s": cp_again_s,
        "speedup_noop_vs_cp_full": round(cp_full_s / noop_s, 1),
        "speedup_noop_cli_vs_cp_full": round(cp_full_s / noop_cli_s, 1),
        "speedup_noop_vs_cp_again": round(cp_again_s / noop_s, 1),
        "speedup_one_file_vs_cp_full": round(cp_full_s / one_s, 1),
    }


def _device_arch(port: str) -> str | None:
    from ..device.session import Device

    with Device(port, log=_quiet) as dev:
        dev.raw()
        return dev.implementation()["mpy_arch"]


def main() -> int:
    for baud, line in ((None, "native USB console"), (115200, "USB-UART bridge at 115200 baud")):
        report(deploy_benchmark(console_baud=baud), line)
    return 0


def report(r: dict, line: str) -> None:
    print(
        f"deploy vs mpremote cp -r, virtual board, {line}, {r['files']} files, {r['tree_bytes']} B"
    )
    print(json.dumps(r))
    print(
        f"deploy full {r['deploy_full_s']} s ({r['deploy_full_sent']} sent), "
        f"no-op {r['deploy_noop_s']} s ({r['deploy_noop_sent']} sent, "
        f"{'app restarted' if r['deploy_noop_restarted'] else 'app left running'}, decided after "
        f"{r['deploy_noop_check_s']} s; "
        f"{r['deploy_noop_cli_s']} s as a command), "
        f"one file {r['deploy_one_file_s']} s ({r['deploy_one_file_sent']} sent)"
    )
    print(f"mpremote cp -r full {r['mpremote_cp_full_s']} s, again {r['mpremote_cp_again_s']} s")
    print(
        f"no-op deploy: {r['speedup_noop_vs_cp_full']}x faster than cp -r full "
        f"({r['speedup_noop_cli_vs_cp_full']}x as a command; target >= {SPEEDUP_TARGET:g}x), "
        f"{r['speedup_noop_vs_cp_again']}x vs cp -r again; "
        f"under {NOOP_TARGET_S:g} s: {'yes' if r['deploy_noop_s'] < NOOP_TARGET_S else 'NO'}"
    )


if __name__ == "__main__":
    sys.exit(main())
