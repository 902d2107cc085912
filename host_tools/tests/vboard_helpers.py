"""Helpers for tests that drive a virtual board with real host tools."""

import subprocess
import sys
from pathlib import Path

from gridpod.vboard.flash import FlashImage, create_blank

REPO = Path(__file__).resolve().parents[2]
HAL_FILES = (
    "hal/__init__.py",
    "hal/console.py",
    "hal/harness.py",
    "hal/roles.py",
    "hal/virtual.py",
    "hal/window.py",
)


def mpremote(port: str, *args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess:
    """Run the unmodified mpremote CLI against a port; fail the test on a non-zero exit."""
    cmd = [sys.executable, "-m", "mpremote", "connect", port, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


def make_flash(path: Path, files: dict[str, bytes | str], with_hal: bool = True) -> Path:
    """A fresh flash image holding `files` (flash path -> content), plus the virtual HAL."""
    create_blank(path)
    img = FlashImage(path)
    if with_hal:
        for rel in HAL_FILES:
            img.write("/" + rel, (REPO / "firmware" / rel).read_bytes())
        img.write("/board.json", (REPO / "boards" / "VIRTUAL" / "board.json").read_bytes())
    for name, data in files.items():
        img.write(name, data.encode() if isinstance(data, str) else data)
    img.save()
    return path


# A scan loop in the shape of the real one: 10 ms ticks, heartbeat on STATUS_LED at 1 Hz,
# bytes received on the RS-485 UART echoed back.
BLINK_MAIN = """
import json
from hal import virtual
p = virtual.open_platform(json.load(open('/board.json')))
led = p.digital_out('STATUS_LED')
uart = p.uart('RS485', 19200)
buf = bytearray(64)
t = p.ticks_ms()
n = 0
while True:
    t = t + 10
    p.wait_until_ms(t)
    n += 1
    if n % 50 == 0:
        led.value(not led.value())
    k = uart.readinto(buf)
    if k:
        uart.write(buf[:k])
"""


def modbus_crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/MODBUS written independently of the firmware's, so tests check it, not copy it."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def modbus_frame(*pdu: int) -> bytes:
    """An RTU frame: the given bytes plus their CRC, low byte first."""
    data = bytes(pdu)
    c = modbus_crc16(data)
    return data + bytes((c & 0xFF, c >> 8))
