"""Service channel: read-only answers to host tools on the console, from inside the scan loop.

A host tool (gridpod doctor, monitor on the console, config pull/diff, the event log read, the
no-op deploy decision) must never stop a live module: Ctrl-C into the raw REPL forces the outputs
safe, and the battery contactors of a live module open. It sends framed requests on the console
instead, and this control-slot task answers them without leaving the loop (docs/service-channel.md).

Frame: one ASCII line: "#GP>" (host) or "#GP<" (board), 4 hex digits of payload length, the
payload in hex, 4 hex digits of CRC-16/MODBUS over the payload bytes; CR (and LF from the board).
Printable ASCII only: no frame is ever a REPL control character (Ctrl-A..E), and a friendly REPL
(an application that is not running) reads the line as a Python comment.
Payload: request = seq u8, command u8, arguments; reply = the request's seq, status u8, data.
Commands (all read only; numbers big endian):
  S  status: JSON (board, firmware, deploy id, config crc32/status/trial, MicroPython, unique id,
     module id, run mode and reason, uptime, boot count, reset cause, active fault count/names)
  R  u32 offset, u16 max, path: u32 file size, then up to min(max, 256) bytes from offset
  V  the deployed files against <root>manifest.json: JSON {"id", "files", "bad", "first"}
     (app/deploy_check.py, loaded for that request only: the no-op deploy decision)
  G  u8 kind (comms.register_bank K_*), u16 address, u16 count (<= 120): registers as Modbus
     sends them (words high byte first, bits packed LSB first); monitor on the console
Status: 0 ok, 1 bad request, 2 not found, 3 not available here, 4 error (data: its text).
Bounded work per control tick (docs/service-channel.md has the measure): at most one receive
buffer read (_RX bytes) and one request parsed and dispatched; its reply written in pieces of 32
bytes (64 characters) until _BUDGET_US of the tick's work is spent, the rest at the next ticks
(app/service_answers.py, loaded at the first request); a deploy check worked on the same way.
Nothing raises into the scheduler (a task error would raise a fault): the task always checks in.
"""

import sys
from binascii import unhexlify

from comms.modbus_rtu import crc16
from micropython import const

TYPE_CHECKING = False  # mypy reads this as True; MicroPython skips the block
if TYPE_CHECKING:
    from typing import Any

_RX = const(128)  # longest request line (a read of a path up to 50 characters)
_BUDGET_US = const(3000)  # work per control tick: a reply being written, a verify in progress

_ST_BAD_REQUEST = const(1)  # app/service_answers.py ST_*
_ST_NOT_FOUND = const(2)

_PRE_IN = b"#GP>"


def _forget(name):
    """Drop a module loaded for requests, so the GC frees its code (app/startup.py does the same
    with the boot-only modules)."""
    sys.modules.pop(name, None)
    package = sys.modules.get("app")
    if package is not None:
        package.__dict__.pop(name[4:], None)


class Service:
    """Control-slot task: one request line at a time, answered from the running App."""

    def __init__(self, app, console, board_name, root):
        self.app = app
        self.console = console
        self.board_name = board_name
        self.root = root
        self.rx = bytearray(_RX)
        self.answers: Any = None  # app/service_answers.py, loaded at the first request
        self.rx_len = 0
        self.scanned = 0  # rx[:scanned] holds no line end
        self.skipping = False  # the current line overflowed the buffer: drop it to its end
        self.seq = 0  # of the request being answered
        self.job: Any = None  # a verify in progress (for request self.seq)
        self.requests = 0
        self.bad_frames = 0
        self.uptime_s = 0  # seconds, a small int (ms would pass 2**30 in 12 days)
        self._up_ms = 0  # the part of a second not counted yet
        self._last_ms = None

    # ----- the task --------------------------------------------------------------------------------
    def tick(self, now_ms):
        p = self.app.platform
        t0 = p.ticks_us()
        if self._last_ms is not None:
            self._up_ms += p.ticks_diff(now_ms, self._last_ms)
            if self._up_ms >= 1000:
                self.uptime_s += self._up_ms // 1000
                self._up_ms %= 1000
        self._last_ms = now_ms
        try:
            answers = self.answers
            if answers is not None and answers.src is not None:
                pass  # a reply still going out: nothing new until it is (one at a time)
            elif self.job is not None:
                self._continue(p)
            else:
                if answers is not None and answers.idle():
                    self._forget_answers()
                self._receive(now_ms)
            answers = self.answers
            if answers is not None and answers.src is not None:
                answers.send(p, t0, _BUDGET_US)
        except Exception as e:  # noqa: BLE001 - a read must never become a task fault
            self._drop_job()
            answers = self.answers
            if answers is not None:
                try:
                    answers.abort()
                    answers.close_file()
                    answers.error(self.seq, e)  # sent from the next control tick
                except Exception:  # noqa: BLE001 - the console itself failed: nobody to tell
                    answers.src = None
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
        if n < 2 or crc16(payload, n) != crc:
            self.bad_frames += 1
            return
        self.requests += 1
        self.seq = payload[0]
        self._dispatch(payload[0], payload[1], payload, now_ms)

    def _forget_answers(self):
        """No request for a while: the answers' code and buffers go until the next one."""
        self.answers.close_file()
        self.answers = None
        _forget("app.service_answers")

    def _drop_job(self):
        """End a deploy check (done or failed) and forget its module (heap)."""
        job = self.job
        self.job = None
        if job is not None:
            try:
                job.close()
            except OSError:
                pass
        _forget("app.deploy_check")

    # ----- commands --------------------------------------------------------------------------------
    def _dispatch(self, seq, cmd, payload, now_ms):
        answers = self.answers
        if answers is None:
            from app.service_answers import Answers  # loaded at a request (heap), then kept a while

            answers = self.answers = Answers(self)
        answers.idle_ticks = 0
        if cmd == 0x53:  # 'S'
            answers.json(seq, answers.status())
        elif cmd == 0x52:  # 'R'
            answers.read(seq, payload)
        elif cmd == 0x56:  # 'V'
            from app.deploy_check import DeployCheck  # loaded for this request only

            try:
                self.job = DeployCheck(self.root)
            except OSError:
                self._drop_job()
                answers.reply(seq, _ST_NOT_FOUND)
                return
            self._continue(self.app.platform)
        elif cmd == 0x47:  # 'G'
            answers.registers(seq, payload, now_ms)
        else:
            answers.reply(seq, _ST_BAD_REQUEST)

    def _continue(self, p):
        job = self.job
        t0 = p.ticks_us()
        while True:
            if job.step():
                self._drop_job()
                self.answers.json(self.seq, job.result())
                return
            if p.ticks_diff(p.ticks_us(), t0) >= _BUDGET_US:
                return
