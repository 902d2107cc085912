"""Wrap-safe millisecond arithmetic for now_ms values, without reading any clock (pure).

MicroPython's ticks_ms() wraps at 2**30 on every port (MICROPY_PY_TIME_TICKS_PERIOD); all values
here stay below that, so they remain small ints and never allocate on a 32-bit MCU. The HAL reads
the clock; control, drivers and app only subtract and add with these.
"""

from micropython import const

TICKS_PERIOD = const(0x40000000)
TICKS_MAX = const(0x3FFFFFFF)
_TICKS_HALF = const(0x20000000)


def ticks_add(t, delta):
    """t + delta modulo the ticks period (delta may be negative, |delta| < period / 2)."""
    t += delta
    if t > TICKS_MAX:
        return t - TICKS_PERIOD
    if t < 0:
        return t + TICKS_PERIOD
    return t


def ticks_diff(a, b):
    """a - b in ticks, wrap-safe: correct while the true difference is below period / 2."""
    return ((a - b + _TICKS_HALF) & TICKS_MAX) - _TICKS_HALF
