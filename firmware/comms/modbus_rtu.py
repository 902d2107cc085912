"""Modbus RTU slave: framing, CRC-16/MODBUS, function codes 01 02 03 04 05 06 15 16.

Where it runs (app/compose.py): tick() in the fast slot reads the UART and frames. With
`deferred` set (the App) it answers a quick read itself (FC01-04 of at most _QUICK_BYTES of data,
from the registers as the last status refresh left them), every other tick at most, and holds
every other request for this unit (writes, broadcasts, longer reads, what the silence ends) for
serve() in the control slot (ModbusPoints.tick calls it), which answers it and what followed it.
The status refresh runs there too (ModbusPoints.tick) and after each write (refresh_reads
unset); on a quiet line the owner pauses it and sets `stale`: the next read is held for serve(),
which refreshes first (no read gets registers older than a control period). Why: an answer with
its refresh costs 8-16 ms of CPU on an ESP32 or RP2040 for an FC03 of 10 registers
(docs/chip-time.md), more than the 10 ms tick, up to _MAX_FRAMES_PER_TICK of them a tick under a
flood: in the fast slot that tripped TICK_OVERRUN on a chip. A quick read can still take a fast
tick a little over its 10 ms on the slowest chip, never two in a row (never the three that
trip). The fast slot keeps the byte collection and the t3.5 framing (DOMAIN.md: "Modbus bytes");
a held request is answered within a control period (100 ms). tick() alone (deferred unset)
frames and answers everything at once, refreshing the status registers before every read.

Framing. The UART is read once per fast tick, so gaps shorter than a tick are invisible here. Two
rules end a frame:
  * silence: a tick that brings no new byte, once t3.5 (38.5e6 / baud us; fixed 1750 us above
    19200 baud) plus the configured margin has passed since the tick of the last byte;
  * length: every supported request's length follows from its header (8 bytes for FC01-06,
    9 + byte count for FC15/16), so a complete request for this unit or broadcast with a valid CRC
    is served (or held for serve()) at once; back-to-back requests and requests split across
    ticks both work.
Traffic for other units (requests or their slaves' answers, of unknown length) is skipped at the
shortest prefix with a valid CRC, or at the silence. Whatever the silence leaves is checked as a
whole: bad CRC or shorter than 4 bytes -> dropped and counted (bad_crc); other unit -> counted
(other_unit); for us with a valid CRC but a malformed body -> exception 03.

Exceptions, checked in this order: 01 illegal function; 03 quantity, byte count, FC05 value or frame
structure; 02 address outside the map, reserved or read-only register, or a multi-register value
written in part; 04 value outside its limits, access level missing, PIN refused (the reason is
published in modbus_last_error). Broadcast (unit 0) executes writes and never answers.

Bounded work: at most one buffer of bytes (256) read and _MAX_FRAMES_PER_TICK frames (served, or
another unit's skipped) handled per tick; the UART FIFO holds the rest, and a tick that stopped at
the budget does not apply the silence rule to what it left. Nothing is allocated per request: one
receive buffer, one transmit buffer with views made once, writes cut into power-of-two views.
"""

from array import array

from micropython import const

from comms.register_bank import K_COIL, K_DISCRETE, K_HOLDING, K_INPUT

_BUF = const(256)  # largest RTU frame
_MAX_FRAMES_PER_TICK = const(4)
# Deferred: a read of at most this many data bytes (32 registers, 512 bits) is answered in the
# fast tick that framed it, every other tick at most (its copy and CRC: a few ms of a chip).
_QUICK_BYTES = const(64)
_TICKS_MASK = const(0x3FFFFFFF)
_COUNT_MASK = const(0xFFFF)
_FAST_BAUD_T35_US = const(1750)


def _make_table():
    # The same table as comms.register_map.crc_table(); built here so that module can be dropped.
    t = array("H", range(256))
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t[i] = c
    return t


CRC_TABLE = _make_table()


def crc16(buf, n, crc=0xFFFF):
    """CRC-16/MODBUS of buf[:n]; appended low byte first, so a whole frame's CRC is 0."""
    table = CRC_TABLE
    for i in range(n):
        crc = (crc >> 8) ^ table[(crc ^ buf[i]) & 0xFF]
    return crc


def t35_us(baud, margin_us=0):
    """Inter-frame silence in us: 3.5 characters of 11 bits, fixed 1750 us above 19200 baud."""
    base = _FAST_BAUD_T35_US if baud > 19200 else (38500000 + baud - 1) // baud
    return base + margin_us


class ModbusSlave:
    def __init__(self, uart, bank, unit, baud, margin_us=0, ticks_us=None, ticks_diff=None):
        self.uart = uart
        self.bank = bank
        self.unit = unit
        self.silence_ms = (t35_us(baud, margin_us) + 999) // 1000
        self._ticks_us = ticks_us
        self._ticks_diff = ticks_diff
        self.rx = bytearray(_BUF)
        self.rx_len = 0
        self._last_rx_ms = 0
        self._scan_pos = 0  # foreign-frame CRC scan: bytes folded into _scan_crc so far
        self._scan_crc = 0xFFFF
        self.tx = bytearray(_BUF)
        mv = memoryview(self.tx)
        self._tx_views = (mv[:128], mv[:64], mv[:32], mv[:16], mv[:8], mv[:4], mv[:2], mv[:1])
        self._rx_scratch = bytearray(128)
        sv = memoryview(self._rx_scratch)
        self._scratch_views = (sv, sv[:64], sv[:32], sv[:16], sv[:8], sv[:4], sv[:2], sv[:1])
        self.frames_ok = 0
        self.bad_crc = 0
        self.other_unit = 0
        self.exceptions = 0
        self.broadcasts = 0
        self.rx_overruns = 0
        self.service_us_last = 0
        self.service_us_max = 0
        # deferred: tick() (the fast slot) frames and answers one quick read a tick, serve()
        # (the control slot) the rest; a request framed and not served yet is _pending bytes
        # long at rx[0]. refresh_reads: refresh the status registers before every read (else
        # the owner refreshes them: ModbusPoints.tick, and serve() after a write)
        self.deferred = False
        self.refresh_reads = True
        self.stale = True  # deferred: the status registers are not kept fresh (serve() refreshes)
        self._pending = 0
        self._tick_n = 0  # tick() calls (wrapping): a quick read every other tick at most
        self._quick_tick = -2

    # ----- receive ------------------------------------------------------------------------------
    def _read(self):
        """Append what the UART holds (up to the buffer's room) to rx; returns the byte count."""
        uart = self.uart
        got = 0
        avail = uart.any()
        while avail > 0:
            room = _BUF - self.rx_len
            if room == 0:
                # Overflow: no frame is this long. Drop the buffer, keep reading (bounded).
                self.rx_overruns = (self.rx_overruns + 1) & _COUNT_MASK
                self.bad_crc = (self.bad_crc + 1) & _COUNT_MASK
                self._consume(self.rx_len)
                if got >= _BUF:
                    break
                room = _BUF
            want = avail if avail < room else room
            for view in self._scratch_views:
                if len(view) <= want:
                    break
            n = uart.readinto(view)
            if not n:
                break
            rx = self.rx
            base = self.rx_len
            src = self._rx_scratch
            for i in range(n):
                rx[base + i] = src[i]
            self.rx_len = base + n
            got += n
            if got >= 2 * _BUF:
                break
            avail = uart.any()
        return got

    def _consume(self, n):
        self._pending = 0
        rx = self.rx
        rest = self.rx_len - n
        for i in range(rest):
            rx[i] = rx[n + i]
        self.rx_len = rest
        self._scan_pos = 0
        self._scan_crc = 0xFFFF

    def _expected_len(self):
        """Length of the request at rx[0] for this unit: >0 known, 0 need more bytes, -1 unknown."""
        n = self.rx_len
        if n < 2:
            return 0
        fc = self.rx[1]
        if 1 <= fc <= 6:
            return 8
        if fc == 15 or fc == 16:
            return 9 + self.rx[6] if n >= 7 else 0
        return -1

    def _scan_foreign(self):
        """Shortest prefix (>= 4 bytes) with a valid CRC, or 0; incremental across ticks."""
        rx = self.rx
        table = CRC_TABLE
        crc = self._scan_crc
        i = self._scan_pos
        while i < self.rx_len:
            crc = (crc >> 8) ^ table[(crc ^ rx[i]) & 0xFF]
            i += 1
            if crc == 0 and i >= 4:
                self._scan_pos = i
                self._scan_crc = crc
                return i
        self._scan_pos = i
        self._scan_crc = crc
        return 0

    def tick(self, now_ms):
        """Read the UART and frame. A request for this unit is served at once, or, deferred (the
        App: this runs in the fast slot), held at rx[0] until serve() in the control slot; the
        fast ticks in between read nothing (the UART's own buffer holds what follows)."""
        self._tick_n = (self._tick_n + 1) & _TICKS_MASK
        if self._pending:
            return True
        if not self.rx_len and not self.uart.any():
            return True  # nothing buffered, nothing arrived: most ticks end here
        if self._read():
            self._last_rx_ms = now_ms
            fresh = True
        else:
            fresh = False
        served = 0
        while self.rx_len and served < _MAX_FRAMES_PER_TICK:
            addr = self.rx[0]
            if addr == self.unit or addr == 0:
                need = self._expected_len()
                if need > 0 and self.rx_len >= need and crc16(self.rx, need) == 0:
                    if self._take(need, now_ms):
                        return True
                    served += 1
                    continue
                if need < 0:  # unsupported function: its length is known only from its CRC
                    n = self._scan_foreign()
                    if n:
                        if self._take(n, now_ms):
                            return True
                        served += 1
                        continue
                break
            n = self._scan_foreign()
            if not n:
                break
            self.other_unit = (self.other_unit + 1) & _COUNT_MASK
            self._consume(n)
            served += 1  # skipping a frame costs a scan and a shift: same budget
        if self.rx_len and not fresh and served < _MAX_FRAMES_PER_TICK:
            # (a budget-limited tick leaves whole frames behind: the next tick goes on with them)
            # ticks_diff without a clock: now_ms and _last_rx_ms are both from the scan loop.
            elapsed = (now_ms - self._last_rx_ms) & 0x3FFFFFFF
            if elapsed >= self.silence_ms:
                self._end_of_frame(now_ms)
        return True

    def _end_of_frame(self, now_ms):
        n = self.rx_len
        if n < 4 or crc16(self.rx, n) != 0:
            self.bad_crc = (self.bad_crc + 1) & _COUNT_MASK
        elif self.rx[0] == self.unit or self.rx[0] == 0:
            self._take(n, now_ms)
            return
        else:
            self.other_unit = (self.other_unit + 1) & _COUNT_MASK
        self._consume(n)

    def _take(self, n, now_ms):
        """The request of n bytes at rx[0] is for this unit: serve and consume it, or, deferred,
        hold it for serve() unless it is a quick read (answered here, every other tick at most);
        True when it stays at rx[0]."""
        if self.deferred:
            if self.stale or not self._quick(n):
                self._pending = n
                return True
            if (self._tick_n - self._quick_tick) & _TICKS_MASK < 2:
                return True  # a quick read every other tick at most: this one waits a tick
            self._quick_tick = self._tick_n
        self._serve(n, now_ms)
        self._consume(n)
        return False

    def _quick(self, n):
        """A read for this unit (not broadcast) of at most _QUICK_BYTES of data."""
        rx = self.rx
        fc = rx[1]
        if n != 8 or rx[0] == 0 or fc < 1 or fc > 4:
            return False
        qty = (rx[4] << 8) | rx[5]
        return (qty + 7) >> 3 <= _QUICK_BYTES if fc <= 2 else qty * 2 <= _QUICK_BYTES

    def serve(self, now_ms):
        """Deferred (the App: the control slot): serve the request the fast ticks framed, then
        frame and serve what followed it (up to _MAX_FRAMES_PER_TICK requests more)."""
        n = self._pending
        if n:
            self._pending = 0
            if self.stale and not self.refresh_reads:
                self.bank.hooks_refresh(now_ms)  # the owner paused it: a quiet line
            self._serve(n, now_ms)
            self._consume(n)
            self.deferred = False
            try:
                self.tick(now_ms)
            finally:
                self.deferred = True
            if not self.refresh_reads:
                self.bank.hooks_refresh(now_ms)  # what a write changed shows in the status
        return True

    # ----- requests -------------------------------------------------------------------------------
    def _serve(self, n, now_ms):
        t0 = self._ticks_us() if self._ticks_us is not None else 0
        rx = self.rx
        broadcast = rx[0] == 0
        if broadcast:
            self.broadcasts = (self.broadcasts + 1) & _COUNT_MASK
        else:
            self.frames_ok = (self.frames_ok + 1) & _COUNT_MASK
        fc = rx[1]
        self.bank.broadcast = broadcast  # the hooks refuse safety commands sent to everyone
        length = self._execute(fc, n, broadcast, now_ms)
        self.bank.broadcast = False
        if not broadcast:
            if length < 0:
                self.exceptions = (self.exceptions + 1) & _COUNT_MASK
                tx = self.tx
                tx[1] = fc | 0x80
                tx[2] = -length
                length = 3
            self._send(length)
        if self._ticks_us is not None:
            us = self._ticks_diff(self._ticks_us(), t0)
            self.service_us_last = us
            if us > self.service_us_max:
                self.service_us_max = us

    def _execute(self, fc, n, broadcast, now_ms):
        """Run one request; returns the response length (without CRC) or -exception code."""
        rx = self.rx
        tx = self.tx
        bank = self.bank
        tx[0] = rx[0]
        tx[1] = fc
        if fc < 1 or (fc > 6 and fc != 15 and fc != 16):
            return -1
        if fc <= 6 and n != 8:
            return -3
        start = (rx[2] << 8) | rx[3]
        qty = (rx[4] << 8) | rx[5]
        if fc <= 4:
            if broadcast:
                return 0  # reads are not executed for broadcast
            if fc <= 2:
                if qty < 1 or qty > 2000:
                    return -3
                if self.refresh_reads:
                    bank.hooks_refresh(now_ms)
                code = bank.read_bits(K_COIL if fc == 1 else K_DISCRETE, start, qty, tx, 3)
                tx[2] = (qty + 7) >> 3
            else:
                if qty < 1 or qty > 125:
                    return -3
                if self.refresh_reads:
                    bank.hooks_refresh(now_ms)
                code = bank.read_regs(K_HOLDING if fc == 3 else K_INPUT, start, qty, tx, 3)
                tx[2] = qty * 2
            return -code if code else 3 + tx[2]
        if fc == 5:
            if qty != 0xFF00 and qty != 0:
                return -3
            rx[4] = 1 if qty else 0  # the packed bit, in place
            code = bank.write_bits(start, 1, rx, 4, now_ms)
            rx[4] = qty >> 8
        elif fc == 6:
            code = bank.write_regs(start, 1, rx, 4, now_ms)
        elif fc == 15:
            if qty < 1 or qty > 1968 or rx[6] != (qty + 7) >> 3 or n != 9 + rx[6]:
                return -3
            code = bank.write_bits(start, qty, rx, 7, now_ms)
        else:
            if qty < 1 or qty > 123 or rx[6] != qty * 2 or n != 9 + rx[6]:
                return -3
            code = bank.write_regs(start, qty, rx, 7, now_ms)
        if code:
            return -code
        for i in range(2, 6):  # FC05/06 echo the request, FC15/16 echo address and quantity
            tx[i] = rx[i]
        return 6

    def _send(self, length):
        tx = self.tx
        crc = crc16(tx, length)
        tx[length] = crc & 0xFF
        tx[length + 1] = crc >> 8
        left = length + 2
        while left:
            for view in self._tx_views:
                if len(view) <= left:
                    break
            size = len(view)
            self.uart.write(view)
            left -= size
            for i in range(left):  # shift the rest to the front so the next view starts there
                tx[i] = tx[size + i]
