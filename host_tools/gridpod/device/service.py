"""Host end of the service channel (firmware/app/service.py; docs/service-channel.md): framed
read-only requests on a board's console that the running application answers from its scan loop,
so reading a live module never stops it.

A request is one ASCII line "#GP>" + length + payload + CRC-16 in hex; the answer is the same with
"#GP<". Nothing in a frame is a REPL control character, and a friendly REPL (no application
running) takes the line for a comment and echoes it: that echo is how a stopped application is
told apart from one that is slow to answer.
"""

from __future__ import annotations

import json
import time
from binascii import hexlify, unhexlify
from typing import Any

from .. import GridpodError

REQUEST = b"#GP>"
REPLY = b"#GP<"
# A running application answers within one control tick (config control_tick_ms <= 1000 ms).
PROBE_S = 1.5
REQUEST_S = 3.0
VERIFY_S = 60.0  # the deploy check hashes every firmware file, a bounded step per tick
READ_CHUNK = 256  # firmware _DATA_MAX

ST_OK, ST_BAD_REQUEST, ST_NOT_FOUND, ST_NOT_AVAILABLE, ST_ERROR = range(5)
STATUS_TEXT = {
    ST_BAD_REQUEST: "bad request",
    ST_NOT_FOUND: "not found",
    ST_NOT_AVAILABLE: "not available on this board",
    ST_ERROR: "error",
}
# comms/register_bank.py K_* (the register kinds of the `G` request)
KINDS = {"H": 0, "I": 1, "C": 2, "D": 3}


class ServiceError(GridpodError):
    """The application answered with an error, or stopped answering."""


class NotFound(ServiceError):
    pass


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/MODBUS, written here independently of the firmware's table version."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def encode(seq: int, cmd: str, args: bytes = b"") -> bytes:
    payload = bytes((seq & 0xFF, ord(cmd))) + args
    return b"%s%04x%s%04x\r" % (REQUEST, len(payload), hexlify(payload), crc16(payload))


def decode(line: bytes) -> tuple[int, int, bytes] | None:
    """(seq, status, data) of one reply line (from "#GP<" to its end), None if it is damaged."""
    try:
        n = int(line[4:8], 16)
        if len(line) != 12 + 2 * n or n < 2:
            return None
        payload = unhexlify(line[8 : 8 + 2 * n])
        if crc16(payload) != int(line[8 + 2 * n :], 16):
            return None
    except ValueError:
        return None
    return payload[0], payload[1], payload[2:]


class ServiceChannel:
    """Requests over an open pyserial port (the caller owns it; mpremote's SerialTransport
    opens it the way boards with an auto-reset circuit need)."""

    def __init__(self, serial, port: str = "?"):
        self.serial = serial
        self.port = port
        self._seq = 0
        self._buf = bytearray()
        self.repl_echo = False  # a friendly REPL echoed a request: no application is running

    def request(self, cmd: str, args: bytes = b"", timeout_s: float = REQUEST_S) -> bytes:
        """The reply data of one request; ServiceError (NotFound) for an error status,
        TimeoutError when nothing answered in time."""
        return self.answer(self.send(cmd, args), timeout_s)

    def send(self, cmd: str, args: bytes = b"") -> int:
        """Send a request without waiting (the host can work meanwhile); its seq for answer()."""
        self._seq = (self._seq + 1) & 0xFF
        self._buf.clear()
        self.serial.reset_input_buffer()
        self.serial.write(encode(self._seq, cmd, args))
        return self._seq

    def answer(self, seq: int, timeout_s: float = REQUEST_S) -> bytes:
        """The reply data of the request sent as seq (see request())."""
        old_timeout = self.serial.timeout
        self.serial.timeout = 0.02
        try:
            return self._answer(seq, timeout_s)
        finally:
            self.serial.timeout = old_timeout

    def _answer(self, seq: int, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        while True:
            found = self._take(seq)
            if found is not None:
                status, data = found
                if status == ST_OK:
                    return data
                text = STATUS_TEXT.get(status, f"status {status}")
                detail = f" ({data.decode(errors='replace')})" if data else ""
                cls = NotFound if status == ST_NOT_FOUND else ServiceError
                raise cls(f"{self.port}: the application answered {text}{detail}")
            if self.repl_echo or time.monotonic() >= deadline:
                break  # a REPL echoed the request: no application will answer
            chunk = self.serial.read(self.serial.in_waiting or 1)
            if chunk:
                self._buf += chunk
        raise TimeoutError(f"{self.port}: no answer on the service channel")

    def _take(self, seq: int) -> tuple[int, int] | None:
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                return None
            line = bytes(self._buf[:end]).rstrip(b"\r")
            del self._buf[: end + 1]
            if REQUEST in line:
                self.repl_echo = True  # our own line came back: a friendly REPL echoes input
                continue
            i = line.find(REPLY)
            if i < 0:
                continue  # whatever else the application prints
            reply = decode(line[i:])
            if reply is not None and reply[0] == seq:
                return reply[1], reply[2]

    # ----- requests -------------------------------------------------------------------------
    def status(self, timeout_s: float = REQUEST_S) -> dict[str, Any]:
        return json.loads(self.request("S", timeout_s=timeout_s))

    def read_file(self, path: str) -> bytes | None:
        """The whole file, READ_CHUNK bytes per request; None when it does not exist."""
        data = bytearray()
        size = None
        while size is None or len(data) < size:
            args = len(data).to_bytes(4, "big") + READ_CHUNK.to_bytes(2, "big") + path.encode()
            try:
                reply = self.request("R", args)
            except NotFound:
                return None
            size = int.from_bytes(reply[:4], "big")
            if len(reply) == 4 and len(data) < size:
                raise ServiceError(f"{self.port}: {path} shrank while being read")
            data += reply[4:]
        return bytes(data[:size])

    def verify_deploy(self, seq: int | None = None) -> dict[str, Any] | None:
        """The deployed files checked on the board against its /manifest.json: {"id", "files",
        "bad", "first"}; None when the board has no manifest. seq: a "V" request already sent
        (send("V")), so the host could build meanwhile."""
        try:
            return json.loads(self.answer(self.send("V") if seq is None else seq, VERIFY_S))
        except NotFound:
            return None

    def registers(self, kind: str, addr: int, count: int) -> bytes:
        """Register bytes as Modbus sends them (words high byte first, bits LSB first)."""
        args = bytes((KINDS[kind],)) + addr.to_bytes(2, "big") + count.to_bytes(2, "big")
        return self.request("G", args)
