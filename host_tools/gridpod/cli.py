"""`gridpod` command line: one sub-command per job, each a thin shell over a library function.

A command is a module in gridpod.commands with add_arguments(parser) and run(args) -> int.
Every failure ends as ONE line on stderr, "gridpod <cmd>: error: <what is wrong>: <what to do>",
and a non-zero exit: 1 for an expected failure (GridpodError, a file the user named), 2 for a
usage error (argparse), 130 for Ctrl-C, 3 for a bug in gridpod itself. `--debug` (or
GRIDPOD_DEBUG=1) also prints the stack of any error.
"""

import argparse
import importlib
import os
import sys
import traceback

from . import GridpodError, __version__

COMMANDS = {
    "doctor": "check Python, dependencies, the VM, serial ports and what answers on them",
    "flash": "write the base MicroPython image (esptool for ESP32, UF2 for RP2040)",
    "deploy": "incremental, verified, atomic firmware upload to one or many boards",
    "config": "create, validate, push, pull or diff the module configuration",
    "vboard": "run a virtual module: the real MicroPython VM behind two serial ports",
    "vboard-fault": "inject or clear a plant fault in a running `gridpod vboard`",
    "monitor": "live telemetry, faults and loop timing of a module over Modbus RTU",
    "stop": "stop a board's application (outputs safe) for work at its REPL; asks first",
    "start": "start a board's application again (it also restarts when its window ends)",
    "fat": "factory acceptance test -> JUnit, JSON and an HTML certificate",
}
EXIT_ERROR, EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPTED = 1, 2, 3, 130


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the command and where the help is (the
    default prints the whole usage block first, which buries the problem)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def version_text() -> str:
    """gridpod's version, and the firmware and register map this copy deploys and reads."""
    try:
        from .build.tree import import_firmware
        from .modbus.register_map import MAP_VERSION

        v = import_firmware("app.version")
        fw = f"{v.FIRMWARE_VERSION_MAJOR}.{v.FIRMWARE_VERSION_MINOR}"
        return f"gridpod {__version__} (firmware {fw}, register map v{MAP_VERSION})"
    except Exception:  # noqa: BLE001 - an installed copy without firmware/ still has a version
        return f"gridpod {__version__}"


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = OneLineParser(prog="gridpod", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument("--debug", action="store_true", help="print the stack of any error")
    # --debug also after the command (`gridpod monitor --debug ...`); SUPPRESS keeps the value
    # given before the command when it is not repeated after it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the stack of any error",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )
    modules = {}
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"gridpod.commands.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        module.add_arguments(p)
        modules[name] = module
    return parser, modules


def describe(exc: BaseException) -> tuple[str, int]:
    """(one line: what is wrong and what to do, exit status) for an exception nobody handled."""
    if isinstance(exc, GridpodError):
        return str(exc), EXIT_ERROR
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}: check the path, the port and their permissions", EXIT_ERROR
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return (
        f"unexpected {what}; this is a bug in gridpod: run the command again with --debug and "
        "report the stack it prints",
        EXIT_BUG,
    )


def main(argv=None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("GRIDPOD_DEBUG") == "1"
    try:
        return modules[args.command].run(args) or 0
    except KeyboardInterrupt:
        print(f"gridpod {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place a stack may reach a user: --debug
        if debug:
            traceback.print_exc()
        line, status = describe(exc)
        first, *more = line.splitlines() or [""]
        # a GridpodError may list details below its first line (config validate: one per key)
        print(f"gridpod {args.command}: error: {first}", file=sys.stderr)
        for detail in more:
            print(detail, file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
