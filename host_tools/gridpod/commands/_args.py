"""argparse value types that refuse a bad value while parsing, with a message saying the range,
so no command starts (or opens a port) with a value it cannot use."""

import argparse


def int_in(lo: int, hi: int, what: str):
    """An integer lo..hi; what names the range in the message ("Modbus unit addresses")."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo}..{hi} ({what})")
        return value

    return parse


def one_of_ints(allowed: tuple[int, ...], what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value not in allowed:
            raise argparse.ArgumentTypeError(
                f"{value} is not one of {', '.join(map(str, allowed))} ({what})"
            )
        return value

    return parse


def seconds(minimum: float, what: str, maximum: float = 86400.0):
    """A number of seconds minimum..maximum (a period, a timeout)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not minimum <= value <= maximum:  # also refuses nan
            raise argparse.ArgumentTypeError(
                f"{value:g} s: {what} must be {minimum:g}..{maximum:g} s"
            )
        return value

    return parse
