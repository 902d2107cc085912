"""`gridpod fat --labgrid PLACE [PLACE ...]`: the FAT on labgrid places, reserved through the
coordinator, one place or several in parallel.

One place, in this process: acquire it (`labgrid-client -p PLACE acquire`: refused when someone
holds it), run the FAT with labgrid's environment env.yaml (LG_PLACE=PLACE), exactly as
`pytest hil_tests/fat --lg-env host_tools/gridpod/labgrid/env.yaml` runs it, then release it,
whatever happened.

Several: this process acquires every place first (a place someone else holds is a BENCH ERROR
row, the others still run), runs one `gridpod fat --labgrid PLACE` child per place in parallel
(fat/run.run_fat_boards, as `--boards N` does), prints one table, and releases every place it
acquired, even when a child was killed.

The coordinator is --coordinator HOST:PORT, else $LG_COORDINATOR, else labgrid's default
127.0.0.1:20408. Who holds a place is labgrid's "host/user" (LG_HOSTNAME, LG_USERNAME).
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from ..fat.run import FatError
from ..hil.bench import BenchError

ENV_FILE = Path(__file__).resolve().with_name("env.yaml")
DEFAULT_COORDINATOR = "127.0.0.1:20408"
CLIENT_TIMEOUT_S = 60.0


class PlaceError(BenchError):
    pass


def default_coordinator() -> str:
    return os.environ.get("LG_COORDINATOR", DEFAULT_COORDINATOR)


def need_labgrid() -> None:
    if importlib.util.find_spec("labgrid") is None:
        raise FatError("--labgrid needs labgrid: pip install labgrid (make setup installs it)")


def labgrid_client(coordinator: str, *args: str) -> str:
    """Run labgrid's own client; its output, or PlaceError with its one-line error."""
    cmd = [sys.executable, "-m", "labgrid.remote.client", "-x", coordinator, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise PlaceError(f"labgrid-client {' '.join(args)}: no answer from {coordinator}") from None
    if proc.returncode:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        raise PlaceError(_client_error(lines, coordinator))
    return proc.stdout


def _client_error(lines: list[str], coordinator: str) -> str:
    if any("Could not connect to coordinator" in ln for ln in lines):
        return f"no labgrid coordinator answers at {coordinator}: start labgrid-coordinator or pass --coordinator HOST:PORT"
    last = lines[-1] if lines else "failed"
    for prefix in ("client.py: Error: ", "labgrid-client: error: ", "Error: "):
        last = last.removeprefix(prefix)
    return last


def acquire(place: str, coordinator: str) -> None:
    labgrid_client(coordinator, "-p", place, "acquire")


def release(place: str, coordinator: str) -> None:
    labgrid_client(coordinator, "-p", place, "release")


def run_places(args, run_one) -> int:
    """The `gridpod fat --labgrid` run; run_one is commands.fat.run_one (one bench here)."""
    places = list(dict.fromkeys(args.labgrid))
    coordinator = args.coordinator or default_coordinator()
    if len(places) == 1:
        return _run_one_place(args, run_one, places[0], coordinator)
    return _run_many_places(args, places, coordinator)


def _run_one_place(args, run_one, place: str, coordinator: str) -> int:
    os.environ.update(LG_PLACE=place, LG_COORDINATOR=coordinator)  # read by env.yaml, labgrid
    if not args.labgrid_held:
        try:
            acquire(place, coordinator)
        except PlaceError as e:
            print(f"gridpod fat: error: place {place}: {e}", file=sys.stderr)
            return 2
        print(f"acquired labgrid place {place} on {coordinator}", flush=True)
    try:
        return run_one(args, f"labgrid:{place}", args.module_id, ["--lg-env", str(ENV_FILE)])
    finally:
        if not args.labgrid_held:
            _release_and_say(place, coordinator)


def _release_and_say(place: str, coordinator: str) -> None:
    try:
        release(place, coordinator)
        print(f"released labgrid place {place}")
    except PlaceError as e:
        print(f"gridpod fat: warning: place {place} not released: {e}", file=sys.stderr)


def _run_many_places(args, places: list[str], coordinator: str) -> int:
    from ..fat.run import run_fat_boards
    from ..multi import summary_table

    report = Path(args.report)
    refused, held = {}, []
    for place in places:
        try:
            acquire(place, coordinator)
            held.append(place)
            print(f"acquired labgrid place {place} on {coordinator}", flush=True)
        except PlaceError as e:
            refused[place] = str(e)
            print(f"[{place}] not acquired: {e}")
    try:
        boards = {}
        for place in held:
            boards[place] = ["--labgrid", place, "--labgrid-held", "--coordinator", coordinator]
            if args.module_id:
                boards[place] += ["--module-id", f"{args.module_id}-{place}"]
        common = ["--suite", args.suite] + (["-k", args.select] if args.select else [])
        results, code = run_fat_boards(boards, report, common, args.timeout) if boards else ([], 2)
    finally:
        for place in held:
            _release_and_say(place, coordinator)
    for place, why in refused.items():
        results.append(_refused_row(place, why, report))
    results.sort(key=lambda r: places.index(r["port"]))
    code = 2 if refused else code
    print(summary_table(results, label="place"))
    from ..fat.run import EXIT_CODES

    verdict = {v: k for k, v in EXIT_CODES.items()}.get(code, "BENCH ERROR")
    passed = sum(1 for r in results if r["ok"])
    print(f"FAT {verdict}: {passed} of {len(results)} places passed; reports in {args.report}/")
    return code


def _refused_row(place: str, why: str, report: Path) -> dict:
    from ..multi import log_name

    log = report / log_name(place)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"not acquired: {why}\n")
    return {
        "port": place,
        "ok": False,
        "summary": f"BENCH ERROR: not acquired: {why}",
        "value": {"verdict": "BENCH ERROR"},
        "seconds": 0.0,
        "log": str(log),
    }
