"""`gridpod flash --port P --image FILE --board B [--erase]`: the base MicroPython image."""

from pathlib import Path

from ..boards.check import load_board
from ..flash import check_image, describe_check, flash_board
from ..userfiles import read_bytes
from ._many import add_port_arguments, run_on_ports


def add_arguments(p) -> None:
    add_port_arguments(p)
    p.add_argument(
        "--image", required=True, help="MicroPython .bin (ESP32 family) or .uf2 (RP2040)"
    )
    p.add_argument("--board", required=True, help="board folder under boards/, e.g. ESP32_DEVKITC")
    p.add_argument("--erase", action="store_true", help="erase the whole flash first (ESP32)")
    p.add_argument("--check-only", action="store_true", help="check the image, touch no device")


def run(args) -> int:
    if args.check_only:
        info = check_image(Path(args.image), args.board)
        print(f"flash: {describe_check(info, args.board)}")
        return 0
    load_board(args.board)  # a typo in the board or the image path: refused before any port
    read_bytes(args.image, "image")

    def job(port, log):
        result = flash_board(port, Path(args.image), args.board, erase=args.erase, log=log)
        result["summary"] = f"{result['bytes']} bytes written and verified"
        return result

    return run_on_ports(args, job)
