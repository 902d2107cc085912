"""CPython stand-in for MicroPython's `micropython` module, so firmware imports run under pytest."""


def const(value):
    return value


def native(func):
    return func


def viper(func):
    return func


def mem_info(*_args):
    return None
