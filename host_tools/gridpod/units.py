"""Parsing of sizes and speeds typed by people: 64K, 2M, 65536; 1, 10, max."""

from . import GridpodError

_SUFFIX = {"": 1, "K": 1024, "M": 1024 * 1024}


def parse_size(text: str) -> int:
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    suffix = t[-1:] if t[-1:] in ("K", "M") else ""
    number = t[: len(t) - len(suffix)]
    try:
        value = int(number) * _SUFFIX[suffix]
    except ValueError:
        raise GridpodError(
            f"size {text!r}: write bytes, or a number with K or M (64K, 2M)"
        ) from None
    if value <= 0:
        raise GridpodError(f"size {text!r} must be positive")
    return value


def parse_speed(text: str):
    if str(text).lower() == "max":
        return "max"
    try:
        value = float(text)
    except ValueError:
        raise GridpodError(
            f"speed {text!r}: use a positive number (1 = real time) or 'max'"
        ) from None
    if value <= 0:
        raise GridpodError(f"speed {text!r}: use a positive number (1 = real time) or 'max'")
    return value
