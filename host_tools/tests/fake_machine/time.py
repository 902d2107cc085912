"""Simulated `time` for the MicroPython unix port (this folder on MICROPYPATH overrides the port's
built-in `time`, like machine.py overrides `machine`).

The clock only moves when something charges it: a sleep (recorded in `sleeps`, as ("us", n) or
("ms", n)), the fake I2C bus's transfer time at its clock rate (machine.I2C), or a test calling
advance_us(). ticks_* wrap like the ports' (period 2**30) and ticks_diff is MicroPython's.
"""

_PERIOD = 1 << 30
_HALF = _PERIOD >> 1

sleeps = []
_now = [0]  # simulated microseconds since the VM started


def advance_us(us):
    _now[0] += us


def now_us():
    """The simulated clock, unwrapped (for tests)."""
    return _now[0]


def ticks_us():
    return _now[0] % _PERIOD


def ticks_ms():
    return (_now[0] // 1000) % _PERIOD


def ticks_add(ticks, delta):
    return (ticks + delta) % _PERIOD


def ticks_diff(a, b):
    return ((a - b + _HALF) % _PERIOD) - _HALF


def sleep_us(us):
    sleeps.append(("us", us))
    _now[0] += us


def sleep_ms(ms):
    sleeps.append(("ms", ms))
    _now[0] += ms * 1000


def sleep(s):
    sleeps.append(("ms", int(s * 1000)))
    _now[0] += int(s * 1000000)


def time():
    return _now[0] // 1000000
