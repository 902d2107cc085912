"""Harness platform: pins, UART, watchdog and clock served by a host that runs the plant.

Shared by hal/virtual.py (the virtual board: a socket to the supervisor) and hal/hil.py (HIL mode
on a real board: the same protocol over its serial link). A link offers `buf` (bytearray, the
message at buf[3:]), `request(type, payload_len) -> (reply type, reply len)` with the reply at
buf[3:], and `send_only(type, payload_len)`. Wire format: host_tools/gridpod/harness/protocol.py.

Time is simulated: ticks_ms() only moves inside wait_until_ms(), which is the one exchange point
per fast tick. The supervisor may grant a hold window (inputs unchanged until hold_until_ms); the
HAL then skips exchanges until the window ends, an output changes or UART bytes wait to go out,
so a quiet firmware loop runs far faster than real time without losing any output edge.
ticks_us() is the host's real microsecond clock, for measuring how long the firmware's work takes.
Steady-state exchanges allocate nothing: fixed buffers, manual little-endian packing.

RS-485 (_Uart): DE is an output channel of its own kind (UART name + "_DE": no board role); a
reply ending before the frame's deadline gets an exchange at that ms, for the host to see DE drop.

Chip time (hello "chip_time": the virtual board's chip model): every frame is exchanged with a
record of it appended (hal/chip_record.py, imported only then: off, it costs no heap).
"""

import gc
import time
from array import array
from binascii import unhexlify

from micropython import const

from hal import RESET_POWER_ON, boot_wdt_ms, window_ms

_MSG_REGISTER = const(0x52)  # 'R'
_MSG_EXCHANGE = const(0x58)  # 'X'
_MSG_INTERRUPTED = const(0x69)  # 'i'
_MSG_WATCHDOG = const(0x57)  # 'W'

_KIND_OUT = const(1)
_KIND_IN = const(2)
_KIND_ADC = const(3)
_KIND_PWM = const(4)
_KIND_COUNTER = const(5)
_KIND_UART = const(6)
_KIND_DE = const(7)

_MAX_CHANNELS = const(96)
_UART_BUF = const(512)  # a Modbus RTU ADU is at most 256 bytes
_LINE_MAX_MS = const(10000)  # longer than any buffer's wire time (512 bytes at 1200 baud: 4.7 s)
_TICKS_MASK = const(0x3FFFFFFF)  # board ticks_ms wraps at 2**30, like time.ticks_ms
_TICKS_HALF = const(0x20000000)
_NO_FEED = const(0xFFFFFFFF)


def _put_u16(buf, pos, v):
    buf[pos] = v & 0xFF
    buf[pos + 1] = (v >> 8) & 0xFF


def _put_u32(buf, pos, v):
    buf[pos] = v & 0xFF
    buf[pos + 1] = (v >> 8) & 0xFF
    buf[pos + 2] = (v >> 16) & 0xFF
    buf[pos + 3] = (v >> 24) & 0xFF


def _get_u16(buf, pos):
    return buf[pos] | (buf[pos + 1] << 8)


def _get_u32(buf, pos):
    return buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24)


class _Output:
    def __init__(self, platform, ch, value):
        self._p = platform
        self._ch = ch
        self._v = -1
        self.value(value)

    def value(self, v=None):
        if v is None:
            return self._v
        v = 1 if v else 0
        if v != self._v:  # most fast ticks write what the pin already holds: no call then
            self._v = v
            self._p._set_output(self._ch, v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class _Input:
    def __init__(self, platform, ch):
        self._p = platform
        self._ch = ch

    def value(self):
        return self._p._inputs[self._ch]

    read_u16 = value  # one function object for the three views of an input channel
    count = value


class _Pwm:
    def __init__(self, platform, ch, duty_u16):
        self._p = platform
        self._ch = ch
        self._d = -1
        self.duty_u16(duty_u16)

    def duty_u16(self, d=None):
        if d is None:
            return self._d
        if d != self._d:
            self._d = d
            self._p._set_output(self._ch, d)


class _Uart:
    """A UART with its RS-485 DE, as hal/rs485.py drives a board's (not shared: the heap is the
    board's budget): write() raises DE and returns; DE drops once the last stop bit has left,
    seen by the next read (any()) or the idle wait (HarnessPlatform._release). Each byte takes
    its character time at the configured baud and framing on the simulated clock, in order."""

    def __init__(self, platform, ch, char_us, de_ch):
        self._p = platform
        self.ch = ch
        self.char_us = char_us
        self.tx = bytearray(_UART_BUF)
        self.tx_len = 0
        self.rx = bytearray(_UART_BUF)
        self.rx_len = 0
        self.rx_pos = 0
        self._de_ch = de_ch
        self.sending = False  # DE up
        # the line: busy for _left_us after simulated ms _ref_ms (small ints: HIL on a board)
        self._ref_ms = 0
        self._left_us = 0
        platform._set_output(de_ch, 0)

    def write(self, buf):
        n = len(buf)
        room = _UART_BUF - self.tx_len
        if n > room:
            n = room  # a full TX FIFO drops, as a real UART driver with no room would block
        self.tx[self.tx_len : self.tx_len + n] = buf[:n] if n < len(buf) else buf
        self.tx_len += n
        p = self._p
        p._tx_pending = True
        if not self.sending:
            self.sending = True
            p._set_output(self._de_ch, 1)
        self._left_us = self.line_left_us() + n * self.char_us
        self._ref_ms = p._now_ms
        return n

    def line_left_us(self):
        """Simulated us until the last queued stop bit has left (0: the line is idle)."""
        d_ms = self._p._now_ms - self._ref_ms
        if d_ms >= _LINE_MAX_MS:
            return 0
        left = self._left_us - d_ms * 1000
        return left if left > 0 else 0

    def poll(self):
        """DE down once the last stop bit has left; True while still sending."""
        if self.sending and not self.line_left_us():
            self.sending = False
            self._p._set_output(self._de_ch, 0)
        return self.sending

    def any(self):
        if self.sending:
            self.poll()
        return self.rx_len - self.rx_pos

    def readinto(self, buf):
        n = self.rx_len - self.rx_pos
        if n <= 0:
            return 0
        if n > len(buf):
            n = len(buf)
        buf[:n] = memoryview(self.rx)[self.rx_pos : self.rx_pos + n]
        self.rx_pos += n
        return n

    def _receive(self, src, pos, n):
        if self.rx_pos == self.rx_len:
            self.rx_pos = self.rx_len = 0
        room = _UART_BUF - self.rx_len
        if n > room:
            n = room  # receive overrun: the oldest unread bytes are kept, new ones lost
        self.rx[self.rx_len : self.rx_len + n] = memoryview(src)[pos : pos + n]
        self.rx_len += n


class _Watchdog:
    def __init__(self, platform):
        self._p = platform

    def feed(self):
        self._p._last_feed_ms = self._p._now_ms


class HarnessPlatform:
    _cpu_clock = None  # the VM's CPU-time clock (hal/virtual.py); None in HIL mode

    def __init__(self, board, link, hello):
        # Only role -> mode (hal/roles.py) and uart names, not the board dict (~10 KB heap).
        from hal.roles import RoleTable

        self._roles: RoleTable | None = RoleTable(board["pins"])
        self._uart_names = tuple(board.get("uarts", {}))
        self._link = link
        self._hello = hello
        self._window_ms = window_ms(board)
        self._wdt_ms = boot_wdt_ms(board)
        # The board's clock at power-on: 0 on a board; the host may start it elsewhere (a test
        # of the 2**30 wrap starts it a few seconds before the wrap).
        self._now_ms = hello.get("boot_ticks_ms", 0)
        self._hold_ms = 0
        self._ticks = 0
        # Typed arrays, not lists: 4 bytes a channel instead of a machine word (8 on the VM).
        self._inputs = array("I", bytes(4 * _MAX_CHANNELS))  # u32 on the wire
        # -1: the plant has not seen it
        self._out_values = array("i", b"\xff" * (4 * _MAX_CHANNELS))
        self._dirty = bytearray(_MAX_CHANNELS)
        self._dirty_list = bytearray(_MAX_CHANNELS)  # channel numbers < _MAX_CHANNELS
        self._dirty_count = 0
        self._uarts = []
        self._tx_pending = False
        self._last_feed_ms = _NO_FEED
        self._max_tick_us = 0
        self._overruns = 0
        self._heap_free = 0
        self._chip = None
        if hello.get("chip_time"):
            from hal.chip_record import ChipRecorder

            self._chip = ChipRecorder(self, _MAX_CHANNELS)

    def release_boot(self):
        """Channels are registered at boot only: drop the role table (its role strings are the
        board file's, the largest part of what the board dict cost)."""
        self._roles = None
        self._uart_names = ()

    # ----- channels ---------------------------------------------------------------------------
    def _register(self, kind, name):
        link = self._link
        raw = name.encode()
        link.buf[3] = kind
        link.buf[4 : 4 + len(raw)] = raw
        link.request(_MSG_REGISTER, 1 + len(raw))
        ch = _get_u16(link.buf, 3)
        if ch >= _MAX_CHANNELS:
            raise ValueError("too many virtual channels")
        self._inputs[ch] = _get_u32(link.buf, 5)
        return ch

    def _role(self, role, modes):
        if self._roles is None:
            raise ValueError("board released: pins are made at boot only (" + role + ")")
        mode = self._roles.mode(role)
        if mode is None:
            raise ValueError("board has no role " + role)
        if mode not in modes:
            raise ValueError(role + " is a " + mode + " pin")
        return role

    def _set_output(self, ch, value):
        if self._out_values[ch] == value:
            return
        self._out_values[ch] = value
        if not self._dirty[ch]:
            self._dirty[ch] = 1
            self._dirty_list[self._dirty_count] = ch
            self._dirty_count += 1

    def digital_out(self, role, value=0):
        ch = self._register(_KIND_OUT, self._role(role, ("out",)))
        return _Output(self, ch, value)

    def _input(self, ch):
        return _Input(self, ch) if self._chip is None else self._chip.input(self, ch)

    def digital_in(self, role, pull=None):
        return self._input(self._register(_KIND_IN, self._role(role, ("in",))))

    def adc(self, role):
        return self._input(self._register(_KIND_ADC, self._role(role, ("adc",))))

    def pwm(self, role, freq_hz, duty_u16=0):
        ch = self._register(_KIND_PWM, self._role(role, ("pwm",)))
        return _Pwm(self, ch, duty_u16)

    def pulse_counter(self, role):
        return self._input(self._register(_KIND_COUNTER, self._role(role, ("counter",))))

    def uart(self, name, baud, bits=8, parity="E", stop=1):
        if name not in self._uart_names:
            raise ValueError("board has no uart " + name)
        de_ch = self._register(_KIND_DE, name + "_DE")
        nbits = 1 + bits + (0 if parity == "N" else 1) + stop  # hal/rs485.py char_us()
        char_us = (nbits * 1000000 + baud - 1) // baud
        u = _Uart(self, self._register(_KIND_UART, name), char_us, de_ch)
        self._uarts.append(u)
        return u

    # ----- platform ---------------------------------------------------------------------------
    def watchdog(self, timeout_ms):
        link = self._link
        _put_u32(link.buf, 3, timeout_ms)
        link.request(_MSG_WATCHDOG, 4)
        self._last_feed_ms = self._now_ms
        self._wdt_ms = timeout_ms
        return _Watchdog(self)

    def console(self):
        return None  # HIL mode: the console carries the link (hal/virtual.py has its own)

    def maintenance(self, opened):  # a stop's safe outputs reached the plant: outputs.leave()
        from hal.window import send_maintenance

        length_ms = self._window_ms if opened else 0
        send_maintenance(self._link, length_ms, self._wdt_ms)
        return length_ms

    def reset_cause(self):
        return self._hello.get("reset_cause", RESET_POWER_ON)

    def bus_errors(self):
        return 0  # the harness serves every role itself: no I2C device on this board

    def unique_id(self):
        uid = self._hello.get("unique_id")  # the virtual board's, one per flash image
        return unhexlify(uid) if uid else b"GPVB" + bytes((self._hello.get("boot", 0) & 0xFF,))

    def reset(self):
        self._link.reset()

    def report(self, ticks, max_tick_us, overruns, heap_free):
        if self._chip is not None:
            self._chip.housekeeping = 1
        self._max_tick_us = max_tick_us
        self._overruns = overruns
        self._heap_free = heap_free

    # ----- clock ------------------------------------------------------------------------------
    def ticks_ms(self):
        return self._now_ms & _TICKS_MASK

    # The builtin itself, read 4 times a frame (CPython, in the firmware tests, has none).
    if hasattr(time, "ticks_us"):
        ticks_us = staticmethod(time.ticks_us)

    def cpu_us(self):
        f = self._cpu_clock
        return None if f is None else f()

    def ticks_diff(self, a, b):
        """a - b with the board's 2**30 period, for ticks_ms() and ticks_us() alike (not
        time.ticks_diff: the unix port's period is 2**62; a true difference below 2**29 comes out
        right for ticks_us() too). Small ints only on a 32-bit port (HIL): no allocation."""
        d = a - b
        if d >= _TICKS_HALF:
            return d - _TICKS_HALF - _TICKS_HALF
        if d < -_TICKS_HALF:
            return d + _TICKS_HALF + _TICKS_HALF
        return d

    def wait_until_ms(self, deadline_ms):
        self._ticks += 1
        # deadline_ms back from the wrapped ticks to the unwrapped clock (ticks_diff inlined)
        now = self._now_ms
        d = deadline_ms - (now & _TICKS_MASK)
        if d >= _TICKS_HALF:
            d = d - _TICKS_HALF - _TICKS_HALF  # 2**30 itself is a long int on a 32-bit port
        elif d < -_TICKS_HALF:
            d = d + _TICKS_HALF + _TICKS_HALF
        deadline = now + d
        chip = self._chip
        if chip is not None:  # every frame goes to the host, with its record
            chip.frame_end()
        for u in self._uarts:
            if u.sending:
                self._release(u, deadline)
        if chip is None and (
            deadline <= self._hold_ms and not self._dirty_count and not self._tx_pending
        ):
            if deadline > self._now_ms:
                self._now_ms = deadline
            return
        self._exchange(deadline)
        if chip is not None:
            chip.frame_start()

    def _release(self, u, deadline):
        """hal/rs485.py's idle-wait release in simulated time: DE drops at the ms the last stop
        bit has left, if before the deadline (after an exchange to that ms: no chip record)."""
        left_us = u.line_left_us()
        if left_us:
            end = self._now_ms + (left_us + 999) // 1000
            if end >= deadline:
                return  # the next tick's read or idle wait
            self._exchange(end, False)
        u.poll()

    def _exchange(self, deadline, record=True):
        link = self._link
        buf = link.buf
        _put_u32(buf, 3, deadline if deadline > 0 else 0)
        _put_u32(buf, 7, self._now_ms)
        _put_u32(buf, 11, self._ticks)
        _put_u32(buf, 15, self._max_tick_us)
        _put_u32(buf, 19, self._overruns)
        _put_u32(buf, 23, self._heap_free or gc.mem_free())
        _put_u32(buf, 27, self._last_feed_ms)
        n = self._dirty_count
        _put_u16(buf, 31, n)
        pos = 33
        for i in range(n):
            ch = self._dirty_list[i]
            self._dirty[ch] = 0
            _put_u16(buf, pos, ch)
            _put_u32(buf, pos + 2, self._out_values[ch])
            pos += 6
        self._dirty_count = 0
        count_pos = pos
        buf[count_pos] = 0
        pos += 1
        if self._tx_pending:
            for u in self._uarts:
                if u.tx_len:
                    buf[count_pos] += 1
                    _put_u16(buf, pos, u.ch)
                    _put_u16(buf, pos + 2, u.tx_len)
                    buf[pos + 4 : pos + 4 + u.tx_len] = memoryview(u.tx)[: u.tx_len]
                    pos += 4 + u.tx_len
                    u.tx_len = 0
            self._tx_pending = False
        if self._chip is not None and record:
            pos = self._chip.put(buf, pos)
        reply_type, _ = link.request(_MSG_EXCHANGE, pos - 3)
        if reply_type == _MSG_INTERRUPTED:
            raise KeyboardInterrupt  # Ctrl-C on the console, delivered at this safe point
        self._now_ms = _get_u32(buf, 3)
        self._hold_ms = _get_u32(buf, 7)
        n = _get_u16(buf, 11)
        pos = 13
        inputs = self._inputs
        for _ in range(n):  # _get_u16 / _get_u32 inlined: a dozen changed inputs per exchange
            inputs[buf[pos] | (buf[pos + 1] << 8)] = (
                buf[pos + 2] | (buf[pos + 3] << 8) | (buf[pos + 4] << 16) | (buf[pos + 5] << 24)
            )
            pos += 6
        m = buf[pos]
        pos += 1
        for _ in range(m):
            ch = _get_u16(buf, pos)
            length = _get_u16(buf, pos + 2)
            for u in self._uarts:
                if u.ch == ch:
                    u._receive(buf, pos + 4, length)
            pos += 4 + length
