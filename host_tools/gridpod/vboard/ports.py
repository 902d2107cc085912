"""Pseudo-terminals that stand in for a board's USB-serial REPL and its RS-485 transceiver.

The supervisor owns the master side; host tools open the slave path like any serial port
(pyserial, mpremote, minimalmodbus, mbpoll, a terminal). The slave is kept open by the supervisor
too, so the port never hangs up between clients. Output the kernel cannot take yet waits in
`pending` (the supervisor flushes it when the master becomes writable). Past BACKLOG_BYTES the
port is `full`: the supervisor stops reading the VM's output, whose writes then block, as a
board's USB CDC stack waits for a host that reads (nothing is lost). When the reader took nothing
for STALL_S (nobody has the port open, or the reader stopped), output past the backlog is dropped
(`dropped` counts it), as that stack gives up on a host that does not read; the board runs on.
A producer nobody holds (the RS-485 port) loses its oldest bytes past MAX_PENDING_BYTES.

`--link-console PATH` / `--link-modbus PATH` put a symlink to the pty at a path the user names.
Only a symlink a virtual board left behind is replaced there (check_link_path): one whose pty is
gone (dangling). A file, a folder, any other link, or the link of a board still running is refused,
and no folder is created.
"""

import errno
import os
import selectors
import termios
import time
import tty
from pathlib import Path

from .board_file import VirtualBoardError
from .line_rate import LineRate

BACKLOG_BYTES = 256 * 1024  # output waiting for the reader before the producer is held
STALL_S = 1.0  # a reader that takes nothing for this long is not reading (USB CDC: 0.5 s a chunk)
MAX_PENDING_BYTES = 4 * BACKLOG_BYTES
PTY_DIR = "/dev/pts/"


def check_link_path(link: str | Path, option: str = "--link") -> Path:
    """The link path, when a pty symlink may be made there: nothing there yet (in an existing
    folder), or a dangling symlink (left by a virtual board that is gone). VirtualBoardError
    otherwise: what is at the path belongs to the user, or to a board still running."""
    link = Path(link)
    if link.is_symlink():
        target = os.readlink(link)
        if not link.exists():
            return link  # dangling: its pty is gone
        if target.startswith(PTY_DIR):
            raise VirtualBoardError(
                f"{option} {link} links to {target}, a pty that is still open (another virtual "
                "board?): stop that board or choose another path"
            )
        raise VirtualBoardError(
            f"{option} {link} is a symlink to {target}: refusing to replace it; choose another path"
        )
    if link.exists():
        what = "a folder" if link.is_dir() else "a file"
        raise VirtualBoardError(
            f"{option} {link} is {what} that exists: refusing to replace it with a link; "
            "choose a new path"
        )
    if not link.parent.is_dir():
        raise VirtualBoardError(
            f"{option} {link}: folder {link.parent} does not exist: create it first or choose "
            "another path"
        )
    return link


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
        self.progress_at = time.monotonic()  # the reader last took bytes (or output began)
        self.dropped = 0  # bytes given up on a reader that stalled
        self.rate = LineRate(baud)
        self.link = None
        if link is not None:
            try:
                check_link_path(link, f"link for the {name} pty")
                if Path(link).is_symlink():
                    Path(link).unlink()  # dangling: left by a board that is gone
                Path(link).symlink_to(self.path)
            except (VirtualBoardError, OSError):
                self.close()
                raise
            self.link = Path(link)

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

    @property
    def stalled(self) -> bool:
        """Output waits and the reader took none of it for STALL_S."""
        return bool(self.pending) and time.monotonic() - self.progress_at > STALL_S

    @property
    def full(self) -> bool:
        """Hold the producer: the backlog is full and the reader is still taking bytes."""
        return len(self.pending) >= BACKLOG_BYTES and not self.stalled

    def write(self, data: bytes) -> None:
        if not self.pending:
            self.progress_at = time.monotonic()
        if len(self.pending) >= BACKLOG_BYTES and self.stalled:
            self.dropped += len(data)  # nobody reads: the newest output goes, as on a board
        else:
            self.pending += data
        if len(self.pending) > MAX_PENDING_BYTES:
            cut = len(self.pending) - MAX_PENDING_BYTES
            del self.pending[:cut]
            self.dropped += cut
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
            if n:
                self.progress_at = time.monotonic()
            self.rate.take(n)
            del self.pending[:n]

    def close(self) -> None:
        for fd in (self.master_fd, self.slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link is not None and self.link.is_symlink() and os.readlink(self.link) == self.path:
            self.link.unlink()  # only our own link: never what someone put there since
