"""`gridpod stop --port P [--yes]`: stop a board's application (outputs safe) for work at its REPL;
it starts again by itself when the board's maintenance window ends, or with `gridpod start`."""

from ..device.app_control import stop


def add_arguments(p) -> None:
    p.add_argument("--port", required=True, help="the board's console (USB) port")
    p.add_argument("--yes", action="store_true", help="stop without asking")


def run(args) -> int:
    result = stop(args.port, yes=args.yes)
    print(f"stop: {result['summary']}")
    return 0
