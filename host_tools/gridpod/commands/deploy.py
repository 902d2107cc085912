"""`gridpod deploy --port P [--port P2 ...|--all] [--board B] [--yes]`: incremental verified
firmware sync. A board whose application runs and already holds this firmware is left alone (no
restart); one that needs files says that the deploy stops its application and asks first (with
several boards, no question is asked: --yes, or such a board is left untouched)."""

from pathlib import Path

from ..build.tree import FIRMWARE_DIR
from ..device.deploy import DeployError, check_firmware_dir, deploy
from ..multi import resolve_ports
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
    p.add_argument("--yes", action="store_true", help="stop a running application without asking")


def _no_question(question: str) -> str:
    raise DeployError(
        f"{question.split('. ')[0]}: its application runs; with several boards pass --yes "
        "to stop and update it (nothing sent)"
    )


def run(args) -> int:
    check_firmware_dir(Path(args.firmware_dir), args.board)  # one line, before any port opens
    several = len(resolve_ports(args.port, args.all)) > 1

    def job(port, log):
        return deploy(
            port,
            args.board,
            Path(args.firmware_dir),
            log=log,
            timeout_s=args.timeout,
            yes=args.yes,
            ask=_no_question if several else input,
        )

    return run_on_ports(args, job)
