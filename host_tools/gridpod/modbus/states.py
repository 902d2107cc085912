"""State and bitfield registers of the map as words a technician reads ("closed", "safe mode").

The numbers are the firmware's own constants, read from its modules on CPython (as faults.py reads
the fault rows), so a state added or renumbered there is decoded here without a second list. A
constant the firmware no longer has is skipped, and a value with no word is shown as its number.
"""

from functools import cache

from ..build.tree import import_firmware

# register -> (firmware module, {constant: word}); one value, one word
ENUMS = {
    "contactor_state": (
        "control.contactors",
        {
            "OPEN": "open",
            "PRECHARGING": "precharging",
            "CLOSED": "closed",
            "OPENING": "opening",
            "FAULT": "fault",
        },
    ),
    "cooling_state": (
        "control.cooling",
        {"HEALTH_OK": "ok", "HEALTH_DEGRADED": "degraded", "HEALTH_LOST": "lost"},
    ),
    "grid_state": (
        "app.subsystems.grid",
        {
            "_GRID_OFF": "off",
            "_GRID_STANDBY": "standby (not permitted)",
            "_GRID_DISCHARGING": "discharging",
            "_GRID_CHARGING": "charging",
            "_GRID_IDLE": "idle",
        },
    ),
    "reset_cause": (
        "hal",
        {
            "RESET_POWER_ON": "power-on",
            "RESET_HARD": "hard reset",
            "RESET_WATCHDOG": "watchdog",
            "RESET_DEEPSLEEP": "deep sleep",
            "RESET_SOFT": "soft reset",
            "RESET_BROWN_OUT": "brown-out",
        },
    ),
    "modbus_last_error": (
        "comms.register_bank",
        {
            "REASON_RANGE": "value out of range",
            "REASON_ACCESS": "access level",
            "REASON_PIN": "wrong PIN",
            "REASON_LOCKOUT": "PIN lockout",
        },
    ),
}
# register -> (firmware module, {bit constant: word}, word when no bit is set)
FLAGS = {
    "run_mode": (
        "app.modbus_points",
        {
            "_RUN_MAINTENANCE": "maintenance",
            "_RUN_SAFE_MODE": "safe mode",
            "_RUN_SAFE_BOOT": "safe boot",
        },
        "normal",
    ),
    "status_flags": (
        "app.modbus_points",
        {
            "FLAG_LEASE_EXPIRED": "lease expired",
            "FLAG_UNLOCKED": "unlocked",
            "FLAG_PIN_LOCKOUT": "PIN lockout",
            "FLAG_CLOSE_REQUEST": "close requested",
            "FLAG_OPEN_REQUEST": "open requested",
            "FLAG_ROTATION_REQUEST": "rotation requested",
            "FLAG_RESET_LOCKOUT": "resets locked",
        },
        "none",
    ),
    "interlock_status": (
        "control.interlocks",
        {
            "_STATUS_COOLING_LOST": "cooling lost",
            "_STATUS_DERATED": "battery derated",
            "_STATUS_BATTERY_PERMIT": "close permitted",
            "_STATUS_ALARM": "alarm",
        },
        "none",
    ),
    "fault_actions": (
        "control.faults",
        {
            "ACTION_OPEN_CONTACTORS": "open contactors",
            "ACTION_PUMPS_FALLBACK": "pumps fallback",
            "ACTION_ALARM": "alarm",
        },
        "none",
    ),
}
ZERO_WORDS = {"modbus_last_error": "none"}  # enums whose 0 means "nothing happened"
POLES = ("k_neg_state", "k_pre_state", "k_pos_state")
VALVES = ("zone1_valve_state", "zone2_valve_state")


@cache
def _constants(module: str, names: tuple[str, ...]) -> dict[int, str]:
    """{value: constant name} of the names the firmware module defines."""
    try:
        mod = import_firmware(module)
    except Exception:  # noqa: BLE001 - no firmware tree (an installed copy): numbers only
        return {}
    return {getattr(mod, n): n for n in names if isinstance(getattr(mod, n, None), int)}


def _bits(module: str, names: tuple[str, ...]) -> dict[str, int]:
    return {name: value for value, name in _constants(module, names).items()}


def _pole(value: int) -> str:
    """A contactor pole: commanded (coil on) and aux contact closed, bits of battery.py."""
    b = _bits("app.subsystems.battery", ("_POLE_COMMANDED", "_POLE_AUX_CLOSED"))
    if len(b) != 2:
        return str(value)
    commanded, aux = value & b["_POLE_COMMANDED"], value & b["_POLE_AUX_CLOSED"]
    if commanded and aux:
        return "closed"
    if not commanded and not aux:
        return "open"
    return "commanded, aux open" if commanded else "aux closed, not commanded"


def _valve(value: int) -> str:
    """A zone valve: close commanded and its two limit switches, bits of cooling.py."""
    names = ("_VALVE_CLOSE_COMMANDED", "_VALVE_AT_OPEN", "_VALVE_AT_CLOSED")
    b = _bits("app.subsystems.cooling", names)
    if len(b) != 3:
        return str(value)
    closing = value & b["_VALVE_CLOSE_COMMANDED"]
    at_open, at_closed = value & b["_VALVE_AT_OPEN"], value & b["_VALVE_AT_CLOSED"]
    if at_open and at_closed:
        return "limit switch fault (open and closed)"
    if at_closed:
        return "closed" if closing else "closed, open commanded"
    if at_open:
        return "open, close commanded" if closing else "open"
    return "closing" if closing else "opening"


def word(name: str, value) -> str | None:
    """The register's value as words, or None when `name` is not a state register."""
    if value is None:
        return None
    if name in POLES:
        return _pole(value)
    if name in VALVES:
        return _valve(value)
    if name in ENUMS:
        module, words = ENUMS[name]
        const = _constants(module, tuple(words)).get(value)
        if const:
            return words[const]
        return ZERO_WORDS.get(name, str(value)) if value == 0 else str(value)
    if name in FLAGS:
        module, words, none = FLAGS[name]
        bits = _constants(module, tuple(words))
        parts = [words[const] for bit, const in sorted(bits.items()) if value & bit]
        rest = value & ~sum(bits)
        if rest:
            parts.append(f"0x{rest:x}")
        return ", ".join(parts) or none
    return None


def is_state(name: str) -> bool:
    return name in ENUMS or name in FLAGS or name in POLES or name in VALVES
