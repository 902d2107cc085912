"""Service channel: read-only answers to host tools on the console, from inside the scan loop.

A host tool (gridpod doctor, monitor on the console, config pull/diff, the event log read, the
no-op deploy decision) must never stop a live module: Ctrl-C into the raw REPL forces the outputs
safe, and the battery contactors of a live module open. It sends framed requests on the console
instead, and this control-slot task answers them without leaving the loop (docs/service-channel.md).

Frame: one ASCII line: preamble, length, payload, CRC.
    #GP>LLLL<payload: 2 x LLLL hex digits>CCCC\\r     host -> board
    #GP<LLLL<payload: 2 x LLLL hex digits>CCCC\\r\\n   board -> host
LLLL: payload bytes; CCCC: CRC-16/MODBUS of the payload bytes (comms/modbus_rtu.crc16), 4 hex
digits. Every byte of a frame is printable ASCII: no frame can ever be a REPL control character
(Ctrl-A/B raw REPL, Ctrl-C interrupt, Ctrl-D soft reset, Ctrl-E paste), and a friendly REPL (an
application that is not running) reads the line as a Python comment and does nothing.
Payload: request = seq u8, command u8, arguments; reply = the request's seq, status u8, data.
Commands (all read only; numbers big endian):
  S  status: JSON (board, firmware, deploy id, config crc32/status, MicroPython, unique id,
     module id, run mode and reason, uptime, boot count, reset cause, active faults: their
     count and the first names)
  R  u32 offset, u16 max, path: u32 file size, then up to min(max, 256) bytes from offset
  V  the deployed files against <root>manifest.json: JSON {"id", "files", "bad", "first"}
     (sha256 of every listed file; the no-op deploy decision)
  G  u8 kind (comms.register_bank K_*), u16 address, u16 count (<= 120): registers as Modbus
     sends them (words high byte first, bits packed LSB first); monitor on the console
Status: 0 ok, 1 bad request, 2 not found, 3 not available here, 4 error (data: its text).
Bounded work per tick: at most one receive buffer of input read, one request answered (one reply
line written, at most about 1.4 KB: a status with a long reason), and a verify hashes in
_STEP-byte steps until _BUDGET_US of work. Nothing raises into the scheduler (a task error would
raise a fault): the task always checks in.
"""

import json
import sys
from binascii import hexlify, unhexlify

from comms.modbus_rtu import CRC_TABLE, crc16
from control.faults import MAX_FAULTS
from micropython import const

from app import state
from app.version import FIRMWARE_VERSION_MAJOR, FIRMWARE_VERSION_MINOR

TYPE_CHECKING = False  # mypy reads this as True; MicroPython skips the block
if TYPE_CHECKING:
    from typing import Any

_FILE_IDLE_TICKS = const(10)  # an open file is closed after a second without a read of it
_RX = const(128)  # longest request line (a read of a path up to 50 characters)
_DATA_MAX = const(256)  # longest file chunk in a reply (a 538-character line)
_TX = const(1400)  # longest reply line: a status (its reason and fault names are cut to fit)
_BUDGET_US = const(3000)  # work per tick of a verify in progress
_REGS_MAX = const(120)
_FAULT_NAMES = const(6)  # the status line stays short: names of the first 6 active faults
_REASON = const(120)  # and the run-mode reason cut here (all of it: the REPL's app.state.reason)

ST_OK = const(0)
ST_BAD_REQUEST = const(1)
ST_NOT_FOUND = const(2)
ST_NOT_AVAILABLE = const(3)
ST_ERROR = const(4)

_PRE_IN = b"#GP>"
_PRE_OUT = b"#GP<"
_HEX = b"0123456789abcdef"
_CONFIG_STATUS = ("ok", "defaults", "invalid")  # app.config CONFIG_OK/DEFAULTS/INVALID


def frame_crc(data, crc=0xFFFF):
    return crc16(data, len(data), crc)


class Service:
    """Control-slot task: one request line at a time, answered from the running App."""

    def __init__(self, app, console, board_name, root):
        self.app = app
        self.console = console
        self.board_name = board_name
        self.root = root
        self.rx = bytearray(_RX)
        self.data = bytearray(4 + _DATA_MAX)  # a reply's data: a file chunk, registers
        self._file = None  # the file a host is reading (see _open)
        self._file_path = None
        self._file_idle = 0  # control ticks since its last read
        self.tx = bytearray(_TX)  # a reply line, as sent
        self.rx_len = 0
        self.scanned = 0  # rx[:scanned] holds no line end
        self.skipping = False  # the current line overflowed the buffer: drop it to its end
        self.seq = 0  # of the request being answered
        self.job: Any = None  # a verify in progress (for request self.seq)
        self.requests = 0
        self.bad_frames = 0
        self._up_s = 0  # seconds, so the count stays a small int (ms would pass 2**30 in 12 days)
        self._up_ms = 0  # the part of a second not counted yet
        self._last_ms = None

    # ----- the task --------------------------------------------------------------------------------
    def tick(self, now_ms):
        p = self.app.platform
        if self._last_ms is not None:
            self._up_ms += p.ticks_diff(now_ms, self._last_ms)
            if self._up_ms >= 1000:
                self._up_s += self._up_ms // 1000
                self._up_ms %= 1000
        self._last_ms = now_ms
        try:
            if self._file is not None:
                self._file_idle += 1
                if self._file_idle > _FILE_IDLE_TICKS:
                    self._close_file()
            if self.job is not None:
                self._continue(p)
            else:
                self._receive(now_ms)
        except Exception as e:  # noqa: BLE001 - a read must never become a task fault
            self._drop_job()
            self._close_file()
            try:
                self._error(self.seq, e)
            except Exception:  # noqa: BLE001 - the console itself failed: nobody to tell
                pass
        return True

    def _receive(self, now_ms):
        rx = self.rx
        end = self.rx_len
        end += self.console.read_into(rx, end, _RX)
        for i in range(self.scanned, end):
            c = rx[i]
            if c == 0x0D or c == 0x0A:
                if not self.skipping and i >= 4 and rx[:4] == _PRE_IN:
                    self._line(i, now_ms)
                self.skipping = False
                rest = end - i - 1
                rx[:rest] = rx[i + 1 : end]
                self.rx_len = rest
                self.scanned = 0
                return  # one line per tick; a next one waits in rx
        if end >= _RX:
            self.skipping = True  # no line end within the buffer: not a request of ours
            end = 0
        self.rx_len = end
        self.scanned = end

    def _line(self, end, now_ms):
        """rx[:end] is a whole '#GP>' line: check it, answer it (or count it as bad)."""
        rx = self.rx
        try:
            n = int(bytes(rx[4:8]), 16)
            if end != 12 + 2 * n:
                raise ValueError
            payload = unhexlify(bytes(rx[8 : 8 + 2 * n]))
            crc = int(bytes(rx[8 + 2 * n : end]), 16)
        except ValueError:
            self.bad_frames += 1
            return
        if n < 2 or frame_crc(payload) != crc:
            self.bad_frames += 1
            return
        self.requests += 1
        self.seq = payload[0]
        self._dispatch(payload[0], payload[1], payload, now_ms)

    # ----- replies ---------------------------------------------------------------------------------
    def _reply(self, seq, status, data=b"", n=-1):
        """One reply line, hex digits and CRC written into the preallocated tx buffer (a file
        chunk or registers allocate nothing here); data[:n] (n -1: all of it)."""
        if n < 0:
            n = len(data)
        tx = self.tx
        for i in range(4):
            tx[i] = _PRE_OUT[i]
        length = 2 + n
        for i in range(4):
            tx[4 + i] = _HEX[(length >> (12 - 4 * i)) & 0xF]
        table = CRC_TABLE
        crc = 0xFFFF
        pos = 8
        for i in range(-2, n):
            b = seq if i == -2 else status if i == -1 else data[i]
            crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
            tx[pos] = _HEX[b >> 4]
            tx[pos + 1] = _HEX[b & 0xF]
            pos += 2
        for i in range(4):
            tx[pos + i] = _HEX[(crc >> (12 - 4 * i)) & 0xF]
        tx[pos + 4] = 0x0D
        tx[pos + 5] = 0x0A
        self.console.write(memoryview(tx)[: pos + 6])

    def _json(self, seq, obj):
        self._reply(seq, ST_OK, json.dumps(obj).encode())

    def _error(self, seq, exc):
        self._reply(seq, ST_ERROR, repr(exc)[:_DATA_MAX].encode())

    def _drop_job(self):
        """End a deploy check (done or failed) and forget its module (heap)."""
        job = self.job
        self.job = None
        if job is not None:
            try:
                job.close()
            except OSError:
                pass
        sys.modules.pop("app.deploy_check", None)
        package = sys.modules.get("app")
        if package is not None:
            package.__dict__.pop("deploy_check", None)

    # ----- commands --------------------------------------------------------------------------------
    def _dispatch(self, seq, cmd, payload, now_ms):
        if cmd == 0x53:  # 'S'
            self._json(seq, self.status())
        elif cmd == 0x52:  # 'R'
            self._read(seq, payload)
        elif cmd == 0x56:  # 'V'
            from app.deploy_check import DeployCheck  # loaded for this request only

            try:
                self.job = DeployCheck(self.root)
            except OSError:
                self._drop_job()
                self._reply(seq, ST_NOT_FOUND)
                return
            self._continue(self.app.platform)
        elif cmd == 0x47:  # 'G'
            self._registers(seq, payload, now_ms)
        else:
            self._reply(seq, ST_BAD_REQUEST)

    def _continue(self, p):
        job = self.job
        t0 = p.ticks_us()
        while True:
            if job.step():
                self._drop_job()
                self._json(self.seq, job.result())
                return
            if p.ticks_diff(p.ticks_us(), t0) >= _BUDGET_US:
                return

    def _read(self, seq, payload):
        if len(payload) < 9:
            self._reply(seq, ST_BAD_REQUEST)
            return
        offset = int.from_bytes(payload[2:6], "big")
        want = min(int.from_bytes(payload[6:8], "big"), _DATA_MAX)
        path = payload[8:]
        if path[:1] != b"/":
            self._reply(seq, ST_BAD_REQUEST)
            return
        f = self._open(path)
        if f is None:
            self._reply(seq, ST_NOT_FOUND)
            return
        data = self.data
        size = f.seek(0, 2)
        f.seek(offset)
        got = f.readinto(memoryview(data)[4 : 4 + want]) if want else 0
        for i in range(4):
            data[i] = (size >> (24 - 8 * i)) & 0xFF
        self._reply(seq, ST_OK, data, 4 + (got or 0))

    def _open(self, path):
        """The file a host reads chunk after chunk stays open between its requests (one open,
        not one per chunk: less garbage between collections); closed when idle (tick)."""
        if self._file is not None and self._file_path == path:
            self._file_idle = 0
            return self._file
        self._close_file()
        try:
            self._file = open(self.root + path[1:].decode(), "rb")
        except OSError:
            return None
        self._file_path = path
        self._file_idle = 0
        return self._file

    def _close_file(self):
        f = self._file
        self._file = None
        self._file_path = None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass

    def _registers(self, seq, payload, now_ms):
        points = self.app.points
        if points is None:
            self._reply(seq, ST_NOT_AVAILABLE)  # no RS-485 on this board: no register bank
            return
        if len(payload) != 7:
            self._reply(seq, ST_BAD_REQUEST)
            return
        kind = payload[2]
        start = int.from_bytes(payload[3:5], "big")
        count = int.from_bytes(payload[5:7], "big")
        if kind > 3 or not 0 < count <= _REGS_MAX:
            self._reply(seq, ST_BAD_REQUEST)
            return
        bank = points.bank
        bank.hooks_refresh(now_ms)
        data = self.data
        if kind < 2:
            code = bank.read_regs(kind, start, count, data, 0)
        else:
            code = bank.read_bits(kind, start, count, data, 0)
        if code:
            self._reply(seq, ST_BAD_REQUEST)
            return
        self._reply(seq, ST_OK, data, 2 * count if kind < 2 else (count + 7) >> 3)

    def status(self):
        app = self.app
        cfg = app.config
        faults = app.faults
        active: list = []
        count = 0
        for i in range(MAX_FAULTS):
            if faults.defined(i) and faults.is_active(i):
                count += 1
                if len(active) < _FAULT_NAMES:
                    active.append(faults.name(i))
        impl = sys.implementation
        mode = "normal"
        if state.maintenance:
            mode = "maintenance"
        elif state.safe_mode:
            mode = "safe_mode"
        return {
            "board": self.board_name,
            "firmware": "%d.%d" % (FIRMWARE_VERSION_MAJOR, FIRMWARE_VERSION_MINOR),
            "deploy": self._deploy_id(),
            "config_crc32": "%08x" % cfg.crc if not cfg.invalid else None,
            "config_status": _CONFIG_STATUS[cfg.status],
            "micropython": "%d.%d.%d" % impl.version[:3],
            "mpy": getattr(impl, "_mpy", 0),
            "platform": sys.platform,
            "unique_id": hexlify(app.platform.unique_id()).decode(),
            "module_id": cfg.values["module_id"],
            "mode": mode,
            "reason": state.reason[:_REASON],
            "uptime_s": self._up_s,
            "boot": app.log.boot_count,
            "reset_cause": app.reset_cause,
            "faults": active,
            "fault_count": count,
        }

    def _deploy_id(self):
        """The id gridpod deploy wrote first in <root>manifest.json (None without one)."""
        try:
            with open(self.root + "manifest.json", "rb") as f:
                head = f.read(64)
        except OSError:
            return None
        i = head.find(b'"id"')
        if i < 0:
            return None
        start = head.find(b'"', i + 4) + 1
        end = head.find(b'"', start)
        return head[start:end].decode() if 0 < start < end else None
