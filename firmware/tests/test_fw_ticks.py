"""Tick arithmetic across the 2**30 wrap (12.4 days of ticks_ms on a board): control/ticks.py and
the harness HAL's clock (hal/harness.py, the virtual board and HIL mode)."""

from control.ticks import TICKS_MAX, TICKS_PERIOD, ticks_add, ticks_diff
from hal.harness import HarnessPlatform
from support import IS_MICROPYTHON

HALF = TICKS_PERIOD // 2
# ticks values around the wrap, around the half period and at the start
EDGES = (0, 1, 2, 9, HALF - 1, HALF, HALF + 1, TICKS_MAX - 9, TICKS_MAX - 1, TICKS_MAX)
DELTAS = (0, 1, 10, 1000, HALF - 1, -1, -10, -1000, -(HALF - 1))


def test_ticks_add_wraps_at_the_period():
    assert ticks_add(TICKS_MAX, 1) == 0
    assert ticks_add(0, -1) == TICKS_MAX
    assert ticks_add(TICKS_MAX - 5, 10) == 4
    assert ticks_add(3, -10) == TICKS_PERIOD - 7
    assert ticks_add(TICKS_MAX, HALF - 1) == HALF - 2
    for t in EDGES:
        for d in DELTAS:
            r = ticks_add(t, d)
            assert 0 <= r <= TICKS_MAX, (t, d, r)
            assert r == (t + d) % TICKS_PERIOD, (t, d, r)


def test_ticks_diff_across_the_wrap():
    assert ticks_diff(0, TICKS_MAX) == 1
    assert ticks_diff(TICKS_MAX, 0) == -1
    assert ticks_diff(5, TICKS_MAX - 4) == 10
    assert ticks_diff(TICKS_MAX - 4, 5) == -10
    assert ticks_diff(HALF - 1, 0) == HALF - 1  # the largest difference still positive
    assert ticks_diff(HALF, 0) == -HALF
    for t in EDGES:
        for d in DELTAS:
            assert ticks_diff(ticks_add(t, d), t) == d, (t, d)
            assert ticks_diff(t, ticks_add(t, d)) == -d, (t, d)


def test_tick_arithmetic_never_needs_a_long_int_on_a_32_bit_port():
    """A small int on ESP32/RP2040 holds -2**30 .. 2**30 - 1; any intermediate outside that is a
    heap-allocated long int (in the fast tick, at the wrap). The unix port's small ints are 62
    bits, so this runs on CPython with an int that refuses to leave the 31-bit range."""
    if IS_MICROPYTHON:
        return

    def check(v):
        if not -TICKS_PERIOD <= v <= TICKS_MAX:
            raise AssertionError("long int intermediate %d on a 32-bit port" % v)
        return Small(v)

    class Small(int):
        def __add__(self, o):
            return check(int(self) + int(o))

        __radd__ = __add__

        def __sub__(self, o):
            return check(int(self) - int(o))

        def __rsub__(self, o):
            return check(int(o) - int(self))

        def __and__(self, o):
            return check(int(self) & int(o))

        __rand__ = __and__

        def __neg__(self):
            return check(-int(self))

    for t in EDGES:
        for d in DELTAS:
            r = ticks_add(Small(t), Small(d))
            assert r == (t + d) % TICKS_PERIOD
            assert ticks_diff(Small(r), Small(t)) == d


class _LoopLink:
    """A harness host in a few lines: every exchange is answered at its deadline (the board's
    unwrapped ms, as the supervisor does), no hold window, no inputs."""

    def __init__(self):
        self.buf = bytearray(512)
        self.exchanges = 0

    def request(self, msg_type, payload_len):
        b = self.buf
        deadline = b[3] | (b[4] << 8) | (b[5] << 16) | (b[6] << 24)
        for pos in (3, 7):  # now_ms and hold_until_ms
            for i in range(4):
                b[pos + i] = (deadline >> (8 * i)) & 0xFF
        b[11] = b[12] = b[13] = 0  # no inputs, no UART bytes
        self.exchanges += 1
        return msg_type + 32, 11


def _platform(boot_ticks_ms):
    p = HarnessPlatform({"pins": {}}, _LoopLink(), {"boot_ticks_ms": boot_ticks_ms})
    p.report(0, 0, 0, 1)  # heap_free reported: the exchange never asks gc (CPython has none)
    return p


def test_harness_clock_starts_where_the_host_says_and_wraps_at_2_30():
    p = _platform(TICKS_MAX - 24)
    assert p.ticks_ms() == TICKS_MAX - 24
    deadline = p.ticks_ms()
    for _ in range(6):  # the scheduler's loop: 10 ms frames across the wrap
        before = p.ticks_ms()
        deadline = ticks_add(deadline, 10)
        p.wait_until_ms(deadline)
        assert p.ticks_ms() == deadline
        assert p.ticks_diff(p.ticks_ms(), before) == 10
    assert p.ticks_ms() == 35  # wrapped: 60 ms after TICKS_MAX - 24
    assert p._link.exchanges == 6  # every frame reached the host: time kept moving


def test_harness_ticks_diff_has_the_board_period():
    p = _platform(0)
    assert p.ticks_diff(0, TICKS_MAX) == 1
    assert p.ticks_diff(TICKS_MAX, 0) == -1
    assert p.ticks_diff(4, TICKS_MAX - 5) == 10
    for t in EDGES:
        for d in DELTAS:
            assert p.ticks_diff(ticks_add(t, d), t) == d, (t, d)
    # ticks_us() on the unix port counts to 2**62: short durations still come out right
    big = (1 << 61) + 12345
    assert p.ticks_diff(big + 2500, big) == 2500
    assert p.ticks_diff(big, big + 2500) == -2500
