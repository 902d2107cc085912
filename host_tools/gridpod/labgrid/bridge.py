"""A local pty for a serial port that lives somewhere else (ser2net on an exporter host).

labgrid hands a client a NetworkSerialPort: host, TCP port and protocol ("raw" for our ser2net
of a virtual module, "rfc2217" for the ser2net labgrid's exporter starts for a USBSerialPort).
The product's tools (mpremote, gridpod deploy and config, minimalmodbus) take a port *path*, so
the bridge makes one: a pty whose other end is copied to and from the remote port, as the
virtual board's own ptys are. Everything the remote port sends is also kept in `log`, which is
the bench's console log (the boot banner the strategy waits for).

    bridge = SerialBridge("socket://exporter-1:40123")
    bridge.path          # /dev/pts/N: give it to mpremote, gridpod deploy, GridpodModbus
    bridge.log           # bytes received so far (the newest LOG_MAX_BYTES; `dropped` before)
    bridge.close()

One reader thread copies remote -> pty, one copies pty -> remote. The pty keeps its slave open
(vboard.ports.PtyPort), so a tool closing it never hangs the line up; output nobody reads waits
in the pty's backlog and its oldest bytes are dropped past BACKLOG_BYTES, as a USB-UART does.
"""

import select
import threading

import serial

from ..hil.bench import BenchError
from ..vboard.ports import PtyPort

LOG_MAX_BYTES = 1 << 20  # past this the log keeps its newest half
POLL_S = 0.05  # how often each thread looks at its stop flag


def port_url(host: str, port: int, protocol: str) -> str:
    """The pyserial URL of a NetworkSerialPort (what labgrid's SerialDriver opens too)."""
    if protocol == "raw":
        return f"socket://{host}:{port}"
    if protocol == "rfc2217":
        # ser2net does not answer every RFC 2217 control request: labgrid ignores them too
        return f"rfc2217://{host}:{port}?ign_set_control"
    raise BenchError(f"serial port {host}:{port}: unknown protocol {protocol!r} (raw, rfc2217)")


class SerialBridge:
    def __init__(self, url: str, baud: int = 115200, name: str = "port"):
        self.url, self.name = url, name
        self.log = bytearray()
        self.dropped = 0
        self.error: str | None = None  # why the remote side went away, when it did
        try:
            self.remote = serial.serial_for_url(url, baudrate=baud, timeout=POLL_S)
        except (serial.SerialException, OSError, ValueError) as e:
            raise BenchError(f"{name}: cannot open {url}: {e}") from e
        self.pty = PtyPort(name)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._from_remote, name=f"bridge-{name}-in", daemon=True),
            threading.Thread(target=self._to_remote, name=f"bridge-{name}-out", daemon=True),
        ]
        for t in self._threads:
            t.start()

    @property
    def path(self) -> str:
        return self.pty.path

    def _from_remote(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.remote.read(max(1, self.remote.in_waiting))
            except (serial.SerialException, OSError) as e:
                self._lost(e)
                return
            with self._lock:
                if data:
                    self.log += data
                    if len(self.log) > LOG_MAX_BYTES:
                        cut = len(self.log) - LOG_MAX_BYTES // 2
                        del self.log[:cut]
                        self.dropped += cut
                    self.pty.write(data)
                else:
                    self.pty.flush()  # a tool may have started reading what waited

    def _to_remote(self) -> None:
        fd = self.pty.master_fd
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], POLL_S)
            if not ready:
                continue
            data = self.pty.read()
            if not data:
                continue
            try:
                self.remote.write(data)
            except (serial.SerialException, OSError) as e:
                self._lost(e)
                return

    def _lost(self, e: Exception) -> None:
        if not self._stop.is_set() and self.error is None:
            self.error = f"{self.name}: {self.url} went away: {e}"

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(2)
        try:
            self.remote.close()
        except (serial.SerialException, OSError):
            pass
        self.pty.close()
