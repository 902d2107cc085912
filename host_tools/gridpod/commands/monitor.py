"""`gridpod monitor`: live telemetry, faults and loop timing of a module over Modbus RTU.

One read of every input register per refresh, grouped by input-register address range into the
sections of the view and of the `--json` object (identity, telemetry, faults, status, timing)."""

import json
import time

from ..device.config import firmware_config
from ..modbus.client import GridpodModbus
from ..modbus.faults import active_names
from ..modbus.register_map import REGISTERS
from ._args import int_in, one_of_ints, seconds

# section -> input-register addresses [first, last] (comms/register_map.py layout); the second
# fault words (ids 30..59, map v4) sit at 115-118 and are shown with the faults
FAULT_WORDS_HI = ("faults_active_hi", "faults_latched_hi")
SECTIONS = (
    ("telemetry", 0, 99),
    ("faults", 100, 104),
    ("status", 105, 119),
    ("timing", 120, 139),
    ("modbus", 140, 199),
)


def add_arguments(p) -> None:
    baud_rates = tuple(firmware_config().BAUD_RATES)  # the rates a module's config accepts
    p.add_argument("--port", required=True, help="serial port (e.g. /dev/ttyUSB0 or a vboard pty)")
    p.add_argument(
        "--unit", type=int_in(1, 247, "Modbus unit addresses"), default=1, help="unit (1)"
    )
    p.add_argument(
        "--baud", type=one_of_ints(baud_rates, "the module's rates"), default=19200, help="(19200)"
    )
    p.add_argument("--parity", default="E", choices=("E", "N"), help="parity (E)")
    p.add_argument(
        "--interval",
        type=seconds(0.1, "the refresh period", 3600.0),
        default=1.0,
        help="refresh period in seconds (1)",
    )
    p.add_argument("--once", action="store_true", help="read once and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object per read")


def _section(addr: int) -> str:
    for name, first, last in SECTIONS:
        if first <= addr <= last:
            return name
    return "other"


def snapshot(client: GridpodModbus) -> dict:
    values = client.read_many([n for n, r in REGISTERS.items() if r.kind == "I"])
    snap: dict = {"identity": client.identity}
    for name, _, _ in SECTIONS:
        snap[name] = {}
    for name, v in values.items():
        section = "faults" if name in FAULT_WORDS_HI else _section(REGISTERS[name].addr)
        snap.setdefault(section, {})[name] = v
    f = snap["faults"]
    f["active"] = active_names(f.get("faults_active") or 0, f.get("faults_active_hi") or 0)
    f["latched"] = active_names(f.get("faults_latched") or 0, f.get("faults_latched_hi") or 0)
    return snap


def _render(snap: dict) -> str:
    ident = snap["identity"]
    lines = [
        f"module {ident['module_id']}  map v{ident['map_version']}  fw {ident['firmware_version']:#06x}"
    ]
    for section, values in snap.items():
        if section == "identity":
            continue
        lines.append(section)
        for name, v in values.items():
            unit = REGISTERS[name].unit if name in REGISTERS else "-"
            if isinstance(v, list):
                lines.append(f"  {name:<26} {', '.join(v) or 'none'}")
                continue
            shown = "n/a" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))
            lines.append(f"  {name:<26} {shown:>12} {'' if unit == '-' else unit}")
    return "\n".join(lines)


def run(args) -> int:
    client = GridpodModbus(args.port, args.unit, args.baud, args.parity)
    try:
        while True:
            snap = snapshot(client)
            if args.json:
                print(json.dumps(snap), flush=True)
            else:
                print("\x1b[2J\x1b[H" if not args.once else "", end="")
                print(_render(snap), flush=True)
            if args.once:
                return 0
            time.sleep(args.interval)
    finally:
        client.close()
