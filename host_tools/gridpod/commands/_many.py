"""Shared --port/--all/--log-dir handling: one port runs in the foreground, several in parallel."""

import sys
from pathlib import Path

from .. import GridpodError
from ..multi import resolve_ports, run_many, summary_table
from ..userfiles import output_dir


def add_port_arguments(p, required_port: bool = True) -> None:
    p.add_argument(
        "--port", action="append", default=[], help="serial port of a board (repeat for several)"
    )
    p.add_argument("--all", action="store_true", help="every USB serial port")
    p.add_argument(
        "--log-dir",
        default="reports/logs",
        help="one log file per board when several (reports/logs)",
    )


def run_on_ports(args, job) -> int:
    """job(port, log) -> dict with "summary". Prints progress, then one result line or a table."""
    ports = resolve_ports(args.port, args.all)
    if len(ports) == 1:
        result = job(ports[0], print)
        print(f"{args.command}: {result.get('summary', 'ok')}")
        return 0
    output_dir(args.log_dir, "--log-dir")  # before any board is touched
    results = run_many(ports, job, Path(args.log_dir))
    print(summary_table(results))
    failed = [r for r in results if not r["ok"]]
    if failed:
        print(f"{args.command}: {len(failed)} of {len(results)} boards FAILED", file=sys.stderr)
        return 1
    return 0


__all__ = ["GridpodError", "add_port_arguments", "run_on_ports"]
