"""A raw TCP port for a serial device path: what ser2net does for a virtual module, in Python.

The exporter host of a virtual module uses ser2net when it is installed (`make setup` installs
it where it can: Debian's ser2net package). Where it cannot be installed, this forwarder serves
the same thing, so the same exporter file (NetworkSerialPort, protocol raw) and the same client
work: one client at a time, a new client takes the port over (ser2net's kickolduser), bytes
copied both ways unchanged.

    fwd = TcpForwarder("build/vboard-console", host="127.0.0.1", port=0)
    fwd.port            # the TCP port it listens on
    fwd.close()
"""

import contextlib
import os
import selectors
import socket
import termios
import threading
import time
import tty

POLL_S = 0.1


class TcpForwarder:
    def __init__(self, device: str, host: str = "127.0.0.1", port: int = 0):
        self.device = device
        self.listener = socket.create_server((host, port))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._client: socket.socket | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        self.listener.settimeout(POLL_S)
        serving = None
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                old, self._client = self._client, conn
            if old is not None:  # the new client takes the port over, once the old one let go
                with contextlib.suppress(OSError):
                    old.shutdown(socket.SHUT_RDWR)
                serving.join(2)
            serving = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            serving.start()

    def _serve(self, conn: socket.socket) -> None:
        fd = os.open(self.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            if os.isatty(fd):
                tty.setraw(fd, termios.TCSANOW)
            sel = selectors.DefaultSelector()
            sel.register(conn, selectors.EVENT_READ, "tcp")
            sel.register(fd, selectors.EVENT_READ, "dev")
            while not self._stop.is_set() and self._client is conn:
                for key, _ in sel.select(POLL_S):
                    if key.data == "tcp":
                        data = conn.recv(4096)
                        if not data:
                            return
                        _write_all(fd, data)
                    else:
                        try:
                            data = os.read(fd, 4096)
                        except (BlockingIOError, InterruptedError):
                            continue
                        conn.sendall(data)
        except OSError:
            pass  # the client or the device went away: the next client opens it again
        finally:
            os.close(fd)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(OSError):
                    self._client.shutdown(socket.SHUT_RDWR)
        self._thread.join(2)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            time.sleep(0.005)  # let the device drain a little
            continue
        view = view[n:]
