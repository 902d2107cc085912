"""`gridpod deploy --port P [--port P2 ...|--all] [--board B]`: incremental verified firmware sync."""

from pathlib import Path

from ..build.tree import FIRMWARE_DIR
from ..device.deploy import check_firmware_dir, deploy
from ._args import seconds
from ._many import add_port_arguments, run_on_ports


def add_arguments(p) -> None:
    add_port_arguments(p)
    p.add_argument("--board", help="board folder under boards/ (default: the device's board.json)")
    p.add_argument("--firmware-dir", default=str(FIRMWARE_DIR), help="firmware tree (firmware/)")
    p.add_argument(
        "--timeout",
        type=seconds(1.0, "the wait for a healthy app"),
        default=30.0,
        help="seconds to wait for a healthy app (30)",
    )


def run(args) -> int:
    check_firmware_dir(Path(args.firmware_dir), args.board)  # one line, before any port opens

    def job(port, log):
        return deploy(port, args.board, Path(args.firmware_dir), log=log, timeout_s=args.timeout)

    return run_on_ports(args, job)
