"""`gridpod vboard`: run one virtual module until Ctrl-C, SIGTERM or --run-for.

The firmware runs in the MicroPython VM; the plant model (gridpod.plant: coolant loop, battery,
contactors, PCS, AI load, sensors) plays the module around it, with a load profile and a seed,
faults scheduled with --fault or injected while it runs through the control socket
(`gridpod vboard-fault`), a CSV trace of the plant (--trace) and the invariant monitors
(--monitors). `--plant stub` runs the stub instead (healthy constants, no physics).
"""

import json
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from .. import GridpodError
from ..build.tree import firmware_files, romfs_layout
from ..plant.load_profiles import PROFILES
from ..units import parse_size, parse_speed
from ..vboard.board_file import load_board_file
from ..vboard.flash import DEFAULT_SIZE, install_tree
from ..vboard.supervisor import VirtualBoard

DEFAULT_PROFILE, DEFAULT_SEED = "training", 1
EXIT_VIOLATION = 3  # --monitors: an invariant was violated during the run
MODEL_ONLY = ("profile", "seed", "fault", "trace", "monitors", "control")


def add_arguments(p) -> None:
    p.add_argument("--board", default="VIRTUAL", help="board folder under boards/ (VIRTUAL)")
    p.add_argument("--flash", help="littlefs2 flash image; created and formatted when missing")
    p.add_argument("--flash-size", default=str(DEFAULT_SIZE), help="size of a new image (2M)")
    p.add_argument(
        "--heap", help="VM heap for the firmware (default: the board's budget), e.g. 160K"
    )
    p.add_argument(
        "--speed", default="1", help="1 = wall clock, N = N times faster, max = lockstep"
    )
    p.add_argument(
        "--run-for", type=float, metavar="SIM_SECONDS", help="stop after this much simulated time"
    )
    p.add_argument(
        "--stats", action="store_true", help="print one JSON line of run figures at exit"
    )
    p.add_argument("--link-console", metavar="PATH", help="symlink to the console (REPL) pty")
    p.add_argument("--link-modbus", metavar="PATH", help="symlink to the rs485 (Modbus) pty")
    p.add_argument(
        "--install-firmware",
        action="store_true",
        help="write firmware/ and the board file into the flash before power-on",
    )
    p.add_argument(
        "--romfs",
        action="store_true",
        help="with --install-firmware: compiled modules in a ROMFS image mounted at /rom (run in "
        "place, as `mpremote romfs deploy` puts them on a board; the full module is measured in this layout)",
    )
    cfg = p.add_mutually_exclusive_group()
    cfg.add_argument(
        "--config",
        metavar="FILE",
        help="module config JSON to install as /config.json before power-on (checked first by "
        "the firmware's own rules, as `gridpod config validate`)",
    )
    cfg.add_argument(
        "--full-module",
        action="store_true",
        help="install the full-module config: schema defaults with cooling_enabled, "
        "battery_enabled and grid_enabled on",
    )
    p.add_argument(
        "--plant",
        choices=("model", "stub"),
        default="model",
        help="model: the plant model (default); stub: healthy constants, no physics",
    )
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help=f"AI load profile of the plant ({DEFAULT_PROFILE})",
    )
    p.add_argument("--seed", type=int, help=f"plant random seed ({DEFAULT_SEED})")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:K=V,...][@T[-T2]]",
        help="inject a plant fault at simulated time T seconds (0 without @), cleared at T2 when "
        "given, e.g. leak:zone=1@60 or pump_seized:pump=1@30-90; repeatable. "
        "`gridpod vboard-fault --list` lists the faults and their parameters",
    )
    p.add_argument(
        "--trace", metavar="FILE.csv", help="write the plant's signals as CSV while it runs"
    )
    p.add_argument(
        "--trace-period",
        type=float,
        default=1.0,
        metavar="SIM_SECONDS",
        help="trace sample period (1); discrete output edges and fault changes add rows",
    )
    p.add_argument(
        "--monitors",
        action="store_true",
        help=f"invariant monitors on: each violation one line on stderr, exit {EXIT_VIOLATION}",
    )
    p.add_argument(
        "--control",
        metavar="PATH",
        help="UNIX socket for `gridpod vboard-fault` (default: a temporary path; the JSON "
        "banner names it)",
    )
    p.add_argument("--quiet", action="store_true", help="do not copy the console to stderr")
    p.add_argument(
        "--stall-timeout",
        type=float,
        default=10.0,
        metavar="WALL_SECONDS",
        help="with --run-for: give up when the simulated clock stands still this long",
    )


def _check_options(args) -> list:
    """Everything a person typed, checked before anything is built: (faults, config bytes)."""
    from ..vboard.scenario import fault_spec

    if args.romfs and not args.install_firmware:
        raise GridpodError("--romfs builds the image from firmware/: add --install-firmware")
    if args.plant == "stub":
        given = [f"--{n}" for n in MODEL_ONLY if getattr(args, n) not in (None, [], False)]
        if given:
            raise GridpodError(f"{given[0]} needs the plant model: drop --plant stub")
    if args.trace_period <= 0:
        raise GridpodError(f"--trace-period {args.trace_period:g}: use a positive number")
    if args.control:
        from ..vboard.control import prepare_path

        prepare_path(Path(args.control))  # a file in the way is an error before the build
    return [fault_spec(spec) for spec in args.fault]


def _config_bytes(args) -> bytes | None:
    if args.full_module:
        from ..hil.operator import module_config

        return module_config()
    if not args.config:
        return None
    from ..device import config

    try:
        values = config.validate_file(Path(args.config))
    except GridpodError as e:  # one line: the file's errors after its first line's colon
        head, *errors = [line.strip() for line in str(e).splitlines()]
        raise GridpodError(" ".join([head, "; ".join(errors)]).strip()) from None
    data = config.firmware_config().encode(values)
    return data.encode() if isinstance(data, str) else data


def _flash_files(args, config_data):
    files, image = None, None
    if args.install_firmware:
        from ..device.deploy import CACHE_DIR

        files = firmware_files(args.board, rom=args.romfs, cache_dir=CACHE_DIR)
        if args.romfs:
            files, image = romfs_layout(files)
    if config_data is not None:
        files = dict(files or {}, **{"/config.json": config_data})
    return files, image


def run(args) -> int:
    load_board_file(args.board)
    speed = parse_speed(args.speed)
    heap = parse_size(args.heap) if args.heap else None
    faults = _check_options(args)
    config_data = _config_bytes(args)
    module = None if args.plant == "stub" else _Module(args, faults)
    try:
        return _run(args, speed, heap, config_data, module)
    finally:
        if module is not None:
            module.close()


def _run(args, speed, heap, config_data, module) -> int:
    files, image = _flash_files(args, config_data)
    board = VirtualBoard(
        flash=args.flash,
        flash_size=parse_size(args.flash_size),
        heap_bytes=heap,
        speed=speed,
        board=args.board,
        link_console=args.link_console,
        link_modbus=args.link_modbus,
        console_echo=None if args.quiet else _echo,
        run_for_s=args.run_for,
        romfs=image,
        plant=None if module is None else module.monitored,
    )
    if files is not None:
        install_tree(board.flash_path, files)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with board:
        banner = {"console": board.console_port, "modbus": board.modbus_port}
        if module is not None:
            banner.update(module.start(board))
        else:
            banner["plant"] = "stub"
        print(json.dumps(banner), flush=True)
        if not args.quiet:
            _where_to_connect(banner)
        error = _wait(board, args, stop, module)
        if module is not None:
            module.finish(board)
        if args.stats:
            print(json.dumps(board.stats()), flush=True)
    if error:
        raise GridpodError(error)
    if module is not None and module.monitored.violations:
        return EXIT_VIOLATION
    return 0


def _wait(board, args, stop, module) -> str | None:
    """Until Ctrl-C, SIGTERM, --run-for or a stuck clock; the error text or None."""
    last_sim_ms, last_change = board.sim_ms, time.monotonic()
    while not stop.is_set() and not board.finished.is_set():
        if module is not None:
            module.report()
        if board.stopped_reason:
            return f"{board.stopped_reason}; console ends with: {_tail(board, 1)[0]}" + _hint(
                board, args
            )
        board.wait_sim_change(0.2)
        if board.sim_ms != last_sim_ms:
            last_sim_ms, last_change = board.sim_ms, time.monotonic()
        elif args.run_for is not None and time.monotonic() - last_change > args.stall_timeout:
            return (
                f"simulated clock stuck at {board.sim_ms / 1000:.3f} s: the firmware scan "
                f"loop is not running; console ends with: {' | '.join(_tail(board, 2))}"
                + _hint(board, args)
            )
    return None


class _Module:
    """The plant model of one run, its monitors, trace, scheduled faults and control socket."""

    def __init__(self, args, faults):
        from ..hil.monitors import MonitoredPlant
        from ..plant import Plant

        self.profile = args.profile or DEFAULT_PROFILE
        self.seed = DEFAULT_SEED if args.seed is None else args.seed
        self.plant = Plant(seed=self.seed, profile=self.profile)
        self.monitored = MonitoredPlant(self.plant, enabled=("all",) if args.monitors else ())
        self.args = args
        self.trace = None
        self.server = None
        self._tmp = None
        self._events = 0
        self._violations = 0
        if args.trace:
            self.trace = _open_trace(Path(args.trace), args.trace_period)
            self.monitored.recorders.append(self.trace)
        for f in faults:  # before power-on: an @0 fault is there from the first tick
            self.plant.faults.schedule(f.name, f.at_s or 0.0, f.clear_at_s, **f.params)

    def start(self, board) -> dict:
        from ..vboard.control import ControlServer, register_bench_hooks

        register_bench_hooks(board, self.plant)
        if self.args.control:
            path = Path(self.args.control)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="gridpod-vboard-")
            path = Path(self._tmp.name) / "control.sock"
        self.server = ControlServer(path, board, self.monitored, self.trace)
        info = {"control": str(path), "plant": "model", "profile": self.profile, "seed": self.seed}
        if self.trace is not None:
            info["trace"] = str(self.trace.path)
        return info

    def report(self) -> None:
        """Faults injected or cleared and invariant violations since the last call, one line
        each on stderr (read from lists the supervisor thread only appends to)."""
        log = self.plant.faults.log
        from ..vboard.scenario import format_fault

        while self._events < len(log):
            t_ms, what, name, params = log[self._events]
            self._events += 1
            _say(f"t = {t_ms / 1000:.3f} s: fault {format_fault(name, params)} {what}ed")
        violations = self.monitored.violations
        while self._violations < len(violations):
            _say(str(violations[self._violations]))
            self._violations += 1

    def finish(self, board) -> None:
        """Last report; the trace gets a row at the time the run ended."""
        from ..vboard.control import in_board

        if self.server is not None:
            self.server.close()
            self.server = None
        if self.trace is not None and self.trace.last_ms != self.plant.now_ms:
            in_board(board, lambda: self.trace.sample(self.plant))
        self.report()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.trace is not None:
            self.trace.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def _open_trace(path: Path, period_s: float):
    from ..vboard.trace import TraceWriter

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return TraceWriter(path, period_s)
    except OSError as e:
        raise GridpodError(f"--trace {path}: cannot write ({e.strerror or e})") from None


def _where_to_connect(banner: dict) -> None:
    _say(f"console (REPL): mpremote connect {banner['console']}")
    _say(f"modbus (RS-485): gridpod monitor --port {banner['modbus']}")
    if "control" in banner:
        _say(f"faults: gridpod vboard-fault --control {banner['control']} inject leak:zone=1")
    if "trace" in banner:
        _say(f"trace: {banner['trace']}")


def _say(text: str) -> None:
    sys.stderr.write(f"gridpod vboard: {text}\n")
    sys.stderr.flush()


def _tail(board: VirtualBoard, lines: int) -> list[str]:
    """The last lines the firmware printed (the supervisor's own [vboard] notes left out)."""
    tail = bytes(board.console_log[-600:]).decode(errors="replace")
    mine = [ln for ln in tail.splitlines() if ln.strip() and not ln.startswith("[vboard]")]
    return mine[-lines:] or ["(no console output)"]


def _hint(board: VirtualBoard, args) -> str:
    """What to do about a board that stopped or never ran its application."""
    log = bytes(board.console_log)
    if b"MemoryError" in log:
        return (
            f"; the heap ({args.heap or f'{board.heap_bytes} bytes'}) is too small for this "
            "firmware: leave out --heap for the board's budget, or add --romfs"
        )
    if b"gridpod: module" not in log and b"main.py" not in log:
        return (
            "; no Gridpod application started: is firmware installed? add --install-firmware, "
            "or run `gridpod deploy --port <console> --board VIRTUAL` while it runs"
        )
    return ""


def _echo(data: bytes) -> None:
    sys.stderr.buffer.write(data)
    sys.stderr.buffer.flush()
