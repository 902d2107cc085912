"""Capability objects a bench offers (labgrid's protocols): small, one job each, the same methods on
every bench that has them. Tests use these, never a bench's own parts.

  Console      a MicroPython REPL on a port: `port` for the product's tools (Device, deploy,
               config), exec(code) through unmodified mpremote
  ConsoleLog   what the board printed: mark() now, text_since(mark) later
  Power        cut and restore the board's supply: cycle()
  ModbusPort   the module's RS-485 port: `port`, open() -> the product's Modbus client
"""

import subprocess
import sys

from .bench import BenchError


def mpremote(port: str, *args: str, timeout_s: float = 60.0) -> str:
    """Run unmodified mpremote; return stdout or raise BenchError with its message."""
    cmd = [sys.executable, "-m", "mpremote", "connect", port, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BenchError(f"mpremote {' '.join(args[:2])} timed out after {timeout_s} s") from None
    if proc.returncode:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise BenchError(
            f"mpremote {' '.join(args[:2])} failed: {msg[-1] if msg else proc.returncode}"
        )
    return proc.stdout


class Console:
    """A MicroPython REPL on a serial port (USB, UART bridge or pty)."""

    def __init__(self, port: str):
        self.port = port

    def exec(self, code: str, timeout_s: float = 60.0) -> str:
        """Run code in the raw REPL (interrupting the application) and return what it printed."""
        return mpremote(self.port, "exec", code, timeout_s=timeout_s)


class ConsoleLog:
    """What the board printed on its console since the bench opened, as text (CR LF as sent).

    mark() is a position in everything ever printed, so text_since(mark) stays right even when
    the bench trims old output."""

    def mark(self) -> int:
        raise NotImplementedError

    def text_since(self, mark: int = 0) -> str:
        raise NotImplementedError


class BufferLog(ConsoleLog):
    """A console log kept in a bytearray by its owner, which counts what it cut from the front."""

    def __init__(self, owner, buffer: str, dropped: str | None = None):
        self._owner, self._buffer, self._dropped = owner, buffer, dropped

    def _state(self) -> tuple[bytearray, int]:
        dropped = getattr(self._owner, self._dropped) if self._dropped else 0
        return getattr(self._owner, self._buffer), dropped

    def mark(self) -> int:
        buf, dropped = self._state()
        return dropped + len(buf)

    def text_since(self, mark: int = 0) -> str:
        buf, dropped = self._state()
        return bytes(buf[max(0, mark - dropped) :]).decode(errors="replace")


class Power:
    """The board's supply."""

    def cycle(self) -> None:
        """Cut power and restore it (the board boots with reset cause power-on)."""
        raise NotImplementedError


class ModbusPort:
    """The module's RS-485 port."""

    def __init__(self, port: str):
        self.port = port

    def open(self):
        """The product's Modbus client on this port (gridpod.modbus.client.GridpodModbus)."""
        from ..modbus.client import GridpodModbus

        return GridpodModbus(self.port)
