"""HIL-mode HAL (fidelity level L2): a real board whose pins are played by the host's plant.

The harness protocol of the virtual board, carried over a serial stream: the board's USB console
(board["hil_link"] == "console", the default: one cable, no wiring) or a UART named in
board["uarts"]. Serial links have no message boundaries, so each frame starts with the preamble
A5 5A; text the board prints between frames (boot banner, warnings) is skipped by the host.
The host paces the replies, so the board's ticks follow the host's simulated clock.
"""

from micropython import const

from hal.harness import HarnessPlatform

_MSG_HELLO = const(0x48)  # 'H'
_MSG_RESET = const(0x5A)  # 'Z'
_MSG_QUERY = const(0x51)  # 'Q': the host asks a board that booted before it for its HELLO
_PREAMBLE_1 = const(0xA5)
_PREAMBLE_2 = const(0x5A)


class StreamLink:
    """Harness link over a byte stream; same interface as the virtual board's socket link."""

    def __init__(self, stream_in, stream_out):
        self._in = stream_in
        self._out = stream_out
        self.raw = bytearray(2 + 3 + 4096)
        self.buf = memoryview(self.raw)[2:]
        self.payload = memoryview(self.raw)[5:]
        self.raw[0] = _PREAMBLE_1
        self.raw[1] = _PREAMBLE_2
        # Memoryviews, not bytearrays: slicing a bytearray copies, and readinto would fill the copy.
        self._one = memoryview(bytearray(1))
        self._head = memoryview(bytearray(3))  # reply headers land here: a resend keeps its own

    def send_only(self, msg_type, payload_len):
        buf = self.buf
        buf[0] = msg_type
        buf[1] = payload_len & 0xFF
        buf[2] = payload_len >> 8
        self._out.write(memoryview(self.raw)[: 5 + payload_len])

    def reset(self):
        self.send_only(_MSG_RESET, 0)  # the host records it; the board resets itself
        try:
            import _vboard  # HIL mode exercised on the virtual board

            _vboard.link.reset()
        except ImportError:
            import machine

            machine.reset()

    def _read_exact(self, view, n):
        got = 0
        while got < n:
            k = self._in.readinto(view[got:n])
            if k:
                got += k

    def request(self, msg_type, payload_len):
        """Send, then read frames until the answer to this request ('H' -> 'h', ...).

        Stale answers (a host that answered one HELLO twice) are skipped. A host that connects
        after the board booted sends 'Q'; while waiting for the HELLO answer the board then sends
        its HELLO again, so either side may start first."""
        self.send_only(msg_type, payload_len)
        while True:
            reply_type, n = self._read_frame()
            if reply_type == msg_type + 0x20:
                return reply_type, n
            if reply_type == _MSG_QUERY and msg_type == _MSG_HELLO:
                self.send_only(msg_type, payload_len)

    def _read_frame(self):
        one = self._one
        state = 0
        while state < 2:  # hunt the preamble
            self._read_exact(one, 1)
            if one[0] == _PREAMBLE_1:
                state = 1
            elif state == 1 and one[0] == _PREAMBLE_2:
                state = 2
            else:
                state = 0
        head = self._head
        self._read_exact(head, 3)
        n = head[1] | (head[2] << 8)
        if n:
            self._read_exact(self.payload, n)
        return head[0], n


def _reset_cause():
    try:
        import _vboard  # HIL mode exercised on the virtual board

        return _vboard.hello.get("reset_cause", 1)
    except ImportError:
        from hal.mcu import reset_cause

        return reset_cause()


def _open_link(board):
    name = board.get("hil_link", "console")
    if name == "console":
        import sys

        import micropython

        micropython.kbd_intr(-1)  # the link is binary now: 0x03 is data, not Ctrl-C
        return StreamLink(sys.stdin.buffer, sys.stdout.buffer)
    import machine

    u = board["uarts"][name]
    uart = machine.UART(u["id"], baudrate=u.get("baud", 921600), tx=u["tx"], rx=u["rx"])
    return StreamLink(uart, uart)


def open_platform(board):
    import json
    import os

    link = _open_link(board)
    nonce = int.from_bytes(os.urandom(3), "little")  # one per boot: the host drops repeated HELLOs
    text = json.dumps(
        {"reset_cause": _reset_cause(), "board": board.get("board", "?"), "nonce": nonce}
    )
    raw = text.encode()
    link.buf[3 : 3 + len(raw)] = raw
    t, n = link.request(_MSG_HELLO, len(raw))
    hello = json.loads(bytes(link.payload[:n]))
    hello["reset_cause"] = _reset_cause()
    return HarnessPlatform(board, link, hello)
