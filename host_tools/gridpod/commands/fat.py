"""`gridpod fat`: factory acceptance test on a virtual module or a board -> report folder.

One board runs in this process. Several (`--virtual --boards N`, `--port` repeated, `--all`) run
in parallel, one `gridpod fat` child process each, with DIR/<board>/ (fat-junit.xml, fat.json,
fat.html) and DIR/<board>.log, then one summary table. `--labgrid PLACE [PLACE ...]` runs on
labgrid places, acquired and released through labgrid's coordinator (gridpod/labgrid/places.py).

Exit status: 0 PASS, 1 FAIL (the firmware failed a requirement), 2 BENCH ERROR (the bench broke:
VM did not start or boot, port vanished; the firmware was not judged). With several boards: 2 if
any board had a bench error, else 1 if any failed, else 0."""

import argparse
import sys
from pathlib import Path

from ..fat.run import FAT_DIR, FatError, run_fat, run_fat_boards, warm_compile_cache
from ..multi import log_name, resolve_ports, summary_table
from ..units import parse_size
from ..userfiles import output_dir
from ._args import int_in, seconds


def add_arguments(p) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--virtual", action="store_true", help="run on virtual modules")
    where.add_argument(
        "--port", action="append", help="run on the board at this serial port (repeat for several)"
    )
    where.add_argument("--all", action="store_true", help="every USB serial port")
    where.add_argument(
        "--labgrid",
        nargs="+",
        metavar="PLACE",
        help="run on these labgrid places (acquired, then released, through the coordinator)",
    )
    p.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="with --labgrid: labgrid coordinator ($LG_COORDINATOR, else 127.0.0.1:20408)",
    )
    p.add_argument("--labgrid-held", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--boards",
        type=int_in(1, 64, "virtual modules"),
        default=1,
        help="with --virtual: how many modules (1)",
    )
    p.add_argument("--module-id", help="module id on the certificate (several: ID-<board>)")
    p.add_argument("--report", default="reports/fat", help="report folder (reports/fat)")
    p.add_argument("--heap", help="virtual module heap budget (default: the board file's)")
    p.add_argument(
        "-k",
        dest="select",
        metavar="EXPR",
        help="run only the FAT tests matching this pytest -k expression (a partial run: the "
        "certificate says so)",
    )
    p.add_argument("--suite", default=str(FAT_DIR), help="FAT test folder (hil_tests/fat)")
    p.add_argument(
        "--timeout",
        type=seconds(1.0, "the time per board"),
        default=900.0,
        help="seconds per board when several (900)",
    )


def run(args) -> int:
    if args.boards < 1:
        raise FatError("--boards must be 1 or more")
    if args.coordinator and not args.labgrid:
        raise FatError("--coordinator is for --labgrid")
    if args.labgrid:
        from ..labgrid.places import need_labgrid, run_places

        need_labgrid()
    if args.boards > 1 and not args.virtual:
        raise FatError("--boards is for --virtual; for real boards repeat --port or use --all")
    # a typo in the bench setup is one line now, not twelve "failed" requirements later
    if args.heap:
        parse_size(args.heap)
    if not Path(args.suite).is_dir():
        raise FatError(f"--suite {args.suite}: no such folder (the FAT tests are in {FAT_DIR})")
    output_dir(args.report, "--report")
    if args.labgrid:
        return run_places(args, run_one)
    ports = [] if args.virtual else resolve_ports(args.port, args.all)
    if args.virtual and args.boards == 1 or len(ports) == 1:
        return run_one(args, "virtual" if args.virtual else f"serial:{ports[0]}", args.module_id)
    if args.virtual:
        boards = {f"board-{n}": ["--virtual"] for n in range(1, args.boards + 1)}
        warm_compile_cache()
    else:
        boards = {log_name(p)[: -len(".log")]: ["--port", p] for p in ports}
    for label, bench_args in boards.items():
        if args.module_id:
            bench_args += ["--module-id", f"{args.module_id}-{label}"]
    common = ["--suite", args.suite]
    common += ["--heap", args.heap] if args.heap else []
    common += ["-k", args.select] if args.select else []
    results, code = run_fat_boards(boards, Path(args.report), common, args.timeout)
    print(summary_table(results, label="board"))
    verdict = {0: "PASS", 1: "FAIL"}.get(code, "BENCH ERROR")
    passed = sum(1 for r in results if r["ok"])
    print(f"FAT {verdict}: {passed} of {len(results)} boards passed; reports in {args.report}/")
    return code


def run_one(args, bench: str, module_id: str | None, extra: list[str] | None = None) -> int:
    extra = list(extra or []) + ([f"--bench-heap={args.heap}"] if args.heap else [])
    try:
        summary = run_fat(bench, args.report, module_id, extra, Path(args.suite), args.select)
    except FatError as e:  # the suite could not run: a bench problem, not a firmware verdict
        print(f"gridpod fat: error: {e}", file=sys.stderr)
        return 2
    c = summary["counts"]
    partial = f" ({summary['selection']})" if args.select else ""
    print(
        f"FAT {summary['verdict']}{partial}: {c['passed']} passed, {c['failed']} failed, "
        f"{c['skipped']} skipped, {c['bench error']} bench errors; report {args.report}/fat.html"
    )
    return {"PASS": 0, "FAIL": 1}.get(summary["verdict"], 2)
