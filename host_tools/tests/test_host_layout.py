"""The host package keeps its shape (ARCHITECTURE.md "Host tools", STYLE.md): grouped by job, not
a flat folder; modules of about 400 lines at most, each opening with a docstring.

A new top-level entry or a module over the limit is a decision: add it below with its reason."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "host_tools" / "gridpod"
MAX_LINES = 400

# The top level: the CLI and what every job shares, then one folder per job.
# userfiles.py: the checks every command makes before it writes a user's path (nothing the user
# owns is destroyed), shared by device, flash, fat and vboard jobs.
TOP_FILES = {"__init__.py", "cli.py", "multi.py", "units.py", "userfiles.py"}
TOP_FOLDERS = {
    "commands",  # one file per CLI sub-command
    "boards",  # chip tables, board-file checks
    "build",  # the firmware as it goes onto a board; CI checks
    "device",  # jobs on one device over its console: session, deploy, config, event log, doctor
    "modbus",  # register map, client, generated docs
    "harness",  # the board <-> host harness protocol: L1 and L2 stand on it
    "vboard",  # the virtual board (L1)
    "plant",  # the plant model
    "flash",  # base MicroPython images onto real chips
    "hil",  # benches, capabilities, strategy, pytest plugin, monitors, soak
    "fat",  # factory acceptance run and reports
    "perf",  # `make bench` figures (benchmarks)
    "labgrid",  # benches on many hosts through labgrid: driver, strategy, exporter files
}

# Modules allowed over MAX_LINES, each with its reason.
LONG_MODULES = {
    "hil/mutants.py": (
        "a data table, one 8-line entry per curated mutant, grouped by safety function; split "
        "across files it would lose the one place the safety case (docs/safety.md) cites"
    ),
    "vboard/supervisor.py": (
        "the virtual board's lifecycle in one class (VM process, ports, harness loop, power "
        "events, stats): its parts share the board's lock and state"
    ),
    "vboard/runtime/vm_main.py": (
        "one script that runs inside the MicroPython VM before the flash is mounted; a second "
        "module would be compiled on the VM heap, its name and file adding qstrs against the "
        "board's budget (the 64 KiB module is a few qstrs from a new pool block, docs/heap.md)"
    ),
}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_top_level_is_grouped_by_job():
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    files = {n for n in entries if (PACKAGE / n).is_file()}
    folders = entries - files
    assert files == TOP_FILES, (
        f"top-level files changed: new {sorted(files - TOP_FILES)}, gone "
        f"{sorted(TOP_FILES - files)}: put a module in the folder of its job"
    )
    assert folders == TOP_FOLDERS, (
        f"top-level folders changed: new {sorted(folders - TOP_FOLDERS)}, gone "
        f"{sorted(TOP_FOLDERS - folders)}: a new job folder is listed here on purpose"
    )
    missing_init = [
        str(p.relative_to(PACKAGE))
        for p in sorted(PACKAGE.rglob("*"))
        if p.is_dir()
        and p.name not in ("__pycache__", "runtime")  # vboard/runtime: data run by the VM
        and not (p / "__init__.py").exists()
    ]
    assert missing_init == [], (
        f"packages without __init__.py (find_packages skips them): {missing_init}"
    )


def test_modules_are_at_most_400_lines_or_listed_with_a_reason():
    lengths = {
        p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines()) for p in modules()
    }
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    unlisted = {name: n for name, n in too_long.items() if name not in LONG_MODULES}
    assert not unlisted, f"over {MAX_LINES} lines: {unlisted}; split by job or list with a reason"
    stale = sorted(set(LONG_MODULES) - set(too_long))
    assert not stale, f"back under {MAX_LINES} lines or gone, drop from LONG_MODULES: {stale}"


def test_every_module_opens_with_a_docstring():
    missing = [
        p.relative_to(PACKAGE).as_posix()
        for p in modules()
        if ast.get_docstring(ast.parse(p.read_text())) is None
    ]
    assert missing == [], f"modules without a docstring saying what they are: {missing}"
