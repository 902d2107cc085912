"""`gridpod vboard`: run one virtual module until Ctrl-C, SIGTERM or --run-for."""

import json
import signal
import sys
import threading
import time

from .. import GridpodError
from ..build.tree import firmware_files, romfs_layout
from ..units import parse_size, parse_speed
from ..vboard.board_file import load_board_file
from ..vboard.flash import DEFAULT_SIZE, install_tree
from ..vboard.supervisor import VirtualBoard


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
    p.add_argument("--quiet", action="store_true", help="do not copy the console to stderr")
    p.add_argument(
        "--stall-timeout",
        type=float,
        default=10.0,
        metavar="WALL_SECONDS",
        help="with --run-for: give up when the simulated clock stands still this long",
    )


def run(args) -> int:
    load_board_file(args.board)
    speed = parse_speed(args.speed)
    heap = parse_size(args.heap) if args.heap else None
    if args.romfs and not args.install_firmware:
        raise GridpodError("--romfs builds the image from firmware/: add --install-firmware")
    files, image = None, None
    if args.install_firmware:
        files = firmware_files(args.board, rom=args.romfs)
        if args.romfs:
            files, image = romfs_layout(files)
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
    )
    if files is not None:
        install_tree(board.flash_path, files)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    error = None
    with board:
        print(json.dumps({"console": board.console_port, "modbus": board.modbus_port}), flush=True)
        last_sim_ms, last_change = board.sim_ms, time.monotonic()
        while not stop.is_set() and not board.finished.is_set():
            if board.stopped_reason:
                error = board.stopped_reason
                break
            board.wait_sim_change(0.2)
            if board.sim_ms != last_sim_ms:
                last_sim_ms, last_change = board.sim_ms, time.monotonic()
            elif args.run_for is not None and time.monotonic() - last_change > args.stall_timeout:
                tail = bytes(board.console_log[-300:]).decode(errors="replace").strip()
                last = tail.splitlines()[-2:] if tail else ["(no console output)"]
                error = (
                    f"simulated clock stuck at {board.sim_ms / 1000:.3f} s: the firmware scan "
                    f"loop is not running; console ends with: {' | '.join(last)}"
                )
                break
        if args.stats:
            print(json.dumps(board.stats()), flush=True)
    if error:
        raise GridpodError(error)
    return 0


def _echo(data: bytes) -> None:
    sys.stderr.buffer.write(data)
    sys.stderr.buffer.flush()
