"""RP2040 flashing: check the UF2, get the board into BOOTSEL, copy, wait for it to come back.

Hardware sits behind three small seams, each replaceable in tests:
  BootselDrives     finds mounted boot-ROM drives (a folder holding INFO_UF2.TXT whose Board-ID is
                    RPI-RP2) under the usual automount roots; tests point it at a tmp folder.
  list_serial_ports USB serial ports as [{"device", "serial_number"}] (pyserial's list_ports);
                    the board is re-found after the reboot by its USB serial number (MicroPython's
                    rp2 port uses the flash unique id, so it survives the reflash).
  enter_bootloader  asks a running MicroPython to reboot into BOOTSEL (machine.bootloader()).
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .esp import FlashError
from .images import ImageError, check_uf2

INFO_FILE = "INFO_UF2.TXT"
RP2040_BOARD_ID = "RPI-RP2"
COPY_CHUNK = 64 * 1024


def default_roots() -> list[Path]:
    user = getpass.getuser()
    return [Path("/media") / user, Path("/run/media") / user, Path("/media"), Path("/mnt")]


class BootselDrives:
    def __init__(self, roots: list[Path] | None = None) -> None:
        self.roots = [Path(r) for r in roots] if roots is not None else default_roots()

    def find(self) -> list[tuple[Path, str]]:
        """(mount point, Board-ID) of every mounted UF2 boot drive."""
        found = []
        for root in self.roots:
            try:
                children = sorted(root.iterdir())
            except OSError:
                continue
            for child in children:
                info = child / INFO_FILE
                try:
                    text = info.read_text(errors="replace")
                except OSError:
                    continue
                board_id = ""
                for line in text.splitlines():
                    if line.startswith("Board-ID:"):
                        board_id = line.split(":", 1)[1].strip()
                found.append((child, board_id or child.name))
        return found


def list_serial_ports() -> list[dict[str, Any]]:
    from serial.tools import list_ports

    return [{"device": p.device, "serial_number": p.serial_number} for p in list_ports.comports()]


def enter_bootloader(port: str) -> None:
    """Ask the MicroPython on `port` to reboot into the boot ROM (the link drops at once)."""
    from mpremote.transport_serial import SerialTransport

    t = SerialTransport(port, baudrate=115200)
    try:
        t.enter_raw_repl(soft_reset=False)
        t.exec_raw_no_follow("import machine\nmachine.bootloader()")
    finally:
        try:
            t.close()
        except Exception:  # noqa: BLE001 - the port vanishes when the board reboots
            pass


def _wait(predicate: Callable[[], Any], timeout_s: float, poll_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(poll_s)


def copy_uf2(drive: Path, data: bytes, log: Callable[[str], None]) -> None:
    target = drive / "gridpod.uf2"
    shown = -1
    with open(target, "wb") as f:
        for at in range(0, len(data), COPY_CHUNK):
            f.write(data[at : at + COPY_CHUNK])
            pct = min(100, (at + COPY_CHUNK) * 100 // len(data))
            if pct // 25 != shown:
                shown = pct // 25
                log(f"copy {pct}%")
        f.flush()
        try:
            os.fsync(f.fileno())
        except OSError:
            pass  # the boot ROM reboots as soon as the last block lands; the drive may be gone


def flash_rp2040(
    port: str | None,
    image: Path | bytes,
    board: dict[str, Any],
    drives: BootselDrives | None = None,
    ports: Callable[[], list[dict[str, Any]]] = list_serial_ports,
    bootloader: Callable[[str], None] = enter_bootloader,
    timeout_s: float = 20.0,
    poll_s: float = 0.2,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Flash a UF2 onto an RP2040 board; returns {"port": the board's port after the reboot, ...}."""
    data = Path(image).read_bytes() if isinstance(image, (str, Path)) else bytes(image)
    info = check_uf2(data, board)  # refuses before the device is touched
    log(f"image ok: {info['blocks']} UF2 blocks, 0x{info['start']:08x}..0x{info['end']:08x}")
    drives = drives or BootselDrives()
    serial_number = None
    if port:
        for p in ports():
            if p["device"] == port:
                serial_number = p["serial_number"]
    found = drives.find()
    if not found and port:
        log(f"{port}: asking MicroPython to reboot into BOOTSEL ...")
        try:
            bootloader(port)
        except Exception as exc:  # noqa: BLE001 - any failure means: do it by hand
            log(f"{port}: no REPL answer ({exc})")
        found = _wait(drives.find, timeout_s, poll_s)
    if not found:
        raise FlashError(
            "no RPI-RP2 drive found: hold BOOTSEL while plugging the board in (or mount the "
            "drive), then retry"
        )
    if len(found) > 1:
        raise FlashError(f"{len(found)} BOOTSEL drives mounted: unplug all but one board")
    drive, board_id = found[0]
    if board_id != RP2040_BOARD_ID:
        raise ImageError(
            f"{drive}: boot drive of a {board_id} board, the image and board {board['board']} are "
            f"rp2040 ({RP2040_BOARD_ID}): wrong board plugged in; nothing written"
        )
    log(f"copying {len(data)} bytes to {drive} ...")
    copy_uf2(drive, data, log)
    if serial_number is None:
        log("board rebooting; its serial number was unknown: find its port with `gridpod doctor`")
        return {"port": None, "bytes": len(data), "drive": str(drive)}

    def back() -> str | None:
        for p in ports():
            if p["serial_number"] == serial_number:
                return p["device"]
        return None

    new_port = _wait(back, timeout_s, poll_s)
    if not new_port:
        raise FlashError(
            f"copied, but no serial port with USB serial {serial_number} came back within "
            f"{timeout_s:.0f} s: unplug and replug the board, then `gridpod doctor`"
        )
    log(f"board back on {new_port} (USB serial {serial_number})")
    return {"port": new_port, "bytes": len(data), "drive": str(drive)}
