"""Half-duplex RS-485 without waiting: the transmit state machine of hal/mcu.py and hal/harness.py.

write() raises DE (the transceiver's driver enable, tied to /RE), puts the bytes into the UART's
transmit buffer and returns. DE drops once the UART reports its last stop bit sent
(uart.txdone()): poll() checks it, from the scan loop's idle wait (idle(): it sleeps until the
reply's expected end when that falls before the deadline) and from the next read (any(): the
Modbus task's tick). So the fast slot never waits for the wire. Before, write() waited in
uart.flush() for the whole reply (an FC03 reply of 10 registers, 25 bytes at 19200 baud 8E1:
14.3 ms) with DE high, which on a real chip took the fast slot over 200 % of its tick:
TICK_OVERRUN (docs/chip-time.md).

Modbus turnaround (DOMAIN.md): DE never drops before the last stop bit (txdone() is the UART's
own "shift register empty"), so the reply's tail is never cut. A master may send its next
request t3.5 after that stop bit (1.75-4 ms), and DE must be down by then: while it is high the
receiver is off (DE tied to /RE) and both drive the line. The polls alone cannot promise that
when the reply ends inside a long frame's work (a control frame takes longer than t3.5 on a
chip), so on a board an alarm (a one-shot machine.Timer, hal/mcu.py) also fires at the reply's
expected end, between two bytecodes of whatever runs, and polls: DE drops within about a ms of
the end wherever it falls (a UART not done yet is asked again a ms later). The virtual board
needs none: its frames take no simulated time (hal/harness.py). No allocation per write, poll or
alarm: ints only, the alarm's callback bound once.
"""


class Rs485:
    """uart: write(buf) -> n, txdone(), any(), readinto(buf); de: value(v); char_us: one
    character on the wire (start, data, parity, stop bits) at the configured baud, rounded up;
    clock: ticks_us(), ticks_ms(), ticks_diff(a, b), ticks_add(t, d), sleep_us(us) (the `time`
    module on a board; only idle() sleeps); alarm: start(ms, callback) of a one-shot timer whose
    callback runs between bytecodes (a soft IRQ), or None."""

    def __init__(self, uart, de, char_us, clock, alarm=None):
        self._uart = uart
        self._de = de
        self.char_us = char_us
        self._clock = clock
        self._alarm = alarm
        # bound once: arming the alarm allocates nothing (no alarm, no bound method: heap)
        self._on_alarm_cb = self._on_alarm if alarm is not None else None
        self._writing = False  # inside write(): the alarm must not drop DE under it
        self.sending = False  # DE high: a reply is (or was, until polled) on the wire
        self._end_us = clock.ticks_us()  # the expected end of the last queued stop bit

    def write(self, buf):
        """Queue buf for sending with DE high; returns at once with the bytes queued."""
        self._writing = True
        clock = self._clock
        now_us = clock.ticks_us()
        if not self.sending:
            self._de.value(1)
            self.sending = True
        if clock.ticks_diff(self._end_us, now_us) < 0:
            self._end_us = now_us  # the line is idle: these bytes start now
        n = self._uart.write(buf) or 0
        self._end_us = end = clock.ticks_add(self._end_us, n * self.char_us)
        if self._alarm is not None:
            self._alarm.start((clock.ticks_diff(end, now_us) + 999) // 1000, self._on_alarm_cb)
        self._writing = False
        return n

    def _on_alarm(self, _timer):
        """The reply's expected end: DE low if the UART is done, else ask again a ms later."""
        if self._writing or self.poll():
            self._alarm.start(1, self._on_alarm_cb)

    def poll(self):
        """DE low once the UART has sent the last stop bit; True while still sending."""
        if self.sending and self._uart.txdone():
            self._de.value(0)
            self.sending = False
        return self.sending

    def idle(self, deadline_ms):
        """The scan loop's idle wait (hal/mcu.py): when the reply ends before deadline_ms, sleep
        until its expected end, then poll txdone() every quarter character (the UART may finish
        a little after the estimate) and drop DE. A reply that ends later is left to the next
        tick's read or idle wait. This is idle time, never a slot's; the deadline is in ms, so a
        last poll may end up to a quarter character after it (the wait's sleep_ms() may
        overshoot by up to a ms anyway)."""
        clock = self._clock
        while self.poll():
            left_us = clock.ticks_diff(self._end_us, clock.ticks_us())
            if left_us <= 0:
                left_us = (self.char_us >> 2) + 1
            if left_us >= clock.ticks_diff(deadline_ms, clock.ticks_ms()) * 1000:
                return
            clock.sleep_us(left_us)

    def any(self):
        if self.sending:
            self.poll()
        return self._uart.any()

    def readinto(self, buf):
        return self._uart.readinto(buf) or 0


def char_us(baud, bits=8, parity="E", stop=1):
    """One character's time on the wire in us, rounded up (start + data + parity + stop bits)."""
    nbits = 1 + bits + (0 if parity == "N" else 1) + stop
    return (nbits * 1000000 + baud - 1) // baud
