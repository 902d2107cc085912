"""Image checks done before a device is touched: ESP32-family .bin and RP2040 .uf2.

ESP: a full MicroPython .bin starts with the 2nd-stage bootloader image; the partition table sits
at flash 0x8000 and its first app partition holds another image. Both images are parsed by
esptool's own parser (`esptool.bin_image.LoadFirmwareImage`, the pinned esptool that also writes
them), and the chip ids, bootloader offsets and header flash sizes come from esptool's chip table
(`esptool.targets.CHIP_DEFS`), so there is no second copy to drift. What esptool does not do is
checked here: the checksum byte and the appended SHA-256 are compared (esptool only reads them),
and the partition table is walked (esptool has no reader for it). A truncated or corrupted file is
refused.

UF2 (microsoft/uf2 README): 512-byte blocks, magics 0x0A324655 0x9E5D5157 ... 0x0AB16F30, flags
(0x2000 = family id present, 0x1 = not for main flash), target address, payload size, block
number, block count, family id. RP2040's boot ROM takes 256-byte payloads at 256-aligned XIP
flash addresses from 0x10000000. esptool has only a UF2 writer, so the checker is here.
"""

from __future__ import annotations

import struct
from typing import Any

from .. import GridpodError
from ..boards.chips import ESP_PARTITION_TABLE_ADDR, FLASH_METHOD, UF2_FAMILIES

ESP_MAGIC = 0xE9
ESP_HEADERS_BYTES = 24  # common (8) + extended (16) header
PART_ENTRY = struct.Struct("<2sBBII16sI")
PART_MAGIC = b"\xaa\x50"
PART_TYPE_APP = 0

UF2_BLOCK = 512
UF2_HEADER = struct.Struct("<IIIIIIII")
UF2_MAGIC_START0 = 0x0A324655
UF2_MAGIC_START1 = 0x9E5D5157
UF2_MAGIC_END = 0x0AB16F30
UF2_FLAG_NOT_MAIN_FLASH = 0x00000001
UF2_FLAG_FAMILY_ID = 0x00002000
MIB = 1024 * 1024


class ImageError(GridpodError):
    """The image does not fit the board: nothing was written."""


def flash_method(board: dict[str, Any]) -> dict[str, Any]:
    chip = board.get("chip")
    method = FLASH_METHOD.get(chip)
    if method is None:
        raise ImageError(f"board {board.get('board')}: chip {chip} has no flash method")
    return method


def esptool_chip(name: str):
    """esptool's ROM class of a chip ("esp32s3"): IMAGE_CHIP_ID, BOOTLOADER_FLASH_OFFSET, ..."""
    from esptool.targets import CHIP_DEFS

    return CHIP_DEFS[name]


def esp_chip_of_image_id(chip_id: int) -> str:
    """The chip an image header's chip id names, by esptool's table."""
    from esptool.targets import CHIP_DEFS

    for name, rom in CHIP_DEFS.items():
        if getattr(rom, "IMAGE_CHIP_ID", None) == chip_id:
            return name
    return f"unknown chip id 0x{chip_id:04x}"


def uf2_family_name(family: int) -> str:
    """A UF2 family id as a name: the ESP ones from esptool's table, the rest from chips.py."""
    from esptool.targets import CHIP_DEFS

    for name, rom in CHIP_DEFS.items():
        if getattr(rom, "UF2_FAMILY_ID", None) == family:
            return name
    return UF2_FAMILIES.get(family, f"unknown family 0x{family:08x}")


def is_uf2(data: bytes) -> bool:
    return len(data) >= 8 and struct.unpack_from("<II", data) == (
        UF2_MAGIC_START0,
        UF2_MAGIC_START1,
    )


def _header_flash_bytes(rom, size_freq: int) -> int | None:
    """Flash size the image header asks for, by esptool's FLASH_SIZES of the chip ("4MB": 0x20)."""
    for text, code in rom.FLASH_SIZES.items():
        if code == size_freq & 0xF0 and text.endswith("MB"):
            return int(text[:-2]) * MIB
    return None


def parse_esp_app_image(data: bytes, start: int, what: str, chip: str = "esp32") -> dict[str, Any]:
    """Parse one ESP image at data[start:] with esptool's parser, for `chip` (every ESP32-family
    image has the same layout); ImageError on bad magic, truncation, checksum or SHA-256."""
    from esptool.bin_image import LoadFirmwareImage
    from esptool.util import FatalError

    if start >= len(data):
        if start == 0:
            raise ImageError(f"{what}: empty file: not an ESP32 firmware .bin")
        raise ImageError(f"{what}: truncated: the file ends before 0x{start:x}")
    if data[start] != ESP_MAGIC:
        hint = (
            "this is a UF2 file (for RP2040 boards); ESP32 boards take the firmware .bin"
            if start == 0 and is_uf2(data)
            else "not an ESP32 firmware .bin"
        )
        raise ImageError(
            f"{what}: bad magic 0x{data[start]:02x} at 0x{start:x} (an ESP image starts with "
            f"0xE9): {hint}"
        )
    try:
        image = LoadFirmwareImage(chip, data[start:])
    except (FatalError, struct.error, TypeError, RuntimeError) as exc:
        # esptool: "End of file reading segment ..." or a short header read (struct.error),
        # no checksum byte left (TypeError from ord(b"")), a bad header field (RuntimeError)
        detail = str(exc.args[0] if isinstance(exc, RuntimeError) and exc.args else exc)
        if isinstance(exc, (struct.error, TypeError)) or "End of file" in detail:
            raise ImageError(
                f"{what} at 0x{start:x}: truncated ({detail or 'file ends'})"
            ) from None
        raise ImageError(f"{what} at 0x{start:x}: not a valid ESP image ({detail})") from None
    computed = image.calculate_checksum()
    if image.checksum != computed:
        raise ImageError(
            f"{what}: checksum 0x{image.checksum:02x}, computed 0x{computed:02x}: corrupt"
        )
    if image.append_digest:
        if len(image.stored_digest) < 32:
            raise ImageError(f"{what}: truncated in its appended SHA-256")
        if image.stored_digest != image.calc_digest:
            raise ImageError(f"{what}: appended SHA-256 does not match: corrupt")
        length = image.data_length + 32
    else:
        last = image.segments[-1] if image.segments else None
        pos = last.file_offs + 8 + len(last.data) if last else ESP_HEADERS_BYTES
        length = pos + 16 - pos % 16  # the checksum is the last byte of a 16-byte block
    rom = esptool_chip(chip)
    return {
        "chip_id": image.chip_id,
        "chip": esp_chip_of_image_id(image.chip_id),
        "flash_size": _header_flash_bytes(rom, image.flash_size_freq),
        "end": start + length,
    }


def check_esp_image(data: bytes, board: dict[str, Any]) -> dict[str, Any]:
    """Everything about a full ESP32-family .bin that can be checked against the board file.

    Returns {"chip", "offset", "size", "app_offset", "app_size"}; ImageError names the first
    problem."""
    method = flash_method(board)
    name = board.get("board")
    if method["method"] != "esptool":
        raise ImageError(f"board {name} ({board['chip']}) is not flashed with esptool")
    chip = method["esptool_chip"]
    rom = esptool_chip(chip)
    want_id = rom.IMAGE_CHIP_ID
    boot = parse_esp_app_image(data, 0, "bootloader", chip)
    if boot["chip_id"] != want_id:
        raise ImageError(
            f"image is built for {boot['chip']} (chip id {boot['chip_id']}), board {name} is "
            f"{board['chip']} (chip id {want_id}): use the {board['chip']} firmware"
        )
    offset = rom.BOOTLOADER_FLASH_OFFSET
    flash_bytes = board["flash_bytes"]
    if offset + len(data) > flash_bytes:
        raise ImageError(
            f"image of {len(data)} bytes at 0x{offset:x} does not fit {name}'s "
            f"{flash_bytes // MIB} MiB flash"
        )
    if boot["flash_size"] and boot["flash_size"] > flash_bytes:
        raise ImageError(
            f"image header says {boot['flash_size'] // MIB} MiB flash, {name} has "
            f"{flash_bytes // MIB} MiB: use the image for this flash size"
        )
    table = ESP_PARTITION_TABLE_ADDR - offset
    if len(data) < table + PART_ENTRY.size:
        raise ImageError(
            f"truncated: no partition table at flash 0x{ESP_PARTITION_TABLE_ADDR:x} "
            "(a full MicroPython .bin has bootloader, partition table and app)"
        )
    app = None
    pos = table
    while True:
        if pos + PART_ENTRY.size > len(data):
            raise ImageError("truncated inside the partition table (no end marker)")
        magic, ptype, _sub, part_offset, size, _label, _flags = PART_ENTRY.unpack_from(data, pos)
        if magic != PART_MAGIC:
            break
        if ptype == PART_TYPE_APP and app is None:
            app = (part_offset, size)
        if part_offset + size > flash_bytes:
            raise ImageError(f"partition at 0x{part_offset:x} ends beyond {name}'s flash")
        pos += PART_ENTRY.size
    if app is None:
        raise ImageError("partition table has no app partition: not a MicroPython image")
    app_info = parse_esp_app_image(data, app[0] - offset, "app image", chip)
    if app_info["chip_id"] != want_id:
        raise ImageError(
            f"app image is built for {app_info['chip']}, board {name} is {board['chip']}"
        )
    app_size = app_info["end"] - (app[0] - offset)
    if app_size > app[1]:
        raise ImageError("app image is larger than its partition")
    return {
        "chip": board["chip"],
        "offset": offset,
        "size": len(data),
        "app_offset": app[0],
        "app_size": app_size,
    }


def check_uf2(data: bytes, board: dict[str, Any]) -> dict[str, Any]:
    """Every block of a UF2 file checked for the board; returns {"blocks", "start", "end"}."""
    method = flash_method(board)
    name = board.get("board")
    if method["method"] != "uf2":
        raise ImageError(f"board {name} ({board['chip']}) is not flashed from a UF2 file")
    if not data:
        raise ImageError("empty file: not a UF2 file")
    if not is_uf2(data):
        kind = "an ESP32 .bin, not a UF2 file" if data[0] == ESP_MAGIC else "not a UF2 file"
        raise ImageError(
            f"{kind} (no UF2 magic at its start): use the .uf2 MicroPython image for {name}"
        )
    if len(data) % UF2_BLOCK:
        raise ImageError(
            f"truncated: {len(data)} bytes is not a whole number of {UF2_BLOCK}-byte UF2 blocks"
        )
    family_want = method["uf2_family"]
    base = method["flash_base"]
    limit = base + board["flash_bytes"]
    count = len(data) // UF2_BLOCK
    lo, hi = None, None
    for n in range(count):
        at = n * UF2_BLOCK
        m0, m1, flags, addr, size, block_no, num_blocks, family = UF2_HEADER.unpack_from(data, at)
        (m_end,) = struct.unpack_from("<I", data, at + UF2_BLOCK - 4)
        where = f"block {n}"
        if (m0, m1, m_end) != (UF2_MAGIC_START0, UF2_MAGIC_START1, UF2_MAGIC_END):
            raise ImageError(f"{where}: bad UF2 magic: the file is corrupt")
        if not flags & UF2_FLAG_FAMILY_ID:
            raise ImageError(f"{where}: no family id (flag 0x2000): cannot tell which chip")
        if family != family_want:
            other = uf2_family_name(family)
            raise ImageError(
                f"{where}: image is for {other}, board {name} is {board['chip']}: "
                f"use the {board['chip']} UF2"
            )
        if block_no != n or num_blocks != count:
            raise ImageError(
                f"{where}: numbered {block_no} of {num_blocks}, expected {n} of {count}: "
                "truncated or blocks missing"
            )
        if flags & UF2_FLAG_NOT_MAIN_FLASH:
            continue
        if size != method["payload"] or addr % method["payload"]:
            raise ImageError(
                f"{where}: payload {size} bytes at 0x{addr:08x}; the boot ROM takes "
                f"{method['payload']} bytes at {method['payload']}-aligned addresses"
            )
        if addr < base or addr + size > limit:
            raise ImageError(
                f"{where}: address 0x{addr:08x} outside {name}'s flash 0x{base:08x}..0x{limit:08x}"
            )
        lo = addr if lo is None else min(lo, addr)
        hi = addr + size if hi is None else max(hi, addr + size)
    if lo is None:
        raise ImageError("no block targets main flash: nothing to write")
    return {"blocks": count, "start": lo, "end": hi, "size": len(data)}
