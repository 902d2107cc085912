"""Registers read over a board's console instead of RS-485, for `gridpod monitor --port <console>`.

Modbus RTU bytes must never reach a console: unit 1 is 0x01 (Ctrl-A) and function 03 is 0x03
(Ctrl-C), so a Modbus request stops the running application (outputs safe, contactors open). The
application answers the same register reads on its service channel instead (firmware/app/
service.py `G`), from its scan loop. open_client() asks the port first: a running application
answers there; a friendly REPL echoes (the board's application is not running); silence means an
RS-485 port (the probe line is one frame with a bad CRC to a Modbus slave, dropped and counted).
"""

from __future__ import annotations

from ..device.session import Device, DeviceError
from .client import GridpodModbus, ModbusError


class ConsoleRegisters(GridpodModbus):
    """GridpodModbus's reads (identity, read_many) answered on the console; read only."""

    def __init__(self, device: Device):
        self.device = device
        self.port = device.port
        self.identity = self.read_identity()

    def close(self) -> None:
        self.device.close()

    def _read_words(self, kind: str, addr: int, count: int) -> list[int]:
        data = self.device.service.registers(kind, addr, count)
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, 2 * count, 2)]

    def _read_bits(self, kind: str, addr: int, count: int) -> list[int]:
        data = self.device.service.registers(kind, addr, count)
        return [(data[i >> 3] >> (i & 7)) & 1 for i in range(count)]

    def write(self, name: str, value) -> None:
        raise ModbusError(f"{self.port}: the console answers reads only; write over RS-485")


def open_client(
    port: str, unit: int = 1, baud: int = 19200, parity: str = "E", timeout_s: float = 1.0
) -> GridpodModbus:
    """A register client for port: the running application's console, or a Modbus RTU port."""
    try:
        dev = Device(port, log=lambda _line: None, read_only=True)
    except DeviceError:
        dev = None  # not openable here: the Modbus client says why, in its words
    if dev is not None:
        try:
            if dev.probe() is not None:
                return ConsoleRegisters(dev)
            echo = dev.service.repl_echo
        except BaseException:
            dev.close()
            raise
        dev.close()
        if echo:
            raise ModbusError(
                f"{port} is a board's console and its application is not running (a REPL "
                "answered): start it (`gridpod start`), or read over the RS-485 port"
            )
    return GridpodModbus(port, unit, baud, parity, timeout_s)
