"""Pseudo-terminals that stand in for a board's USB-serial REPL and its RS-485 transceiver.

The supervisor owns the master side; host tools open the slave path like any serial port
(pyserial, mpremote, minimalmodbus, mbpoll, a terminal). The slave is kept open by the supervisor
too, so the port never hangs up between clients. Output the kernel cannot take yet waits in
`pending` (the supervisor flushes it when the master becomes writable); past BACKLOG_BYTES the
oldest bytes are dropped, as a USB-UART bridge drops what nobody collects.
"""

import errno
import os
import selectors
import termios
import tty
from pathlib import Path

from .line_rate import LineRate

BACKLOG_BYTES = 256 * 1024


class PtyPort:
    def __init__(self, name: str, link: Path | None = None, baud: int | None = None):
        self.name = name
        self.master_fd, self.slave_fd = os.openpty()
        tty.setraw(self.slave_fd)
        attrs = termios.tcgetattr(self.slave_fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self.slave_fd, termios.TCSANOW, attrs)
        os.set_blocking(self.master_fd, False)
        self.path = os.ttyname(self.slave_fd)
        self.pending = bytearray()
        self.rate = LineRate(baud)
        self.link = None
        if link is not None:
            self.link = Path(link)
            if self.link.is_symlink() or self.link.exists():
                self.link.unlink()
            self.link.parent.mkdir(parents=True, exist_ok=True)
            self.link.symlink_to(self.path)

    def fileno(self) -> int:
        return self.master_fd

    def want_events(self) -> int:
        """Selector events to wait for: read always, write while output waits and the line
        rate lets it go."""
        writable = self.pending and self.rate.wait_s() == 0
        return selectors.EVENT_READ | (selectors.EVENT_WRITE if writable else 0)

    def read(self) -> bytes:
        try:
            return os.read(self.master_fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as e:
            if e.errno == errno.EIO:
                return b""
            raise

    def write(self, data: bytes) -> None:
        self.pending += data
        if len(self.pending) > BACKLOG_BYTES:
            del self.pending[: len(self.pending) - BACKLOG_BYTES]
        self.flush()

    def flush(self) -> None:
        while self.pending:
            k = self.rate.allow(len(self.pending))
            if not k:
                return
            try:
                n = os.write(self.master_fd, self.pending[:k])
            except BlockingIOError:
                return
            self.rate.take(n)
            del self.pending[:n]

    def close(self) -> None:
        for fd in (self.master_fd, self.slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
