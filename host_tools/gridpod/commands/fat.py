"""`gridpod fat`: factory acceptance test on a virtual module or a board -> report folder."""

from ..fat import run_fat


def add_arguments(p) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--virtual", action="store_true", help="run on a virtual module")
    where.add_argument("--port", help="run on the board at this serial port")
    p.add_argument("--module-id", help="module id printed on the certificate")
    p.add_argument("--report", default="reports/fat", help="report folder (reports/fat)")


def run(args) -> int:
    bench = "virtual" if args.virtual else f"serial:{args.port}"
    summary = run_fat(bench, args.report, args.module_id)
    c = summary["counts"]
    print(
        f"FAT {summary['verdict']}: {c['passed']} passed, {c['failed']} failed, "
        f"{c['skipped']} skipped; report {args.report}/fat.html"
    )
    return 0 if summary["verdict"] == "PASS" else 1
