"""Fake HAL for unit tests (CPython and the MicroPython unix port): nothing real is touched.

Clock: manual. ticks_ms/ticks_us wrap at 2**30 like MicroPython; wait_until_ms(deadline) jumps the
clock to the deadline (never sleeps); add_work_us(n) lets a test model CPU time spent in a task.
Inputs are set by role (set_input, set_adc, add_pulses), outputs keep their value, a change count
and a (time_ms, value) history. The UART has an injectable rx ring and a recorded tx ring, both
preallocated so that servicing them allocates nothing. The watchdog records feeds and, when
`watchdog_bites` is set, raises WatchdogExpired from wait_until_ms once it has expired: that is
the hardware reset. reset() raises FakeReset. The console (service channel) has an injectable input
ring and records what is written; maintenance() records the windows asked for.
"""

from micropython import const

from hal import RESET_POWER_ON, RESET_WATCHDOG, window_ms

_MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)


class FakeReset(BaseException):
    """platform.reset() was called (BaseException so task error handlers cannot swallow it)."""


class WatchdogExpired(FakeReset):
    """The fake watchdog was not fed within its timeout."""


class FakeOut:
    def __init__(self, platform, role, value):
        self._platform = platform
        self.role = role
        self.level = value
        self.changes = 0
        self.history = [(platform.ticks_ms(), value)]

    def value(self, v=None):
        if v is None:
            return self.level
        v = 1 if v else 0
        if v != self.level:
            self.level = v
            self.changes += 1
            self.history.append((self._platform.ticks_ms(), v))
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class FakeIn:
    """set_input() sets the line; value() is the logical level, inverted for an "active_low"
    board entry as the real HAL does."""

    def __init__(self, platform, role, pull, active_low=False):
        self._platform = platform
        self.role = role
        self.pull = pull
        self._invert = 1 if active_low else 0

    def value(self):
        return self._platform.inputs.get(self.role, 0) ^ self._invert


class FakeAdc:
    def __init__(self, platform, role):
        self._platform = platform
        self.role = role

    def read_u16(self):
        return self._platform.adc_counts.get(self.role, 0)


class FakePwm:
    def __init__(self, role, freq_hz, duty_u16):
        self.role = role
        self.freq_hz = freq_hz
        self.duty = duty_u16

    def duty_u16(self, d=None):
        if d is None:
            return self.duty
        self.duty = d
        return None


class FakeCounter:
    def __init__(self, platform, role):
        self._platform = platform
        self.role = role

    def count(self):
        return self._platform.pulses.get(self.role, 0)


class FakeUart:
    """rx: ring filled by inject(); tx: ring recorded from write(); neither allocates per call."""

    def __init__(self, name, baud, bits, parity, stop, size=256):
        self.name = name
        self.baud = baud
        self.bits = bits
        self.parity = parity
        self.stop = stop
        self._rx = bytearray(size)
        self._rx_head = 0
        self._rx_len = 0
        self._tx = bytearray(size)
        self._tx_len = 0
        self.tx_dropped = 0
        self.writes = 0

    def inject(self, data):
        size = len(self._rx)
        for i in range(len(data)):
            if self._rx_len == size:
                return i
            self._rx[(self._rx_head + self._rx_len) % size] = data[i]
            self._rx_len += 1
        return len(data)

    def any(self):
        return self._rx_len

    def readinto(self, buf):
        size = len(self._rx)
        n = self._rx_len if self._rx_len < len(buf) else len(buf)
        for i in range(n):
            buf[i] = self._rx[self._rx_head]
            self._rx_head = (self._rx_head + 1) % size
        self._rx_len -= n
        return n

    def write(self, buf):
        self.writes += 1
        n = len(buf)
        for i in range(n):
            if self._tx_len < len(self._tx):
                self._tx[self._tx_len] = buf[i]
                self._tx_len += 1
            else:
                self.tx_dropped += 1
        return n

    def tx_bytes(self):
        return bytes(self._tx[: self._tx_len])

    def clear_tx(self):
        self._tx_len = 0


class FakeConsole:
    """The USB console as the service channel sees it: inject() queues bytes a host typed,
    read_into() takes them without blocking, write() records the output."""

    def __init__(self, size=1024):
        self._rx = bytearray(size)
        self._rx_head = 0
        self._rx_len = 0
        self.out = bytearray()
        self.reads = 0

    def inject(self, data):
        size = len(self._rx)
        for i in range(len(data)):
            if self._rx_len == size:
                return i
            self._rx[(self._rx_head + self._rx_len) % size] = data[i]
            self._rx_len += 1
        return len(data)

    def read_into(self, buf, start, end):
        self.reads += 1
        size = len(self._rx)
        n = 0
        while start + n < end and self._rx_len:
            buf[start + n] = self._rx[self._rx_head]
            self._rx_head = (self._rx_head + 1) % size
            self._rx_len -= 1
            n += 1
        return n

    def write(self, data):
        self.out += data
        return len(data)

    def take_output(self):
        data = bytes(self.out)
        self.out = bytearray()
        return data


class FakeWatchdog:
    def __init__(self, platform, timeout_ms):
        self._platform = platform
        self.timeout_ms = timeout_ms
        self.feeds = 0
        self.last_feed_ms = platform.ticks_ms()

    def feed(self):
        self.feeds += 1
        self.last_feed_ms = self._platform.ticks_ms()

    def expired(self):
        return (
            self._platform.ticks_diff(self._platform.ticks_ms(), self.last_feed_ms)
            > self.timeout_ms
        )


class FakePlatform:
    def __init__(self, board):
        self.board = board
        self._ms = 0
        self._us = 0
        self._frac_us = 0
        self.inputs = {}
        self.adc_counts = {}
        self.pulses = {}
        self.outputs = {}
        self.pwms = {}
        self.uarts = {}
        self.wdt = None
        self.watchdog_bites = True
        self.cause = RESET_POWER_ON
        self.i2c_errors = 0
        self.waits = 0
        self.on_wait = (
            None  # optional callable(platform), run at every wait_until_ms (a plant hook)
        )
        self.reports = 0
        self.released = False
        self.last_report = None
        self.console_port = FakeConsole()
        self.windows = []  # maintenance() calls: the window's ms, or 0 when the scan loop took over

    # clock
    def ticks_ms(self):
        return self._ms

    def ticks_us(self):
        return self._us

    def cpu_us(self):
        return None  # nothing preempts the scan loop: ticks_us() already measures CPU time

    def ticks_diff(self, a, b):
        return ((a - b + _HALF) & _MASK) - _HALF

    def add_work_us(self, us):
        """Test hook: time spent working (moves both clocks)."""
        self._us = (self._us + us) & _MASK
        self._frac_us += us
        if self._frac_us >= 1000:
            self._ms = (self._ms + self._frac_us // 1000) & _MASK
            self._frac_us %= 1000

    def set_time_ms(self, t_ms):
        """Test hook: put the clock anywhere (e.g. just before the 2**30 wrap)."""
        self._ms = t_ms & _MASK
        self._frac_us = 0

    def wait_until_ms(self, deadline_ms):
        self.waits += 1
        d = self.ticks_diff(deadline_ms, self._ms)
        if d > 0:
            self.add_work_us(d * 1000 - self._frac_us)
        if self.on_wait is not None:
            self.on_wait(self)
        if self.watchdog_bites and self.wdt is not None and self.wdt.expired():
            self.cause = RESET_WATCHDOG
            raise WatchdogExpired()

    # I/O by role
    def _check_role(self, role):
        if role not in self.board["pins"]:
            raise ValueError("no pin with role " + role)

    def digital_out(self, role, value=0):
        self._check_role(role)
        out = FakeOut(self, role, 1 if value else 0)
        self.outputs[role] = out
        return out

    def digital_in(self, role, pull=None):
        self._check_role(role)
        return FakeIn(self, role, pull, self.board["pins"][role].get("active_low"))

    def adc(self, role):
        self._check_role(role)
        return FakeAdc(self, role)

    def pwm(self, role, freq_hz, duty_u16=0):
        self._check_role(role)
        p = FakePwm(role, freq_hz, duty_u16)
        self.pwms[role] = p
        return p

    def pulse_counter(self, role):
        self._check_role(role)
        return FakeCounter(self, role)

    def uart(self, name, baud, bits=8, parity="E", stop=1):
        if name not in self.board.get("uarts", {}):
            raise ValueError("no uart " + name)
        u = FakeUart(name, baud, bits, parity, stop)
        self.uarts[name] = u
        return u

    # test-side input helpers
    def set_input(self, role, value):
        self.inputs[role] = value

    def set_adc(self, role, counts):
        self.adc_counts[role] = counts

    def add_pulses(self, role, n):
        self.pulses[role] = self.pulses.get(role, 0) + n

    # platform
    def watchdog(self, timeout_ms):
        self.wdt = FakeWatchdog(self, timeout_ms)
        return self.wdt

    def reset_cause(self):
        return self.cause

    def console(self):
        return self.console_port

    def maintenance(self, opened):
        self.windows.append(window_ms(self.board) if opened else 0)
        return self.windows[-1]

    def bus_errors(self):
        return self.i2c_errors  # tests raise it to play a failing expander

    def unique_id(self):
        return b"\x00FAKE\x01"

    def reset(self):
        raise FakeReset()

    def release_boot(self):
        self.released = True  # the tables stay: tests keep setting inputs by role

    def report(self, ticks, max_tick_us, overruns, heap_free):
        self.reports += 1
        self.last_report = (ticks, max_tick_us, overruns, heap_free)


def open_platform(board):
    return FakePlatform(board)
