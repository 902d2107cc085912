"""Gridpod Modbus client on minimalmodbus: read and write registers by name, scaled, with 32-bit
values high word first and written in one FC16 request. The identity block is read first; a map
version or map CRC this host does not know is refused (MapMismatchError)."""

import termios

import minimalmodbus
import serial

from .. import GridpodError
from .register_map import MAGIC, MAP_CRC, MAP_VERSION, REGISTERS, Register

NA = {"u16": 0xFFFF, "s16": -0x8000, "u32": 0xFFFFFFFF, "s32": -0x80000000}
FUNCTION = {"H": 3, "I": 4}


class ModbusError(GridpodError):
    pass


class NoPortError(ModbusError):
    pass


class NoAnswerError(ModbusError):
    pass


class MapMismatchError(ModbusError):
    pass


class DeviceRefusedError(ModbusError):
    """The slave answered with a Modbus exception."""


def _decode(reg: Register, words: list[int]):
    if reg.type == "str":
        raw = b"".join(w.to_bytes(2, "big") for w in words)
        return raw.rstrip(b"\0").decode("ascii", "replace")
    v = words[0] if reg.words == 1 else (words[0] << 16) | words[1]
    bits = 16 * reg.words
    if reg.type.startswith("s") and v >= 1 << (bits - 1):
        v -= 1 << bits
    if v == NA.get(reg.type):
        return None
    return v * 10**reg.scale if reg.scale else v


def _encode(reg: Register, value) -> list[int]:
    if reg.type == "str":
        raw = str(value).encode("ascii")[: reg.words * 2].ljust(reg.words * 2, b"\0")
        return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    raw = round(value / 10**reg.scale) if reg.scale else int(value)
    bits = 16 * reg.words
    raw &= (1 << bits) - 1
    return [raw] if reg.words == 1 else [raw >> 16, raw & 0xFFFF]


def instrument(
    port: str, unit: int = 1, baud: int = 19200, parity: str = "E", timeout_s: float = 1.0
) -> minimalmodbus.Instrument:
    """A minimalmodbus Instrument on `port` with the line settings a real RS-485 adapter takes.

    A pty (the virtual board) refuses some of them (termios EINVAL for parity). pyserial has then
    already stored the refused value, and minimalmodbus keeps one Serial object per port name for
    the whole process, so a refused setting left in place would fail the next open of a pty that
    reuses the name: the old value is put back."""
    try:
        inst = minimalmodbus.Instrument(port, unit)
    except serial.SerialException as e:
        raise NoPortError(
            f"cannot open {port}: {e} (check the name; `gridpod doctor` lists serial ports)"
        ) from e
    for name, value in (("timeout", timeout_s), ("baudrate", baud), ("parity", parity)):
        old = getattr(inst.serial, name)
        try:
            setattr(inst.serial, name, value)
        except (serial.SerialException, termios.error):
            setattr(inst.serial, name, old)  # a pty has no line settings: keep its own
    return inst


class GridpodModbus:
    def __init__(
        self, port: str, unit: int = 1, baud: int = 19200, parity: str = "E", timeout_s: float = 1.0
    ):
        self.inst = instrument(port, unit, baud, parity, timeout_s)
        self.port = port
        self.identity = self.read_identity()

    def close(self) -> None:
        self.inst.serial.close()

    def _call(self, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except minimalmodbus.NoResponseError as e:
            raise NoAnswerError(
                f"no answer from unit {self.inst.address} on {self.port}: check wiring, unit, baud"
            ) from e
        except minimalmodbus.ModbusException as e:
            raise DeviceRefusedError(str(e)) from e
        except serial.SerialException as e:
            raise NoPortError(f"{self.port}: {e}") from e

    def _read_words(self, kind: str, addr: int, count: int) -> list[int]:
        """count registers of kind "H" or "I" from addr (the one place that reads words)."""
        return self._call(self.inst.read_registers, addr, count, functioncode=FUNCTION[kind])

    def _read_bits(self, kind: str, addr: int, count: int) -> list[int]:
        """count coils ("C") or discrete inputs ("D") from addr."""
        return self._call(self.inst.read_bits, addr, count, functioncode=1 if kind == "C" else 2)

    def read_identity(self) -> dict:
        words = self._read_words("H", 0, 24)
        if words[0] != MAGIC:
            raise MapMismatchError(
                f"not a Gridpod register map (magic {words[0]:#06x}): check the port and --unit"
            )
        if words[1] != MAP_VERSION or words[2] != MAP_CRC:
            raise MapMismatchError(
                f"register map version {words[1]} crc {words[2]:#06x} is unknown here "
                f"(this host knows version {MAP_VERSION} crc {MAP_CRC:#06x}): update gridpod"
            )
        ident = {}
        for name in (
            "magic",
            "map_version",
            "map_crc",
            "firmware_version",
            "board_id",
            "config_crc",
            "modbus_unit",
            "module_id",
        ):
            reg = REGISTERS[name]
            ident[name] = _decode(reg, words[reg.addr : reg.addr + reg.words])
        return ident

    def read(self, name: str):
        """Scaled value of one register (None when the firmware says not available)."""
        return self.read_many([name])[name]

    def read_many(self, names: list[str]) -> dict:
        """Values of several registers, one request per contiguous run of the same kind."""
        regs = sorted((REGISTERS[n] for n in names), key=lambda r: (r.kind, r.addr))
        out = {}
        i = 0
        while i < len(regs):
            first = regs[i]
            j = i
            while (
                j + 1 < len(regs)
                and regs[j + 1].kind == first.kind
                and regs[j + 1].addr + regs[j + 1].words - first.addr <= 120
            ):
                j += 1
            last = regs[j]
            count = last.addr + last.words - first.addr
            if first.kind in FUNCTION:
                words = self._read_words(first.kind, first.addr, count)
                for r in regs[i : j + 1]:
                    out[r.name] = _decode(
                        r, words[r.addr - first.addr : r.addr - first.addr + r.words]
                    )
            else:
                bits = self._read_bits(first.kind, first.addr, count)
                for r in regs[i : j + 1]:
                    chunk = bits[r.addr - first.addr : r.addr - first.addr + r.words]
                    out[r.name] = (
                        chunk[0] if r.words == 1 else sum(b << k for k, b in enumerate(chunk))
                    )
            i = j + 1
        return out

    def write(self, name: str, value) -> None:
        reg = REGISTERS[name]
        if reg.access == "R":
            raise ModbusError(f"{name} is read-only")
        if reg.kind == "C":
            self._call(self.inst.write_bit, reg.addr, 1 if value else 0, functioncode=5)
            return
        words = _encode(reg, value)
        self._call(self.inst.write_registers, reg.addr, words)

    def unlock(self, pin: str) -> None:
        self.write("access_pin", pin)

    def lock(self) -> None:
        self.write("access_level", 0)
