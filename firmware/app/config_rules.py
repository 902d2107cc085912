"""Config rules beyond each key's type and range (app/config.py checks those first): keys that
must agree with each other, and safety floors, values inside a key's range that would switch a
protection off (DOMAIN.md "Config safety floors"). Boot-only, like app/config.py.
"""

# Safety floors (DOMAIN.md "Config safety floors"): values inside a key's type range that would
# switch a protection off. Key or tuning element, lowest, highest (None: no bound), what breaks.
_SAFETY_FLOORS = (
    ("flow_setpoint_lpm", 10, None, "the no-flow interlock judges coolant flow against it"),
    ("pump_fail_flow_pct", 20, 80, "a pump that stops delivering would never be seen"),
    ("pump_fallback_speed_pct", 50, None, "the pumps-fallback action would slow the pumps"),
    ("return_pressure_min_kpa", 10, None, "a dry-running pump would never be seen"),
    ("watchdog_timeout_ms", None, 2000, "a hung controller would hold its outputs longer"),
    ("break_wait_ms", None, 3000, "the mains would carry more than their rating past the fuse"),
    ("derate_pct", None, 90, "degraded cooling would no longer derate the battery"),
    ("toggle_lockout_ms", 1000, None, "repeated closes would get no pause"),
)


def cross_key_errors(values, tuned):
    """Every rule `values` (all keys individually valid) breaks; tuned: the tuning elements by
    name (app/config.py expand_tuning)."""
    errors = []
    fast, ctl, hk = values["fast_tick_ms"], values["control_tick_ms"], values["housekeeping_ms"]
    if ctl % fast:
        errors.append("control_tick_ms: %d not a multiple of fast_tick_ms %d [ms]" % (ctl, fast))
    if hk % ctl:
        errors.append("housekeeping_ms: %d not a multiple of control_tick_ms %d [ms]" % (hk, ctl))
    if values["watchdog_timeout_ms"] < 2 * hk:
        errors.append(
            "watchdog_timeout_ms: below 2 x housekeeping_ms (fed once per housekeeping) [ms]"
        )
    if values["safe_mode_ms"] < values["good_boot_ms"]:
        errors.append("safe_mode_ms: shorter than good_boot_ms [ms]")
    if values["modbus_parity"] == "E" and values["modbus_stop_bits"] != 1:
        errors.append(
            "modbus_stop_bits: 8E%d is not a Modbus frame; use 8E1 [bits]"
            % values["modbus_stop_bits"]
        )
    for enabled, present in (
        ("cooling_enabled", "has_cooling"),
        ("battery_enabled", "has_battery"),
        ("grid_enabled", "has_grid"),
    ):
        if values[enabled] and not values[present]:
            errors.append("%s: the module has none (%s is 0)" % (enabled, present))
    if values["pump_min_speed_pct"] > values["pump_fallback_speed_pct"]:
        errors.append("pump_fallback_speed_pct: below pump_min_speed_pct [%]")
    if values["battery_enabled"] and not values["has_cooling"]:
        errors.append(
            "has_cooling: 0 with battery_enabled: the battery would close with no coolant proof"
        )
    errors.extend(_floor_errors(values, tuned))
    return errors


def _floor_errors(values, tuned):
    errors = []
    for key, lo, hi, why in _SAFETY_FLOORS:
        v = values[key] if key in values else tuned[key]
        if lo is not None and v < lo:
            errors.append("%s: %d below the safety floor %d: %s" % (key, v, lo, why))
        elif hi is not None and v > hi:
            errors.append("%s: %d above the safety limit %d: %s" % (key, v, hi, why))
    return errors
