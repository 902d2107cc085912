"""Image checks done before a device is touched: ESP32-family .bin and RP2040 .uf2.

ESP (esptool docs, "Firmware Image Format"): a full MicroPython .bin starts with the 2nd-stage
bootloader, an image of: 8-byte header (magic 0xE9, segment count, SPI mode, size/freq nibbles,
entry), 16-byte extended header (chip id u16 at byte 12, hash_appended at byte 23), segments
(load address u32, length u32, data), a checksum byte (0xEF xor every segment byte) ending a
16-byte block, and an optional SHA-256 of all of it. The partition table sits at flash 0x8000;
its first app partition holds another image in the same format. Both images are parsed fully,
so a truncated or corrupted file is refused.

UF2 (microsoft/uf2 README): 512-byte blocks, magics 0x0A324655 0x9E5D5157 ... 0x0AB16F30, flags
(0x2000 = family id present, 0x1 = not for main flash), target address, payload size, block
number, block count, family id. RP2040's boot ROM takes 256-byte payloads at 256-aligned XIP
flash addresses from 0x10000000.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from .. import GridpodError
from ..boards.chips import (
    ESP_HEADER_FLASH_SIZES,
    ESP_IMAGE_CHIPS,
    ESP_PARTITION_TABLE_ADDR,
    FLASH_METHOD,
    UF2_FAMILIES,
)

ESP_MAGIC = 0xE9
ESP_HEADER = struct.Struct("<BBBBI")  # magic, segments, spi mode, size/freq, entry
ESP_EXT_HEADER = struct.Struct("<B3sHBHH4sB")  # wp, drive, chip id, rev, min/max rev, -, hash
ESP_SEGMENT = struct.Struct("<II")
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


class ImageError(GridpodError):
    """The image does not fit the board: nothing was written."""


def flash_method(board: dict[str, Any]) -> dict[str, Any]:
    chip = board.get("chip")
    method = FLASH_METHOD.get(chip)
    if method is None:
        raise ImageError(f"board {board.get('board')}: chip {chip} has no flash method")
    return method


def _esp_chip_name(chip_id: int) -> str:
    return ESP_IMAGE_CHIPS.get(chip_id, (f"unknown chip id 0x{chip_id:04x}", 0))[0]


def parse_esp_app_image(data: bytes, start: int, what: str) -> dict[str, Any]:
    """Parse one ESP image at data[start:]; ImageError on bad magic, truncation or checksum."""
    if len(data) < start + ESP_HEADER.size + ESP_EXT_HEADER.size:
        raise ImageError(f"{what}: truncated: no complete image header at 0x{start:x}")
    magic, segments, _mode, size_freq, _entry = ESP_HEADER.unpack_from(data, start)
    if magic != ESP_MAGIC:
        raise ImageError(
            f"{what}: bad magic 0x{magic:02x} at 0x{start:x} (an ESP image starts with 0xE9): "
            "not an ESP32 firmware .bin"
        )
    ext = ESP_EXT_HEADER.unpack_from(data, start + ESP_HEADER.size)
    chip_id, hash_appended = ext[2], ext[7]
    pos = start + ESP_HEADER.size + ESP_EXT_HEADER.size
    checksum = 0xEF
    for n in range(segments):
        if pos + ESP_SEGMENT.size > len(data):
            raise ImageError(f"{what}: truncated in the header of segment {n + 1}/{segments}")
        _addr, length = ESP_SEGMENT.unpack_from(data, pos)
        pos += ESP_SEGMENT.size
        if pos + length > len(data):
            raise ImageError(
                f"{what}: truncated: segment {n + 1}/{segments} needs {length} bytes, "
                f"{len(data) - pos} left"
            )
        for byte in data[pos : pos + length]:
            checksum ^= byte
        pos += length
    pos += 15 - (pos - start) % 16  # the checksum is the last byte of a 16-byte block
    if pos >= len(data):
        raise ImageError(f"{what}: truncated before its checksum byte")
    if data[pos] != checksum:
        raise ImageError(f"{what}: checksum 0x{data[pos]:02x}, computed 0x{checksum:02x}: corrupt")
    end = pos + 1
    if hash_appended == 1:
        if end + 32 > len(data):
            raise ImageError(f"{what}: truncated in its appended SHA-256")
        if hashlib.sha256(data[start:end]).digest() != data[end : end + 32]:
            raise ImageError(f"{what}: appended SHA-256 does not match: corrupt")
        end += 32
    return {
        "chip_id": chip_id,
        "chip": _esp_chip_name(chip_id),
        "flash_size": ESP_HEADER_FLASH_SIZES.get(size_freq >> 4),
        "end": end,
    }


def check_esp_image(data: bytes, board: dict[str, Any]) -> dict[str, Any]:
    """Everything about a full ESP32-family .bin that can be checked against the board file.

    Returns {"chip", "offset", "size", "app_offset"}; ImageError names the first problem."""
    method = flash_method(board)
    name = board.get("board")
    if method["method"] != "esptool":
        raise ImageError(f"board {name} ({board['chip']}) is not flashed with esptool")
    want_id = method["image_chip_id"]
    boot = parse_esp_app_image(data, 0, "bootloader")
    if boot["chip_id"] != want_id:
        raise ImageError(
            f"image is built for {boot['chip']} (chip id {boot['chip_id']}), board {name} is "
            f"{board['chip']} (chip id {want_id}): use the {board['chip']} firmware"
        )
    offset = ESP_IMAGE_CHIPS[want_id][1]
    flash_bytes = board["flash_bytes"]
    if offset + len(data) > flash_bytes:
        raise ImageError(
            f"image of {len(data)} bytes at 0x{offset:x} does not fit {name}'s "
            f"{flash_bytes // (1024 * 1024)} MiB flash"
        )
    if boot["flash_size"] and boot["flash_size"] > flash_bytes:
        raise ImageError(
            f"image header says {boot['flash_size'] // (1024 * 1024)} MiB flash, {name} has "
            f"{flash_bytes // (1024 * 1024)} MiB: use the image for this flash size"
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
    app_info = parse_esp_app_image(data, app[0] - offset, "app image")
    if app_info["chip_id"] != want_id:
        raise ImageError(
            f"app image is built for {app_info['chip']}, board {name} is {board['chip']}"
        )
    if app_info["end"] - (app[0] - offset) > app[1]:
        raise ImageError("app image is larger than its partition")
    return {"chip": board["chip"], "offset": offset, "size": len(data), "app_offset": app[0]}


def check_uf2(data: bytes, board: dict[str, Any]) -> dict[str, Any]:
    """Every block of a UF2 file checked for the board; returns {"blocks", "start", "end"}."""
    method = flash_method(board)
    name = board.get("board")
    if method["method"] != "uf2":
        raise ImageError(f"board {name} ({board['chip']}) is not flashed from a UF2 file")
    if not data or len(data) % UF2_BLOCK:
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
            raise ImageError(f"{where}: bad UF2 magic: not a UF2 file or corrupt")
        if not flags & UF2_FLAG_FAMILY_ID:
            raise ImageError(f"{where}: no family id (flag 0x2000): cannot tell which chip")
        if family != family_want:
            other = UF2_FAMILIES.get(family, f"unknown family 0x{family:08x}")
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
