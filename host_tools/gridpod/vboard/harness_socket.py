"""The virtual board's end of the harness socket (protocol: gridpod/harness/protocol.py).

One listening AF_UNIX socket per board; one connection per VM run at a time (a VM reconnects when
Ctrl-C cut an exchange, and the new connection replaces the old). Incoming bytes are cut into
[u8 type][u16 length][payload] messages for the supervisor; a reply goes out at once or, when
the supervisor paces the clock (--speed N), waits here until the wall clock reaches its due time.
Runs in the supervisor thread only.
"""

import selectors
import socket
import time

from ..harness import protocol as h


class HarnessSocket:
    def __init__(self, path: str, on_message):
        self.path = path
        self._on_message = on_message  # (msg_type, payload) -> None
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(4)
        self.listener.setblocking(False)
        self.conn = None
        self.inbuf = bytearray()
        self.pending = None  # (due wall time, reply bytes)
        self._sel = None
        self._runs = 0  # disconnect() count: a message that ended the VM run stops the parsing

    def attach(self, sel) -> None:
        self._sel = sel
        sel.register(self.listener, selectors.EVENT_READ, "accept")

    def close(self) -> None:
        self.disconnect()
        self.listener.close()

    def accept(self, vm_running: bool) -> None:
        conn, _ = self.listener.accept()
        conn.setblocking(True)
        if not vm_running:
            conn.close()
            return
        self.disconnect()
        # A reply still waiting for the wall clock belongs to the dropped connection; sending
        # it on the new one would shift every later reply by one.
        self.pending = None
        self.conn = conn
        self.inbuf = bytearray()
        self._sel.register(conn, selectors.EVENT_READ, "harness")

    def disconnect(self) -> None:
        """Forget the VM's connection (the VM run ended, or a new connection replaces it)."""
        self._runs += 1
        if self.conn is not None:
            self._sel.unregister(self.conn)
            self.conn.close()
            self.conn = None
        self.pending = None

    def on_readable(self, conn) -> None:
        if conn is not self.conn:
            return
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._sel.unregister(conn)
            conn.close()
            self.conn = None
            return
        self.inbuf += data
        run = self._runs
        while len(self.inbuf) >= 3:
            msg_type, length = h.HEADER.unpack_from(self.inbuf)
            if len(self.inbuf) < 3 + length:
                break
            payload = bytes(self.inbuf[3 : 3 + length])
            del self.inbuf[: 3 + length]
            self._on_message(msg_type, payload)
            if self._runs != run:
                return

    def reply(self, data: bytes, due: float | None = None) -> None:
        """Send now, or when the wall clock reaches `due` (time.monotonic())."""
        if due is None:
            self.send(data)
        else:
            self.pending = (due, data)

    def send(self, data: bytes) -> None:
        self.pending = None
        if self.conn is not None:
            try:
                self.conn.sendall(data)
            except OSError:
                # The VM dropped this connection (Ctrl-C cut an exchange and it reconnected,
                # or it died); the reply is meaningless now.
                self._sel.unregister(self.conn)
                self.conn.close()
                self.conn = None

    def timeout(self, timeout_s: float) -> float:
        """The selector timeout, shortened to a pending reply's due time."""
        if self.pending is None:
            return timeout_s
        return max(0.0, min(timeout_s, self.pending[0] - time.monotonic()))

    def send_due(self) -> None:
        if self.pending is not None and time.monotonic() >= self.pending[0]:
            self.send(self.pending[1])
