"""`gridpod monitor`: live telemetry, faults and loop timing of a module over Modbus RTU.

One read of every input register per refresh, grouped by input-register address range into the
sections of the view and of the `--json` object (identity, telemetry, faults, status, timing).
Faults are shown by name (modbus/faults.py) and state registers as words (modbus/states.py); the
`--json` object keeps every raw number and adds the names ("active", "latched") and the words
("states"). On a terminal the live view is one rich table redrawn in place that fits the window
(values that are n/a are left out there; `--once` shows them all).
Given a board's console instead of its RS-485 port, the same reads go to the running application
on its service channel (modbus/console_client.py): Modbus bytes on a console would stop it."""

import json
import sys
import time

from ..device.config import firmware_config
from ..modbus.client import GridpodModbus
from ..modbus.console_client import open_client
from ..modbus.faults import active_names
from ..modbus.register_map import REGISTERS
from ..modbus.states import word
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
    snap["states"] = {
        name: w
        for section in snap.values()
        for name, v in list(section.items())
        if (w := word(name, v)) is not None
    }
    return snap


def _firmware(ident: dict) -> str:
    v = ident.get("firmware_version")
    return "?" if v is None else f"{v >> 8}.{v & 0xFF}"


def _header(snap: dict) -> list[str]:
    ident = snap["identity"]
    timing, states = snap.get("timing", {}), snap.get("states", {})
    uptime = timing.get("uptime_s")
    return [
        f"module {ident['module_id']}  firmware {_firmware(ident)}  map v{ident['map_version']}  "
        f"mode {states.get('run_mode', '?')}"
        + (f"  up {_duration(uptime)}" if uptime is not None else ""),
        f"faults active: {', '.join(snap['faults']['active']) or 'none'}",
        f"faults latched: {', '.join(snap['faults']['latched']) or 'none'}",
    ]


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 86400}d {s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _rows(snap: dict, with_na: bool = True):
    """(section, [(name, shown value, unit)]) of every section, words for state registers."""
    states = snap.get("states", {})
    for section, values in snap.items():
        if section in ("identity", "states"):
            continue
        rows = []
        for name, v in values.items():
            if isinstance(v, list):
                continue  # fault names: in the header
            if v is None and not with_na:
                continue
            unit = REGISTERS[name].unit if name in REGISTERS else "-"
            if name in states:
                shown, unit = states[name], "-"
            else:
                shown = "n/a" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))
            rows.append((name, shown, "" if unit == "-" else unit))
        yield section, rows


def _render(snap: dict) -> str:
    """The plain-text view (--once, or a pipe): every register, one per line."""
    lines = _header(snap)
    for section, rows in _rows(snap):
        lines.append(section)
        for name, shown, unit in rows:
            lines.append(f"  {name:<26} {shown:>12} {unit}".rstrip())
    return "\n".join(lines)


LIVE_SECTIONS = ("status", "telemetry", "timing", "modbus")  # most wanted first; fault names
NAME_CHARS, VALUE_CHARS, UNIT_CHARS = 23, 9, 5  # one cell: 39 characters, two fit in 80
CELL_CHARS = NAME_CHARS + VALUE_CHARS + UNIT_CHARS + 2
GAP_CHARS = 2


def _cell(name: str, shown: str, unit: str) -> str:
    """One value as a fixed-width cell: numbers right-aligned in the value column, then the
    unit; a word (a state) may use the unit's room too, and is cut with an ellipsis."""
    is_word = not unit and any(c.isalpha() for c in shown)
    room = VALUE_CHARS + (UNIT_CHARS + 1 if is_word else 0)
    if len(shown) > room:
        shown = shown[: room - 1] + "\u2026"
    text = f"{name[:NAME_CHARS]:<{NAME_CHARS}} {shown:>{room}}"
    return text if is_word else f"{text} {unit[:UNIT_CHARS]}".rstrip()


def _columns(lines: list[tuple[str, str]], columns: int, height: int) -> list[list]:
    """Flow lines into at most `columns` columns of at most `height` lines, balanced, with no
    section title left alone at the foot of a column."""
    per_column = min(height, max(1, -(-len(lines) // columns)))
    out: list[list] = [[]]
    for text, style in lines:
        title = style != ""
        full = len(out[-1]) >= per_column or (title and len(out[-1]) >= per_column - 1)
        if full and out[-1]:
            if len(out) == columns:
                break
            out.append([])
        out[-1].append((text, style))
    return out


def _fit(line: str, width: int) -> str:
    """A header line cut to the width, saying how many names did not fit."""
    if len(line) <= width:
        return line
    head, _, names = line.partition(": ")
    parts = names.split(", ")
    for keep in range(len(parts) - 1, -1, -1):
        text = f"{head}: {', '.join(parts[:keep])} +{len(parts) - keep} more"
        if len(text) <= width:
            return text
    return line[:width]


def live_view(snap: dict, width: int, height: int):
    """A rich renderable of `snap` that fits width x height: the header (identity, mode, fault
    names), then the sections flowed into as many columns as the width holds, most wanted
    first; n/a values are left out, and what does not fit is counted on the last line."""
    from rich.table import Table
    from rich.text import Text

    header_lines = [_fit(line, width) for line in _header(snap)]
    header = Text()
    for i, line in enumerate(header_lines):
        if i == 0:
            style = "bold"
        elif line.endswith(": none"):
            style = "green"
        else:
            style = "bold red" if i == 1 else "yellow"
        header.append(line, style=style)
        if i < len(header_lines) - 1:
            header.append("\n")
    sections = dict(_rows(snap, with_na=False))
    lines: list[tuple[str, str]] = []  # (text, style)
    hidden = 0
    for section in LIVE_SECTIONS:
        rows = sections.get(section, [])
        hidden += sum(1 for v in snap.get(section, {}).values() if v is None)
        if rows:
            lines.append((section, "bold cyan"))
            lines += [(_cell(*row), "") for row in rows]
    columns = max(1, (width + GAP_CHARS) // (CELL_CHARS + GAP_CHARS))
    room = max(1, height - len(header_lines) - 1)  # below the header, above the footer
    flowed = _columns(lines, columns, room)
    cut = len(lines) - sum(len(c) for c in flowed)
    grid = Table.grid(padding=(0, GAP_CHARS, 0, 0))
    cells = []
    for column in flowed:
        grid.add_column(no_wrap=True, overflow="crop", width=CELL_CHARS)
        cell = Text()
        for k, (text, style) in enumerate(column):
            cell.append(("\n" if k else "") + text, style=style)
        cells.append(cell)
    grid.add_row(*cells)
    footer = f"{hidden} values n/a not shown (--once shows every register)"
    if cut:
        footer = f"{cut} more lines: widen the window or use --once; {hidden} values n/a not shown"
    outer = Table.grid()
    outer.add_row(header)
    outer.add_row(grid)
    outer.add_row(Text(footer[:width], style="dim"))
    return outer


def run(args) -> int:
    client = open_client(args.port, args.unit, args.baud, args.parity)
    try:
        if args.once or args.json or not sys.stdout.isatty():
            return _print_reads(client, args)
        return _live(client, args)
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a live view ends
    finally:
        client.close()


def _print_reads(client: GridpodModbus, args) -> int:
    """One JSON object or one plain-text view per read (--once: one read)."""
    while True:
        snap = snapshot(client)
        print(json.dumps(snap) if args.json else _render(snap), flush=True)
        if args.once:
            return 0
        if not args.json:
            print(flush=True)
        time.sleep(args.interval)


def _live(client: GridpodModbus, args) -> int:
    """The live table on a terminal, redrawn in place, sized to the window at every read."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    with Live(console=console, auto_refresh=False, screen=False, transient=False) as live:
        while True:
            snap = snapshot(client)
            live.update(live_view(snap, console.width, console.height), refresh=True)
            time.sleep(args.interval)
