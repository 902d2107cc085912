"""`gridpod fat`: factory acceptance test on a virtual module or a board -> report folder.

One board runs in this process. Several (`--virtual --boards N`, `--port` repeated, `--all`) run
in parallel, one `gridpod fat` child process each, with DIR/<board>/ (fat-junit.xml, fat.json,
fat.html) and DIR/<board>.log, then one summary table. `--labgrid PLACE [PLACE ...]` runs on
labgrid places, acquired and released through labgrid's coordinator (gridpod/labgrid/places.py).

The session pushes the unit's production config first (--config FILE, or the full module's:
every subsystem on), then identifies the unit from what it reports and runs the module FAT.
Steps that need a person on a physical module are prompted (--guided) or answered from a file
(--answers); operator and witness names go on the certificate.

Exit status: 0 PASS (everything measured in its band, nothing skipped), 1 FAIL (the firmware
failed a requirement), 2 BENCH ERROR (the bench or its options broke the run: VM did not start
or boot, port vanished, a mistyped option; the firmware was not judged), 4 INCOMPLETE (something
was not judged: a skipped step, a partial run). With several boards: 2 if any board had a bench
error, else 1 if any failed, else 4 if any was incomplete, else 0."""

import argparse
import json
import sys
from pathlib import Path

from .. import GridpodError
from ..fat.run import (
    EXIT_CODES,
    FAT_DIR,
    FatError,
    FatSession,
    run_fat,
    run_fat_boards,
    warm_compile_cache,
)
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
    p.add_argument(
        "--module-id",
        help="module id of the production config built in (several: ID-<board>); with --config "
        "it must match the file's",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="the unit's production config, pushed first (default: the full module's, every "
        "subsystem on); its operator PIN in the environment variable GRIDPOD_FAT_PIN",
    )
    p.add_argument(
        "--modbus-port", help="with --port: the module's RS-485 port (a USB-RS485 adapter)"
    )
    p.add_argument("--operator", default="", help="name of the FAT operator (certificate)")
    p.add_argument("--witness", default="", help="name of the witness (certificate)")
    who = p.add_mutually_exclusive_group()
    who.add_argument(
        "--guided",
        action="store_true",
        help="prompt a person at this terminal for the steps that need one (press the E-stop, "
        "wet a leak rope, look at a pump)",
    )
    who.add_argument(
        "--answers",
        metavar="FILE",
        help='answers to the guided steps from a JSON file {"step": "done" | "yes" | "no"}',
    )
    p.add_argument("--board", help="board file of the unit (default: VIRTUAL, or the port's)")
    p.add_argument(
        "--firmware-dir",
        help="with --virtual: deploy this firmware tree (default: the repository's firmware/)",
    )
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
    try:
        check_options(args)
    except GridpodError as e:  # the bench's options, never a firmware verdict
        print(f"gridpod fat: error: {e} (bench error: nothing was tested)", file=sys.stderr)
        return EXIT_CODES["BENCH ERROR"]
    if args.labgrid:
        from ..labgrid.places import run_places

        return run_places(args, run_one)
    ports = [] if args.virtual else resolve_ports(args.port, args.all)
    if args.virtual and args.boards == 1 or len(ports) == 1:
        return run_one(args, "virtual" if args.virtual else f"serial:{ports[0]}", args.module_id)
    return run_many_boards(args, ports)


def check_options(args) -> None:
    """Everything typed is checked before a bench is opened (FatError / GridpodError)."""
    if args.boards < 1:
        raise FatError("--boards must be 1 or more")
    if args.coordinator and not args.labgrid:
        raise FatError("--coordinator is for --labgrid")
    if args.labgrid:
        from ..labgrid.places import need_labgrid

        need_labgrid()
    if args.boards > 1 and not args.virtual:
        raise FatError("--boards is for --virtual; for real boards repeat --port or use --all")
    # a typo in the bench setup is one line now, not seventy "failed" requirements later
    if args.heap:
        parse_size(args.heap)
    if not Path(args.suite).is_dir():
        raise FatError(f"--suite {args.suite}: no such folder (the FAT tests are in {FAT_DIR})")
    if args.firmware_dir and not args.virtual:
        raise FatError("--firmware-dir is for --virtual (a board runs what was deployed on it)")
    if args.modbus_port and (args.virtual or len(args.port or []) != 1):
        raise FatError("--modbus-port goes with one --port (the module's console)")
    if args.firmware_dir:
        from ..device.deploy import check_firmware_dir

        check_firmware_dir(Path(args.firmware_dir))
    session_for(args, args.module_id)  # the config, the PIN and the answers are checked now
    output_dir(args.report, "--report")


def run_many_boards(args, ports: list[str]) -> int:
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
    common += ["--config", args.config] if args.config else []
    common += ["--firmware-dir", args.firmware_dir] if args.firmware_dir else []
    common += ["--answers", args.answers] if args.answers else []
    common += ["--operator", args.operator, "--witness", args.witness]
    results, code = run_fat_boards(boards, Path(args.report), common, args.timeout)
    print(summary_table(results, label="board"))
    verdict = {v: k for k, v in EXIT_CODES.items()}.get(code, "BENCH ERROR")
    passed = sum(1 for r in results if r["ok"])
    print(f"FAT {verdict}: {passed} of {len(results)} boards passed; reports in {args.report}/")
    return code


def session_for(args, module_id: str | None) -> FatSession:
    """The run's FatSession: the production config and its PIN, who answers the guided steps,
    the operator and witness. Every file named is read here, before any bench is opened."""
    from ..fat.guided import ScriptedOperator, TerminalOperator
    from ..fat.production import fat_pin, production_values

    values = production_values(args.config, module_id)
    pin = fat_pin(args.config)
    operator = None
    if args.guided:
        operator = TerminalOperator(name=args.operator or "operator")
    elif args.answers:
        try:
            answers = json.loads(Path(args.answers).read_text())
        except (OSError, ValueError) as e:
            raise FatError(f"--answers {args.answers}: {e}") from None
        if not isinstance(answers, dict):
            raise FatError(f"--answers {args.answers}: not a JSON object {{step: answer}}")
        operator = ScriptedOperator(answers)
    people = {"operator": args.operator, "witness": args.witness}
    return FatSession(production=values, pin=pin, operator=operator, people=people)


def board_of(args, bench: str) -> str:
    """The unit's board file: --board, VIRTUAL for the virtual module, else the port's own."""
    if args.board:
        return args.board
    if bench == "virtual" or bench.startswith("labgrid"):
        return "VIRTUAL"  # a labgrid place: --board names the unit's board file
    from ..device.session import Device

    port = bench.partition(":")[2]
    if not Path(port).exists():
        raise FatError(f"no serial port {port}: plug the board in or check `gridpod doctor`")
    try:
        with Device(port, log=lambda _line: None, read_only=True) as dev:
            app = dev.probe()  # a running application names its board and keeps running
            if app is not None:
                board = app.get("board")
            else:  # nothing answers: the board file through the raw REPL, then a restart
                board = (dev.read_json("/board.json") or {}).get("board")
                dev.restart_app()
    except GridpodError as e:
        raise FatError(f"{bench}: cannot read the board file ({e}); pass --board") from e
    if not board:
        raise FatError(f"{bench}: the unit has no /board.json; pass --board")
    return board


def run_one(args, bench: str, module_id: str | None, extra: list[str] | None = None) -> int:
    try:
        session = session_for(args, module_id)
        extra = list(extra or []) + [f"--bench-board={board_of(args, bench)}"]
        extra += [f"--bench-heap={args.heap}"] if args.heap else []
        extra += [f"--bench-firmware-dir={args.firmware_dir}"] if args.firmware_dir else []
        extra += [f"--bench-modbus={args.modbus_port}"] if args.modbus_port else []
        summary = run_fat(
            bench, args.report, module_id, extra, Path(args.suite), args.select, session
        )
    except GridpodError as e:  # the suite could not run: a bench problem, not a firmware verdict
        print(
            f"gridpod fat: error: {e} (bench error: the firmware was not judged)", file=sys.stderr
        )
        return EXIT_CODES["BENCH ERROR"]
    c = summary["counts"]
    rc = summary["requirement_counts"]
    partial = f" ({summary['selection']})" if args.select else ""
    print(
        f"FAT {summary['verdict']}{partial}: {c['passed']} passed, {c['failed']} failed, "
        f"{c['skipped']} skipped, {c['bench error']} bench errors; requirements "
        f"{rc['PASS']} of {rc['total']} passed; {summary['measurement_count']} measured values, "
        f"{summary['plot_count']} plots; report {args.report}/fat.html"
    )
    return EXIT_CODES.get(summary["verdict"], EXIT_CODES["BENCH ERROR"])
