"""The answers of the service channel (app/service.py): status, file chunks, registers, and
the reply writer. Loaded at a host tool's first request and forgotten 30 s after its last: the
scan loop carries only the small receiver while nobody asks (heap: measured in docs/heap.md). A
reply is resumable: reply() writes its head, send() hexes and writes its bytes in pieces of 32
through one small buffer (hex digits and the CRC computed in place) until a time budget of the
control tick is spent, and the next control tick goes on (docs/service-channel.md: the work per
tick is bounded in time, not only in bytes). A file chunk or registers are read into one 260-byte
buffer first; no buffer the size of a whole line stays on the heap."""

import sys
from binascii import hexlify
from json import dumps

from comms.modbus_rtu import CRC_TABLE
from control.faults import MAX_FAULTS
from micropython import const

from app import state
from app.version import FIRMWARE_VERSION_MAJOR, FIRMWARE_VERSION_MINOR

TYPE_CHECKING = False  # mypy reads this as True; MicroPython skips the block
if TYPE_CHECKING:
    from typing import Any

ST_OK = const(0)
ST_BAD_REQUEST = const(1)
ST_NOT_FOUND = const(2)
ST_NOT_AVAILABLE = const(3)
ST_ERROR = const(4)

_FILE_IDLE_TICKS = const(10)  # an open file is closed after a second without a read of it
_FORGET_TICKS = const(300)  # 30 s without a request: the module is forgotten until the next one
_DATA_MAX = const(256)  # longest file chunk in a reply (a 538-character line)
_PIECE = const(32)  # bytes of a reply hexed and written at a time
_REGS_MAX = const(120)
_FAULT_NAMES = const(6)  # the status line stays short: names of the first 6 active faults
_REASON = const(120)  # and the run-mode reason cut here (all of it: the REPL's app.state.reason)
_PRE_OUT = b"#GP<"
_HEX = b"0123456789abcdef"
_CONFIG_STATUS = ("ok", "defaults", "invalid")  # app.config CONFIG_OK/DEFAULTS/INVALID


class Answers:
    def __init__(self, service):
        self.service = service
        self.console = service.console
        self.scratch = bytearray(3 * _PIECE)  # scratch[0:32]: raw bytes, [32:96]: their hex
        self._head = memoryview(self.scratch)[:8]
        self._tail = memoryview(self.scratch)[:6]
        self._raw = memoryview(self.scratch)[:_PIECE]
        self._hex = memoryview(self.scratch)[_PIECE:]
        self._crc = 0xFFFF
        self.data = bytearray(4 + _DATA_MAX)  # a file chunk (its size first) or registers
        self.src: Any = None  # the reply being sent: src[pos:end] is still to go (send())
        self.pos = 0
        self.end = 0
        self._file = None  # the file a host is reading (see _open)
        self._file_path = None
        self._file_idle = 0  # control ticks since its last read
        self.idle_ticks = 0  # control ticks since the last request (app/service.py resets it)

    def idle(self):
        """Once per control tick: close a file nobody read for a while; True once no request
        came for _FORGET_TICKS (app/service.py then forgets this module)."""
        if self._file is not None:
            self._file_idle += 1
            if self._file_idle > _FILE_IDLE_TICKS:
                self.close_file()
        self.idle_ticks += 1
        return self.idle_ticks > _FORGET_TICKS

    def reply(self, seq, status, data=b"", n=-1):
        """Start a reply of data[:n] (n -1: all of it): its head goes out now, its bytes with
        send(). data must stay unchanged until then (one request at a time: app/service.py)."""
        if n < 0:
            n = len(data)
        self._begin(seq, status, n)
        self.src = data
        self.pos = 0
        self.end = n

    def send(self, p, t0_us, budget_us):
        """Write the reply's next pieces until it is all out (True) or budget_us of work since
        t0_us (the control tick's start, platform.ticks_us) is spent (False: the next control
        tick goes on). At least one piece a call."""
        src = self.src
        while self.pos < self.end:
            k = self.end - self.pos
            k = k if k < _PIECE else _PIECE
            self._emit(src, self.pos, k)
            self.pos += k
            if self.pos < self.end and p.ticks_diff(p.ticks_us(), t0_us) >= budget_us:
                return False
        self._end()
        self.src = None
        return True

    def abort(self):
        """A reply cut short (an error while sending): end its line so the host drops it."""
        if self.src is not None:
            self.src = None
            self.console.write(b"\r\n")

    def _begin(self, seq, status, n):
        sc = self.scratch
        for i in range(4):
            sc[i] = _PRE_OUT[i]
            sc[4 + i] = _HEX[((2 + n) >> (12 - 4 * i)) & 0xF]
        self.console.write(self._head)
        self._crc = 0xFFFF
        sc[0] = seq
        sc[1] = status
        self._emit(sc, 0, 2)

    def _emit(self, src, start, n):
        sc = self.scratch
        table = CRC_TABLE
        crc = self._crc
        while n > 0:
            k = n if n < _PIECE else _PIECE
            pos = _PIECE
            for i in range(start, start + k):
                b = src[i]
                crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
                sc[pos] = _HEX[b >> 4]
                sc[pos + 1] = _HEX[b & 0xF]
                pos += 2
            self.console.write(self._hex if k == _PIECE else memoryview(sc)[_PIECE:pos])
            start += k
            n -= k
        self._crc = crc

    def _end(self):
        sc = self.scratch
        for i in range(4):
            sc[i] = _HEX[(self._crc >> (12 - 4 * i)) & 0xF]
        sc[4] = 0x0D
        sc[5] = 0x0A
        self.console.write(self._tail)

    def json(self, seq, obj):
        self.reply(seq, ST_OK, dumps(obj).encode())

    def error(self, seq, exc):
        self.reply(seq, ST_ERROR, repr(exc)[:_DATA_MAX].encode())

    def read(self, seq, payload):
        if len(payload) < 9:
            self.reply(seq, ST_BAD_REQUEST)
            return
        offset = int.from_bytes(payload[2:6], "big")
        want = min(int.from_bytes(payload[6:8], "big"), _DATA_MAX)
        path = payload[8:]
        if path[:1] != b"/":
            self.reply(seq, ST_BAD_REQUEST)
            return
        f = self._open(path)
        if f is None:
            self.reply(seq, ST_NOT_FOUND)
            return
        size = f.seek(0, 2)
        got = max(0, min(want, size - offset))
        f.seek(offset)
        data = self.data
        for i in range(4):
            data[i] = (size >> (24 - 8 * i)) & 0xFF
        n = 0
        view = memoryview(data)
        while n < got:
            k = f.readinto(view[4 + n : 4 + got])
            if not k:
                break  # the file shrank under the read: the size says so
            n += k
        self.reply(seq, ST_OK, data, 4 + n)

    def _open(self, path):
        """The file a host reads chunk after chunk stays open between its requests (one open,
        not one per chunk: less garbage between collections); closed when idle (tick)."""
        if self._file is not None and self._file_path == path:
            self._file_idle = 0
            return self._file
        self.close_file()
        try:
            self._file = open(self.service.root + path[1:].decode(), "rb")
        except OSError:
            return None
        self._file_path = path
        self._file_idle = 0
        return self._file

    def close_file(self):
        f = self._file
        self._file = None
        self._file_path = None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass

    def registers(self, seq, payload, now_ms):
        points = self.service.app.points
        if points is None:
            self.reply(seq, ST_NOT_AVAILABLE)  # no RS-485 on this board: no register bank
            return
        if len(payload) != 7:
            self.reply(seq, ST_BAD_REQUEST)
            return
        kind = payload[2]
        start = int.from_bytes(payload[3:5], "big")
        count = int.from_bytes(payload[5:7], "big")
        if kind > 3 or not 0 < count <= _REGS_MAX:
            self.reply(seq, ST_BAD_REQUEST)
            return
        bank = points.bank
        bank.hooks_refresh(now_ms)
        nbytes = 2 * count if kind < 2 else (count + 7) >> 3
        if start + count > bank.size(kind):
            self.reply(seq, ST_BAD_REQUEST)
            return
        if kind < 2:
            bank.read_regs(kind, start, count, self.data, 0)
        else:
            bank.read_bits(kind, start, count, self.data, 0)
        self.reply(seq, ST_OK, self.data, nbytes)

    def status(self):
        app = self.service.app
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
            "board": self.service.board_name,
            "firmware": "%d.%d" % (FIRMWARE_VERSION_MAJOR, FIRMWARE_VERSION_MINOR),
            "deploy": self._deploy_id(),
            "config_crc32": "%08x" % cfg.crc if not cfg.invalid else None,
            "config_status": _CONFIG_STATUS[cfg.status],
            "config_trial": cfg.trial,  # a pushed config not committed yet (app/config_trial.py)
            "micropython": "%d.%d.%d" % impl.version[:3],
            "mpy": getattr(impl, "_mpy", 0),
            "platform": sys.platform,
            "unique_id": hexlify(app.platform.unique_id()).decode(),
            "module_id": cfg.values["module_id"],
            "mode": mode,
            "reason": state.reason[:_REASON],
            "uptime_s": self.service.uptime_s,
            "boot": app.log.boot_count,
            "reset_cause": app.reset_cause,
            "faults": active,
            "fault_count": count,
        }

    def _deploy_id(self):
        """The id gridpod deploy wrote first in <root>manifest.json (None without one)."""
        try:
            with open(self.service.root + "manifest.json", "rb") as f:
                head = f.read(64)
        except OSError:
            return None
        i = head.find(b'"id"')
        if i < 0:
            return None
        start = head.find(b'"', i + 4) + 1
        end = head.find(b'"', start)
        return head[start:end].decode() if 0 < start < end else None
