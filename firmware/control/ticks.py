"""Wrap-safe millisecond arithmetic for now_ms values, without reading any clock (pure).

MicroPython's ticks_ms() wraps at 2**30 on every port (MICROPY_PY_TIME_TICKS_PERIOD); all values
here stay below that, so they remain small ints and never allocate on a 32-bit MCU: a small int
there holds -2**30 .. 2**30 - 1, so neither the period itself (a long int there) nor a sum that
can reach it appears in any intermediate. The HAL reads the clock; control, drivers and app only
subtract and add with these.
"""

from micropython import const

TICKS_PERIOD = const(0x40000000)
TICKS_MAX = const(0x3FFFFFFF)
_TICKS_HALF = const(0x20000000)


def ticks_add(t, delta):
    """t + delta modulo the ticks period (t a ticks value, |delta| < period / 2)."""
    if delta >= 0:
        room = TICKS_MAX - t
        if delta > room:
            return delta - room - 1
        return t + delta
    if t + delta < 0:
        return t + delta + TICKS_MAX + 1
    return t + delta


def ticks_diff(a, b):
    """a - b in ticks, wrap-safe: correct while the true difference is below period / 2."""
    d = (a - b) & TICKS_MAX
    if d >= _TICKS_HALF:
        return d - _TICKS_HALF - _TICKS_HALF
    return d
