"""hal/rs485.py: half-duplex RS-485 transmit without waiting (docs/chip-time.md).

Before, the HAL's write() waited in uart.flush() for the reply's whole wire time with DE high
(an FC03 reply of 10 registers at 19200 8E1: 14.3 ms), inside the fast slot: over 200 % of the
tick on a real chip, TICK_OVERRUN. The line here runs on a simulated clock and a UART model that
sends each byte in its character time; the checks: write() returns with the clock unmoved and
never touches flush() or txdone(), DE rises once per reply (not per write) and drops only after
the last stop bit, at the first poll after it (the Modbus task's read, the idle wait), and a
master that sends its next request t3.5 after the reply's end (DOMAIN.md) finds DE low.
"""

from hal.rs485 import Rs485, char_us

_PERIOD = 1 << 30
_HALF = 1 << 29


class Clock:
    """Simulated us, with a port's ticks arithmetic (period 2**30); only sleep_us moves it here
    (and advance(), the test's own work). A one-shot alarm fires on the way at its due time."""

    def __init__(self, start_us=0):
        self.us = start_us
        self.sleeps = []
        self.alarm = None  # [due us, callback]

    def advance(self, us):
        target = self.us + us
        a = self.alarm
        while a is not None and a[0] <= target:
            self.alarm = None
            if a[0] > self.us:
                self.us = a[0]
            a[1](None)
            a = self.alarm
        self.us = target

    def ticks_us(self):
        return self.us % _PERIOD

    def ticks_ms(self):
        return (self.us // 1000) % _PERIOD

    def ticks_diff(self, a, b):
        return ((a - b + _HALF) % _PERIOD) - _HALF

    def ticks_add(self, t, d):
        return (t + d) % _PERIOD

    def sleep_us(self, us):
        self.sleeps.append(us)
        self.advance(us)


class Alarm:
    """hal/mcu.py _Alarm on the simulated clock: a one-shot timer in ms (re-arming replaces)."""

    def __init__(self, clock):
        self.clock = clock
        self.starts = 0

    def start(self, ms, callback):
        self.starts += 1
        self.clock.alarm = [self.clock.us + 1000 * ms, callback]


class Uart:
    """Sends queued bytes back to back on the clock, each in char_us; flush() would wait."""

    def __init__(self, clock, char_us):
        self.clock = clock
        self.char_us = char_us
        self.end_us = 0
        self.sent = bytearray()
        self.txdone_calls = 0
        self.flushes = 0
        self.rx = bytearray()

    def write(self, buf):
        start = self.clock.us if self.clock.us > self.end_us else self.end_us
        self.end_us = start + len(buf) * self.char_us
        self.sent.extend(buf)
        return len(buf)

    def txdone(self):
        self.txdone_calls += 1
        return self.clock.us >= self.end_us

    def flush(self):
        self.flushes += 1
        if self.clock.us < self.end_us:
            self.clock.us = self.end_us

    def any(self):
        return len(self.rx)

    def readinto(self, buf):
        return None  # a port's UART returns None when nothing waits


class De:
    def __init__(self, clock):
        self.clock = clock
        self.level = 0
        self.edges = []  # (level, us) per change

    def value(self, v=None):
        if v is None:
            return self.level
        v = 1 if v else 0
        if v != self.level:
            self.edges.append((v, self.clock.us))
        self.level = v
        return None


def _line(baud=19200, parity="E", stop=1, start_us=0, alarm=False):
    """A line on a simulated clock; alarm: with hal/mcu.py's one-shot timer (a board)."""
    clock = Clock(start_us)
    cu = char_us(baud, 8, parity, stop)
    uart = Uart(clock, cu)
    de = De(clock)
    return clock, uart, de, Rs485(uart, de, cu, clock, Alarm(clock) if alarm else None)


def _send(line, n):
    """comms/modbus_rtu.py _send: the reply in power-of-two views (25 bytes: 16 + 8 + 1)."""
    data = bytes(range(n))
    pos = 0
    while pos < n:
        size = 128
        while size > n - pos:
            size >>= 1
        line.write(data[pos : pos + size])
        pos += size


def _left(line, clock):
    """us from now to the line's expected end of its last stop bit."""
    return clock.ticks_diff(line._end_us, clock.ticks_us())


def _t35_us(baud):
    return 1750 if baud > 19200 else (38500000 + baud - 1) // baud


def test_a_character_takes_its_framing_at_the_baud_rate():
    assert char_us(19200, 8, "E", 1) == 573  # 11 bits: 572.9 us, rounded up
    assert char_us(9600, 8, "N", 2) == 1146
    assert char_us(115200, 8, "N", 1) == 87  # 10 bits: 86.8 us
    assert char_us(115200, 8, "O", 1) == 96


def test_a_reply_is_queued_and_write_returns_at_once():
    clock, uart, de, line = _line()
    clock.advance(300)
    _send(line, 25)
    assert clock.us == 300  # the clock did not move: nothing waited for the wire
    assert uart.flushes == 0 and uart.txdone_calls == 0
    assert bytes(uart.sent) == bytes(range(25))
    assert line.sending and de.edges == [(1, 300)]  # DE up once, before the first start bit
    assert _left(line, clock) == 25 * 573  # the expected end the idle wait sleeps to


def test_de_drops_only_after_the_last_stop_bit():
    clock, uart, de, line = _line()
    _send(line, 25)
    end = uart.end_us
    clock.advance(end - 1)
    assert line.poll() and de.level == 1  # one us before the end: still sending
    clock.advance(1)
    assert not line.poll() and de.edges == [(1, 0), (0, end)]
    assert not line.poll() and len(de.edges) == 2  # idle: nothing more


def test_the_modbus_tasks_read_polls_the_line():
    clock, uart, de, line = _line()
    _send(line, 8)
    clock.advance(uart.end_us + 40)
    assert line.any() == 0  # the next tick's read
    assert de.edges == [(1, 0), (0, uart.end_us + 40)]


def test_the_idle_wait_sleeps_until_the_end_then_drops_de():
    clock, uart, de, line = _line()
    clock.advance(300)
    _send(line, 8)  # an FC06 echo: 4.6 ms, ends inside this frame's idle wait
    clock.advance(2700)  # the rest of the frame's work: 3 ms into the frame
    line.idle(10)
    end = uart.end_us
    assert de.edges[-1][0] == 0 and end <= de.edges[-1][1] <= end + 8  # the estimate rounds up
    assert clock.us < 10000  # it never slept past the deadline
    assert uart.txdone_calls <= 3


def test_the_idle_wait_leaves_a_reply_that_ends_after_its_deadline():
    clock, uart, de, line = _line()
    clock.advance(300)
    _send(line, 25)  # 14.3 ms: into the next frame
    clock.advance(2700)
    line.idle(10)
    assert line.sending and de.level == 1 and clock.us == 3000  # no sleep at all
    assert uart.txdone_calls == 1
    # next frame: its read at 10.3 ms is early; its idle wait at 13 ms sleeps until the end
    clock.advance(10300 - clock.us)
    assert line.any() == 0 and de.level == 1
    clock.advance(13000 - clock.us)
    line.idle(20)
    assert de.level == 0 and uart.end_us <= de.edges[-1][1] <= uart.end_us + 25


def test_a_late_uart_is_polled_every_quarter_character_until_the_deadline():
    """A UART that finishes after the estimate (a driver that started the FIFO late): the idle
    wait polls every quarter character and gives up at the deadline, never past it."""
    clock, uart, de, line = _line()
    _send(line, 8)
    uart.end_us += 1000  # the wire ends 1 ms after the estimate
    clock.advance(2000)
    line.idle(10)
    assert de.level == 0 and uart.end_us <= de.edges[-1][1] <= uart.end_us + 573 // 4 + 1
    assert all(s == 573 // 4 + 1 for s in clock.sleeps[1:]), clock.sleeps
    clock2, uart2, de2, line2 = _line()
    _send(line2, 8)
    uart2.end_us += 10**6  # never done: the wait ends at the deadline with DE still up
    line2.idle(10)
    # the deadline is in ms (ticks_ms): a last poll may end up to a quarter character after it,
    # less than the ms the idle wait's sleep_ms() may overshoot by anyway
    assert de2.level == 1 and 9000 < clock2.us <= 10000 + 573 // 4 + 1


def test_the_alarm_drops_de_at_an_end_inside_a_long_frames_work():
    """A reply that ends while a long frame works (a control frame on a chip, longer than t3.5)
    is seen by no poll until that frame's idle wait; the one-shot alarm armed by the last
    write fires at the expected end (rounded up to a ms) and drops DE there."""
    clock, uart, de, line = _line(alarm=True)
    clock.advance(300)
    _send(line, 25)  # ends at 14.6 ms, inside the next frame's 9.5 ms of work
    assert line._alarm.starts == 3  # armed (again) by each of the three writes
    clock.advance(2700)
    line.idle(10)
    clock.advance(10000 - clock.us)
    clock.advance(300)
    line.any()
    clock.advance(9200)  # the long frame's work: 10.3 ms .. 19.5 ms
    end = uart.end_us
    assert de.edges[-1][0] == 0 and end <= de.edges[-1][1] <= end + 1000, (de.edges, end)


def test_the_alarm_never_drops_de_inside_a_write():
    """The alarm of one reply fires while the next reply's write() runs (a soft IRQ between two
    bytecodes): it leaves DE up and asks again a ms later."""
    clock, uart, de, line = _line(alarm=True)
    _send(line, 8)
    line._writing = True  # as if the alarm's callback ran inside the next write()
    clock.advance(uart.end_us + 100)
    assert de.level == 1 and line.sending
    line._writing = False
    clock.advance(1000)
    assert de.level == 0


def test_no_collision_with_a_master_that_waits_t35_after_the_reply():
    """A scan loop of 10 ms frames (the Modbus task reads 300 us into each, the frame's work
    takes 3 ms, or 9.5 ms in a long frame), replies of every length at 9600, 19200 and 115200
    baud, on a board (idle wait, reads and the alarm): DE is low by the time a master sends
    t3.5 after the reply's last stop bit."""
    for baud, parity, stop in ((9600, "E", 1), (19200, "E", 1), (115200, "N", 2)):
        for n in (5, 8, 25, 61, 256):
            for long_frame in (None, 1, 2):
                clock, uart, de, line = _line(baud, parity, stop, 50 * 10**6, alarm=True)
                t0 = clock.us
                for k in range(60):
                    start = t0 + 10000 * k
                    if clock.us < start:
                        clock.advance(start - clock.us)
                    clock.advance(300)
                    line.any()
                    if k == 0:
                        _send(line, n)
                    clock.advance((9500 if k == long_frame else 3000) - 300)
                    line.idle(clock.ticks_ms() // 10 * 10 + 10)
                end = uart.end_us
                released = de.edges[-1][1]
                assert de.edges[-1][0] == 0 and released >= end, (baud, n, de.edges, end)
                assert released - end < _t35_us(baud), (baud, n, long_frame, released - end)


def test_a_write_on_an_idle_line_restarts_the_estimate():
    clock, uart, de, line = _line()
    _send(line, 8)
    clock.advance(100000)  # long idle, DE never polled down (no tick ran)
    assert _left(line, clock) < 0
    line.write(b"\x01\x02")
    assert _left(line, clock) == 2 * 573  # from now, not from the old end
    assert de.edges == [(1, 0)]  # still the same DE period: it was never released


def test_reads_pass_through_and_none_is_zero():
    clock, uart, de, line = _line()
    uart.rx.extend(b"\x01\x03")
    assert line.any() == 2
    assert line.readinto(bytearray(4)) == 0
