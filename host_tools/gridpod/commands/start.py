"""`gridpod start --port P`: start a board's application again (a soft reset into main.py) and
wait for its boot banner; a running application is left alone."""

from ..device.app_control import start
from ._args import seconds


def add_arguments(p) -> None:
    p.add_argument("--port", required=True, help="the board's console (USB) port")
    p.add_argument(
        "--timeout",
        type=seconds(1.0, "the wait for a healthy app"),
        default=30.0,
        help="seconds to wait for a healthy app (30)",
    )


def run(args) -> int:
    result = start(args.port, timeout_s=args.timeout)
    print(f"start: {result['summary']}")
    return 0
