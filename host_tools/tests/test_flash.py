"""gridpod flash on crafted images (built here from bytes with struct, nothing downloaded).

The ESP bootloader session and a real BOOTSEL drive need hardware: they are replaced by a
FakeSession (records calls) and a tmp folder with INFO_UF2.TXT plus a fake port list.
"""

import hashlib
import struct

import pytest
from gridpod.boards.check import load_board
from gridpod.flash import FlashError, ImageError, check_esp_image, check_uf2, flash_board
from gridpod.flash.esp import flash_esp
from gridpod.flash.rp2 import BootselDrives, flash_rp2040

ESP32, ESP32S3 = 0x0000, 0x0009


def esp_app(chip_id, payload, flash_nibble=2, with_hash=True):
    """One ESP image: header, extended header, one segment, checksum, optional SHA-256."""
    out = struct.pack("<BBBBI", 0xE9, 2, 2, (flash_nibble << 4) | 0xF, 0x40080000)
    out += struct.pack("<B3sHBHH4sB", 0xEE, bytes(3), chip_id, 0, 0, 0xFFFF, bytes(4), with_hash)
    checksum = 0xEF
    for n, seg in enumerate((payload, payload[::-1])):
        out += struct.pack("<II", 0x3F400020 + n * 0x10000, len(seg)) + seg
        for b in seg:
            checksum ^= b
    out += bytes(15 - len(out) % 16) + bytes([checksum])
    if with_hash:
        out += hashlib.sha256(out).digest()
    return out


def esp_full_image(chip_id, offset, app_size=3000):
    """Bootloader at `offset`, partition table at 0x8000, factory app at 0x10000 (flash addrs)."""
    boot = esp_app(chip_id, bytes(range(256)) * 4)
    app = esp_app(chip_id, bytes((i * 7) & 0xFF for i in range(app_size)))
    img = bytearray(b"\xff" * (0x10000 - offset + len(app)))
    img[: len(boot)] = boot
    table = b""
    for ptype, sub, at, size, label in (
        (1, 2, 0x9000, 0x6000, b"nvs"),
        (0, 0, 0x10000, 0x1F0000, b"factory"),
        (1, 0x81, 0x200000, 0x200000, b"vfs"),
    ):
        table += struct.pack("<2sBBII16sI", b"\xaa\x50", ptype, sub, at, size, label, 0)
    img[0x8000 - offset : 0x8000 - offset + len(table)] = table
    img[0x10000 - offset :] = app
    return bytes(img)


@pytest.fixture(scope="module")
def esp32():
    return load_board("ESP32_DEVKITC")


@pytest.fixture(scope="module")
def esp32s3():
    return load_board("ESP32_S3_DEVKITC")


@pytest.fixture(scope="module")
def pico():
    return load_board("RPI_PICO")


def test_good_esp32_and_s3_images_get_their_offsets(esp32, esp32s3):
    assert check_esp_image(esp_full_image(ESP32, 0x1000), esp32)["offset"] == 0x1000
    info = check_esp_image(esp_full_image(ESP32S3, 0x0), esp32s3)
    assert info["offset"] == 0x0 and info["app_offset"] == 0x10000


def test_wrong_chip_id_refused(esp32, esp32s3):
    with pytest.raises(ImageError, match="built for esp32s3.*board ESP32_DEVKITC is esp32"):
        check_esp_image(esp_full_image(ESP32S3, 0x1000), esp32)
    with pytest.raises(ImageError, match="built for esp32 "):
        check_esp_image(esp_full_image(ESP32, 0x0), esp32s3)


def test_bad_magic_refused(esp32):
    img = bytearray(esp_full_image(ESP32, 0x1000))
    img[0] = 0x7F
    with pytest.raises(ImageError, match="bad magic 0x7f"):
        check_esp_image(bytes(img), esp32)


@pytest.mark.parametrize("cut", [10, 500, 0x7000 - 1, 0x7000 + 40, 0xF000 + 100, -1])
def test_truncated_esp_image_refused(esp32, cut):
    img = esp_full_image(ESP32, 0x1000)
    with pytest.raises(ImageError, match="truncated"):
        check_esp_image(img[:cut], esp32)


def test_corrupt_byte_and_oversize_refused(esp32):
    img = bytearray(esp_full_image(ESP32, 0x1000))
    img[0xF000 + 200] ^= 0x01  # inside the app's first segment
    with pytest.raises(ImageError, match="checksum|SHA-256"):
        check_esp_image(bytes(img), esp32)
    small = dict(esp32, flash_bytes=1024 * 1024)
    with pytest.raises(ImageError, match="flash"):
        check_esp_image(esp_full_image(ESP32, 0x1000), small)


class FakeSession:
    """Stands in for EsptoolSession (which needs a chip in its ROM bootloader)."""

    def __init__(self, chip, flash_size=4 * 1024 * 1024, fail_verify=False):
        self.chip, self.size, self.fail_verify = chip, flash_size, fail_verify
        self.calls = []

    def __call__(self, port):
        self.calls.append(("open", port))
        return self

    def flash_size_bytes(self):
        return self.size

    def erase(self):
        self.calls.append(("erase",))

    def write(self, offset, data):
        self.calls.append(("write", offset, hashlib.sha256(data).hexdigest()))

    def verify(self, offset, data):
        self.calls.append(("verify", offset))
        if self.fail_verify:
            raise RuntimeError("Verification failed")

    def reset(self):
        self.calls.append(("reset",))

    def close(self):
        self.calls.append(("close",))


def test_flash_esp_order_offset_and_verify(esp32):
    img = esp_full_image(ESP32, 0x1000)
    fake = FakeSession("esp32")
    flash_esp("/dev/ttyUSB0", img, esp32, erase=True, session_factory=fake, log=lambda s: None)
    digest = hashlib.sha256(img).hexdigest()
    assert fake.calls == [
        ("open", "/dev/ttyUSB0"),
        ("erase",),
        ("write", 0x1000, digest),
        ("verify", 0x1000),
        ("reset",),
        ("close",),
    ]


def test_flash_esp_refuses_before_writing(esp32):
    fake = FakeSession("esp32s3")
    with pytest.raises(ImageError, match="connected chip is esp32s3"):
        flash_esp("/dev/ttyUSB0", esp_full_image(ESP32, 0x1000), esp32, session_factory=fake)
    assert [c[0] for c in fake.calls] == ["open", "close"]
    never = FakeSession("esp32")
    with pytest.raises(ImageError):
        flash_esp("/dev/ttyUSB0", esp_full_image(ESP32S3, 0x1000), esp32, session_factory=never)
    assert never.calls == []  # a wrong image never opens the port
    tiny = FakeSession("esp32", flash_size=64 * 1024)
    with pytest.raises(ImageError, match="64 KiB|0 MiB|flash"):
        flash_esp("/dev/ttyUSB0", esp_full_image(ESP32, 0x1000), esp32, session_factory=tiny)
    assert not [c for c in tiny.calls if c[0] == "write"]


def test_flash_esp_verify_failure_is_one_clear_error(esp32):
    fake = FakeSession("esp32", fail_verify=True)
    with pytest.raises(FlashError, match="verify failed: Verification failed; re-run"):
        flash_esp("/dev/ttyUSB0", esp_full_image(ESP32, 0x1000), esp32, session_factory=fake)
    assert fake.calls[-1] == ("close",)


# ----- UF2 --------------------------------------------------------------------------------------
RP2040_FAMILY = 0xE48BFF56


def uf2(n_blocks, family=RP2040_FAMILY, base=0x10000000, flags=0x2000, bad_addr_at=None):
    out = b""
    for i in range(n_blocks):
        addr = base + i * 256 if i != bad_addr_at else 0x10000000 + 2 * 1024 * 1024
        head = struct.pack(
            "<IIIIIIII", 0x0A324655, 0x9E5D5157, flags, addr, 256, i, n_blocks, family
        )
        out += head + bytes([i & 0xFF]) * 256 + bytes(476 - 256) + struct.pack("<I", 0x0AB16F30)
    return out


def test_good_uf2(pico):
    info = check_uf2(uf2(8), pico)
    assert info == {"blocks": 8, "start": 0x10000000, "end": 0x10000800, "size": 8 * 512}


def test_uf2_wrong_family_refused(pico):
    with pytest.raises(ImageError, match="image is for rp2350-arm-s, board RPI_PICO is rp2040"):
        check_uf2(uf2(4, family=0xE48BFF59), pico)
    with pytest.raises(ImageError, match="no family id"):
        check_uf2(uf2(4, flags=0), pico)


def test_uf2_address_outside_flash_refused(pico):
    with pytest.raises(ImageError, match="block 2: address 0x10200000 outside RPI_PICO's flash"):
        check_uf2(uf2(4, bad_addr_at=2), pico)
    with pytest.raises(ImageError, match="outside"):
        check_uf2(uf2(4, base=0x20000000), pico)


def test_uf2_truncated_refused(pico):
    img = uf2(6)
    with pytest.raises(ImageError, match="truncated: 2972 bytes"):
        check_uf2(img[:-100], pico)
    with pytest.raises(ImageError, match="block 0: numbered 0 of 6, expected 0 of 5"):
        check_uf2(img[:-512], pico)
    bad = bytearray(img)
    bad[512 * 3 + 508] ^= 0xFF
    with pytest.raises(ImageError, match="block 3: bad UF2 magic"):
        check_uf2(bytes(bad), pico)


class FakePico:
    """A Pico on a fake USB bus: its serial port, then (after machine.bootloader()) a BOOTSEL
    drive in a tmp folder; the copied UF2 "reboots" it onto a new port with the same serial."""

    def __init__(self, media, board_id="RPI-RP2"):
        self.drive = media / "RPI-RP2"
        self.board_id = board_id
        self.state = "running"
        self.port = "/dev/ttyACM0"
        self.copied = None
        self.bootloader_calls = 0

    def ports(self):
        if self.state == "bootsel" and (self.drive / "gridpod.uf2").exists():
            self.copied = (self.drive / "gridpod.uf2").read_bytes()
            for f in self.drive.iterdir():
                f.unlink()
            self.drive.rmdir()
            self.state, self.port = "running", "/dev/ttyACM1"
        if self.state == "running":
            return [{"device": self.port, "serial_number": "E6614C311B7A2B35"}]
        return []

    def bootloader(self, port):
        assert port == self.port
        self.bootloader_calls += 1
        self.drive.mkdir(parents=True)
        (self.drive / "INFO_UF2.TXT").write_text(
            f"UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: {self.board_id}\n"
        )
        self.state = "bootsel"


def test_rp2040_flash_copies_and_refinds_board_by_serial(pico, tmp_path):
    fake = FakePico(tmp_path / "media")
    img = uf2(300)
    logs = []
    result = flash_rp2040(
        "/dev/ttyACM0",
        img,
        pico,
        drives=BootselDrives([tmp_path / "media"]),
        ports=fake.ports,
        bootloader=fake.bootloader,
        timeout_s=5,
        poll_s=0.01,
        log=logs.append,
    )
    assert fake.copied == img
    assert result["port"] == "/dev/ttyACM1"
    assert "copy 100%" in logs


def test_rp2040_refuses_other_chip_drive_and_bad_image(pico, tmp_path):
    fake = FakePico(tmp_path / "media", board_id="RP2350")
    kw = dict(
        drives=BootselDrives([tmp_path / "media"]),
        ports=fake.ports,
        bootloader=fake.bootloader,
        timeout_s=2,
        poll_s=0.01,
    )
    with pytest.raises(ImageError, match="boot drive of a RP2350 board"):
        flash_rp2040("/dev/ttyACM0", uf2(4), pico, **kw)
    assert not (fake.drive / "gridpod.uf2").exists()
    other = FakePico(tmp_path / "media2")
    kw.update(drives=BootselDrives([tmp_path / "media2"]), bootloader=other.bootloader)
    with pytest.raises(ImageError, match="rp2350"):
        flash_rp2040("/dev/ttyACM0", uf2(4, family=0xE48BFF59), pico, **kw)
    assert other.bootloader_calls == 0  # refused before the board was touched


def test_flash_board_dispatches_per_chip(tmp_path):
    image = tmp_path / "fw.uf2"
    image.write_bytes(esp_full_image(ESP32, 0x1000))
    with pytest.raises(ImageError, match="an ESP32 .bin, not a UF2 file"):
        flash_board(None, image, "RPI_PICO", log=lambda s: None)
    with pytest.raises(FlashError, match="cannot read image"):
        flash_board("/dev/x", tmp_path / "missing.bin", "ESP32_DEVKITC")


# ----- messages a technician can act on (newcomer review 2026-12-03) ----------------------------
def test_input_that_is_not_uf2_is_called_so_not_truncated(pico):
    import os

    for data, words in (
        (os.urandom(1_500_000), "not a UF2 file"),
        (b"", "empty file: not a UF2 file"),
        (esp_full_image(ESP32, 0x1000), "an ESP32 .bin, not a UF2 file"),
    ):
        with pytest.raises(ImageError) as err:
            check_uf2(data, pico)
        assert words in str(err.value) and "truncated" not in str(err.value)
    with pytest.raises(ImageError, match="this is a UF2 file .for RP2040 boards"):
        check_esp_image(uf2(4), load_board("ESP32_DEVKITC"))


def test_esp_chip_facts_come_from_esptool(esp32):
    """Offsets and chip names are esptool's (CHIP_DEFS), not a copy: a chip our old hand-written
    table did not list (ESP32-C5, image chip id 23) is named, not "unknown chip id"."""
    from esptool.targets import CHIP_DEFS

    info = check_esp_image(esp_full_image(ESP32, 0x1000), esp32)
    assert info["offset"] == CHIP_DEFS["esp32"].BOOTLOADER_FLASH_OFFSET
    c5 = CHIP_DEFS["esp32c5"].IMAGE_CHIP_ID
    with pytest.raises(ImageError, match=r"image is built for esp32c5 \(chip id 23\)"):
        check_esp_image(esp_full_image(c5, 0x1000), esp32)


def test_check_only_prints_a_sentence_with_hex_addresses(tmp_path, capsys):
    from gridpod.cli import main

    image = tmp_path / "fw.bin"
    image.write_bytes(esp_full_image(ESP32, 0x1000))
    assert main(["flash", "--check-only", "--image", str(image), "--board", "ESP32_DEVKITC"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("flash: image ok for ESP32_DEVKITC: a complete esp32 firmware")
    assert "at 0x1000, app at 0x10000" in out and "{" not in out and "4096" not in out
    pico_image = tmp_path / "fw.uf2"
    pico_image.write_bytes(uf2(8))
    assert main(["flash", "--check-only", "--image", str(pico_image), "--board", "RPI_PICO"]) == 0
    out = capsys.readouterr().out.strip()
    assert "8 blocks for flash 0x10000000..0x10000800" in out and "{" not in out


def test_check_only_on_a_missing_file_or_a_folder(tmp_path):
    from gridpod import GridpodError
    from gridpod.flash import check_image

    with pytest.raises(GridpodError, match="cannot read image .*nope.bin: no such file"):
        check_image(tmp_path / "nope.bin", "ESP32_DEVKITC")
    with pytest.raises(GridpodError, match="it is a folder"):
        check_image(tmp_path, "RPI_PICO")
