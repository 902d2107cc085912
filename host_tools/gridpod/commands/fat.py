"""`gridpod fat`: factory acceptance test on a virtual module or a board -> report folder.

Exit status: 0 PASS, 1 FAIL (the firmware failed a requirement), 2 BENCH ERROR (the bench broke:
VM did not start or boot, port vanished; the firmware was not judged)."""

from ..fat import run_fat


def add_arguments(p) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--virtual", action="store_true", help="run on a virtual module")
    where.add_argument("--port", help="run on the board at this serial port")
    p.add_argument("--module-id", help="module id printed on the certificate")
    p.add_argument("--report", default="reports/fat", help="report folder (reports/fat)")
    p.add_argument("--heap", help="virtual module heap budget (default: the board file's)")


def run(args) -> int:
    bench = "virtual" if args.virtual else f"serial:{args.port}"
    extra = [f"--bench-heap={args.heap}"] if args.heap else []
    summary = run_fat(bench, args.report, args.module_id, extra)
    c = summary["counts"]
    print(
        f"FAT {summary['verdict']}: {c['passed']} passed, {c['failed']} failed, "
        f"{c['skipped']} skipped, {c['bench error']} bench errors; report {args.report}/fat.html"
    )
    return {"PASS": 0, "FAIL": 1}.get(summary["verdict"], 2)
