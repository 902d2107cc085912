"""The REPL's console stream while the application runs, for the service channel (app/service.py):
what a host typed, read without blocking, and raw output. The same on a board (USB or UART REPL)
and on the virtual board (the unix port's stdin/stdout, relayed to its console pty).

One byte per poll: MicroPython's stdin read blocks until it has every byte it was asked for. A
Ctrl-C never arrives here (the port turns it into KeyboardInterrupt), and no service frame holds
one (app/service.py)."""

import select
import sys


class StdioConsole:
    def __init__(self):
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._one = bytearray(1)

    def _ready(self):
        for _ in self._poll.ipoll(0):  # ipoll: no list allocated per call
            return True
        return False

    def read_into(self, buf, start, end):
        """Bytes waiting now, put in buf[start:start+n]; n (0 when none)."""
        n = start
        while n < end and self._ready():
            if not self._in.readinto(self._one):
                break  # end of input (the virtual board powering off)
            buf[n] = self._one[0]
            n += 1
        return n - start

    def write(self, data):
        return self._out.write(data)
