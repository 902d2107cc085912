"""ESP32-family flashing: checks on the host, then one esptool session does the writing.

EsptoolSession is the ONLY code here that needs a chip in its ROM bootloader; it cannot run
without hardware and is not covered by the test suite. flash_esp() does everything else (image
checks, chip match, offset, flash size, order of erase/write/verify/reset) against any object with
the same methods, which is how the tests drive it. `--force` is never passed: esptool's own
image/chip compatibility check stays on as a second line of defence.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import GridpodError
from .images import ImageError, check_esp_image

LogFn = Callable[[str], None]


class FlashError(GridpodError):
    """Flashing failed or was refused; the message says what to do next."""


class EsptoolSession:
    """One connection to an ESP chip's ROM bootloader through esptool's Python API (hardware)."""

    def __init__(self, port: str, baud: int = 460800) -> None:
        from esptool.cmds import attach_flash, detect_chip, run_stub

        try:
            esp = detect_chip(port, baud=115200)
        except Exception as exc:  # esptool raises FatalError and serial errors
            raise FlashError(
                f"{port}: no ESP bootloader answers ({exc}); hold BOOT while pressing EN/RESET, "
                "then retry"
            ) from exc
        self.esp = run_stub(esp)
        if baud != 115200:
            self.esp.change_baud(baud)
        attach_flash(self.esp)

    @property
    def chip(self) -> str:
        """Connected chip as gridpod names chips: "ESP32-S3" -> "esp32s3"."""
        return self.esp.CHIP_NAME.lower().replace("-", "")

    def flash_size_bytes(self) -> int | None:
        from esptool.cmds import detect_flash_size

        size = detect_flash_size(self.esp)  # "4MB", "16MB" or None
        if not size or not size.endswith("MB"):
            return None
        return int(size[:-2]) * 1024 * 1024

    def erase(self) -> None:
        from esptool.cmds import erase_flash

        erase_flash(self.esp)

    def write(self, offset: int, data: bytes) -> None:
        from esptool.cmds import write_flash

        # esptool prints its own percentage; compress + its built-in MD5 check of what it wrote
        write_flash(self.esp, [(offset, data)], flash_size="keep")

    def verify(self, offset: int, data: bytes) -> None:
        from esptool.cmds import verify_flash

        verify_flash(self.esp, [(offset, data)])

    def reset(self) -> None:
        from esptool.cmds import reset_chip

        reset_chip(self.esp, "hard-reset")

    def close(self) -> None:
        self.esp._port.close()


def flash_esp(
    port: str,
    image: Path | bytes,
    board: dict[str, Any],
    erase: bool = False,
    session_factory: Callable[[str], Any] = EsptoolSession,
    log: LogFn = print,
) -> dict[str, Any]:
    """Check the image for the board, connect, check the chip, then (erase,) write, verify, reset."""
    data = Path(image).read_bytes() if isinstance(image, (str, Path)) else bytes(image)
    info = check_esp_image(data, board)  # refuses before the device is opened
    log(
        f"image ok: {board['chip']}, {len(data)} bytes, offset 0x{info['offset']:x}, "
        f"app at 0x{info['app_offset']:x}"
    )
    session = session_factory(port)
    try:
        if session.chip != board["chip"]:
            raise ImageError(
                f"{port}: connected chip is {session.chip}, board {board['board']} and the image "
                f"are {board['chip']}: wrong port or wrong --board; nothing written"
            )
        size = session.flash_size_bytes()
        if size is not None and info["offset"] + len(data) > size:
            raise ImageError(
                f"{port}: image needs {info['offset'] + len(data)} bytes, the chip has a "
                f"{size // (1024 * 1024)} MiB flash; nothing written"
            )
        steps = [("erase", session.erase, ())] if erase else []
        steps += [
            ("write", session.write, (info["offset"], data)),
            ("verify", session.verify, (info["offset"], data)),
            ("reset", session.reset, ()),
        ]
        for step, fn, fn_args in steps:
            log(f"{step} ..." if step != "write" else f"write {len(data)} bytes ...")
            try:
                fn(*fn_args)
            except GridpodError:
                raise
            except Exception as exc:  # esptool FatalError, serial errors
                raise FlashError(
                    f"{port}: {step} failed: {exc}; re-run `gridpod flash` (the bootloader in ROM "
                    "cannot be damaged by a failed write)"
                ) from exc
    finally:
        session.close()
    return {"port": port, "chip": board["chip"], "bytes": len(data), "offset": info["offset"]}
