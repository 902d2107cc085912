"""Simulated `time` for the MicroPython unix port (this folder on MICROPYPATH overrides the port's
built-in `time`, like machine.py overrides `machine`).

The clock only moves when something charges it: a sleep (recorded in `sleeps`, as ("us", n) or
("ms", n)), the fake I2C bus's transfer time at its clock rate (machine.I2C), or a test calling
advance_us(). One-shot timers (machine.Timer) fire on the way, at their due time. ticks_* wrap like the ports' (period 2**30) and ticks_diff is MicroPython's.
"""

_PERIOD = 1 << 30
_HALF = _PERIOD >> 1

sleeps = []
_now = [0]  # simulated microseconds since the VM started
# One-shot alarms (machine.Timer ONE_SHOT): [due us, callback]; the clock stops at each due time
# on its way and runs the callback, as the port's soft timer would between two bytecodes.
alarms = []


def _run_to(target):
    while True:
        due = [a for a in alarms if a[0] <= target]
        if not due:
            break
        first = due[0]
        for a in due:
            if a[0] < first[0]:
                first = a
        alarms.remove(first)
        if first[0] > _now[0]:
            _now[0] = first[0]
        first[1]()
    if target > _now[0]:
        _now[0] = target


def advance_us(us):
    _run_to(_now[0] + us)


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
    _run_to(_now[0] + us)


def sleep_ms(ms):
    sleeps.append(("ms", ms))
    _run_to(_now[0] + ms * 1000)


def sleep(s):
    sleeps.append(("ms", int(s * 1000)))
    _run_to(_now[0] + int(s * 1000000))


def time():
    return _now[0] // 1000000
