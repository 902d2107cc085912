"""`gridpod` command line: one sub-command per job, each a thin shell over a library function.

A command is a module in gridpod.commands with add_arguments(parser) and run(args) -> int.
Expected failures (GridpodError) print one line "gridpod <cmd>: error: ..." and exit 1.
"""

import argparse
import importlib
import sys

from . import GridpodError

COMMANDS = {
    "doctor": "check Python, dependencies, the VM, serial ports and what answers on them",
    "flash": "write the base MicroPython image (esptool for ESP32, UF2 for RP2040)",
    "deploy": "incremental, verified, atomic firmware upload to one or many boards",
    "config": "validate, push, pull or diff the module configuration",
    "vboard": "run a virtual module: the real MicroPython VM behind two serial ports",
    "vboard-fault": "inject or clear a plant fault in a running `gridpod vboard`",
    "monitor": "live telemetry, faults and loop timing of a module over Modbus RTU",
    "fat": "factory acceptance test -> JUnit, JSON and an HTML certificate",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="gridpod", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"gridpod.commands.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        modules[name] = module
    args = parser.parse_args(argv)
    try:
        return modules[args.command].run(args) or 0
    except GridpodError as e:
        print(f"gridpod {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
