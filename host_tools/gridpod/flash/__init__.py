"""`gridpod flash`: write the base MicroPython image, chosen per board chip (see chips.FLASH_METHOD).

images.py  checks of .bin (ESP) and .uf2 (RP2040) files against a board: no device needed
esp.py     ESP32 family: EsptoolSession (hardware) + flash_esp (everything else)
rp2.py     RP2040: BOOTSEL drive, copy, re-find the board by USB serial number
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..boards.check import load_board
from ..userfiles import PathError, read_bytes
from .esp import FlashError, flash_esp
from .images import ImageError, check_esp_image, check_uf2, flash_method
from .rp2 import flash_rp2040

__all__ = [
    "FlashError",
    "ImageError",
    "check_esp_image",
    "check_uf2",
    "check_image",
    "describe_check",
    "flash_board",
]


def check_image(image: Path | bytes, board_name: str) -> dict[str, Any]:
    """Check an image file for a board without touching any device."""
    board = load_board(board_name)
    data = read_bytes(image, "image") if isinstance(image, (str, Path)) else bytes(image)
    if flash_method(board)["method"] == "esptool":
        return check_esp_image(data, board)
    return check_uf2(data, board)


def describe_check(info: dict[str, Any], board_name: str) -> str:
    """check_image()'s result as the sentence `flash --check-only` prints (addresses in hex)."""
    if "app_offset" in info:
        return (
            f"image ok for {board_name}: a complete {info['chip']} firmware (bootloader, "
            f"partition table, app) of {info['size']} bytes, to be written at "
            f"0x{info['offset']:x}, app at 0x{info['app_offset']:x} ({info['app_size']} bytes); "
            "nothing was written"
        )
    return (
        f"image ok for {board_name}: a UF2 file of {info['blocks']} blocks for flash "
        f"0x{info['start']:08x}..0x{info['end']:08x} "
        f"({(info['end'] - info['start']) // 1024} KiB); nothing was written"
    )


def flash_board(
    port: str | None,
    image: Path,
    board_name: str,
    erase: bool = False,
    log: Callable[[str], None] = print,
    **seams: Any,
) -> dict[str, Any]:
    """Flash `image` onto the board on `port`; seams replace the hardware parts in tests."""
    board = load_board(board_name)
    try:
        data = read_bytes(image, "image")
    except PathError as exc:
        raise FlashError(str(exc)) from None
    method = flash_method(board)["method"]
    if method == "esptool":
        if not port:
            raise FlashError("ESP32 boards need --port (the USB serial port of the board)")
        return flash_esp(port, data, board, erase=erase, log=log, **seams)
    if erase:
        log("note: --erase is not needed for RP2040: the UF2 rewrites what it covers")
    return flash_rp2040(port, data, board, log=log, **seams)
