"""`gridpod doctor [--port P ...]`: environment, serial ports and permissions, what answers."""

from ..device.doctor import report


def add_arguments(p) -> None:
    p.add_argument("--port", action="append", default=[], help="also ask this port what runs on it")


def run(args) -> int:
    ok, lines = report(args.port)
    for line in lines:
        print(line)
    print("doctor: all checks passed" if ok else "doctor: some checks FAILED (see the fixes above)")
    return 0 if ok else 1
