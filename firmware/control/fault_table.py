"""The fault table: one row per fault, as data. Adding a fault = one row here (+ a const if code
names it). Columns: (bit id, name, debounce count, debounce ms, severity, latch, safe actions).

Platform faults (0-5), then the control features (contactors, cooling). All 30 bit ids are used:
a new fault must share a row (detail in the owning module's state) or a second table.
"""

from micropython import const

from control.faults import (
    ACTION_ALARM,
    ACTION_NONE,
    ACTION_OPEN_CONTACTORS,
    ACTION_PUMPS_FALLBACK,
    SEVERITY_FATAL,
    SEVERITY_WARNING,
)

FAULT_CONFIG_INVALID = const(0)
FAULT_TICK_OVERRUN = const(1)
FAULT_WATCHDOG_RESET = const(2)
FAULT_BOOT_LOOP_SAFE_MODE = const(3)
FAULT_LOG_WRITE_ERROR = const(4)
FAULT_TASK_ERROR = const(5)
# Battery contactors (control/contactors.py, control/interlocks.py)
FAULT_PRECHARGE_TIMEOUT = const(6)
FAULT_PRECHARGE_TOO_FAST = const(7)
FAULT_PRECHARGE_NOT_DECAYING = const(8)
FAULT_CONTACTOR_FAIL_CLOSE = const(9)
FAULT_CONTACTOR_WELDED = const(10)
FAULT_CONTACTOR_AUX = const(11)
FAULT_CONTACTOR_DROPOUT = const(12)
FAULT_BREAK_CURRENT = const(13)
FAULT_INTERLOCK_OPEN = const(14)
# Cooling (control/cooling.py and helpers); which pump / zone / sensor is in the module's state
FAULT_PUMP_FAILED = const(15)
FAULT_TACH_LOST = const(16)
FAULT_PUMP_PWM_WIRE = const(17)
FAULT_COOLING_LOST = const(18)
FAULT_ROTATION_FAILED = const(19)
FAULT_LOW_FLOW = const(20)
FAULT_FILTER_CLOGGED = const(21)
FAULT_RESERVOIR_LOW = const(22)
FAULT_PRESSURE = const(23)
FAULT_LEAK = const(24)
FAULT_LEAK_CABLE = const(25)
FAULT_CONDENSATION = const(26)
FAULT_SENSOR = const(27)
FAULT_VALVE = const(28)
FAULT_COOLANT_OVER_TEMP = const(29)

_SAFE = ACTION_OPEN_CONTACTORS | ACTION_PUMPS_FALLBACK | ACTION_ALARM
_OPEN = ACTION_OPEN_CONTACTORS | ACTION_ALARM

# fmt: off
FAULTS = (
    # id                        name               count  ms  severity          latch  actions
    (FAULT_CONFIG_INVALID,      "config_invalid",      1,  0, SEVERITY_FATAL,   True,  _SAFE),
    (FAULT_TICK_OVERRUN,        "tick_overrun",        1,  0, SEVERITY_FATAL,   True,  _SAFE),
    (FAULT_WATCHDOG_RESET,      "watchdog_reset",      1,  0, SEVERITY_WARNING, True,  ACTION_ALARM),
    (FAULT_BOOT_LOOP_SAFE_MODE, "boot_loop_safe_mode", 1,  0, SEVERITY_FATAL,   False, _SAFE),
    (FAULT_LOG_WRITE_ERROR,     "log_write_error",     3,  0, SEVERITY_WARNING, False, ACTION_NONE),
    (FAULT_TASK_ERROR,          "task_error",          1,  0, SEVERITY_FATAL,   True,  _SAFE),
    # Control features: timing is done (configurable) in control/, so rows debounce 1 sample.
    (FAULT_PRECHARGE_TIMEOUT,   "precharge_timeout",   1,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_PRECHARGE_TOO_FAST,  "precharge_too_fast",  1,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_PRECHARGE_NOT_DECAYING, "precharge_not_decaying", 1, 0, SEVERITY_FATAL, True, _OPEN),
    (FAULT_CONTACTOR_FAIL_CLOSE, "contactor_fail_close", 1, 0, SEVERITY_FATAL,  True,  _OPEN),
    (FAULT_CONTACTOR_WELDED,    "contactor_welded",    1,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_CONTACTOR_AUX,       "contactor_aux",       1,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_CONTACTOR_DROPOUT,   "contactor_dropout",   1,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_BREAK_CURRENT,       "break_current",       1,  0, SEVERITY_WARNING, True,  ACTION_ALARM),
    (FAULT_INTERLOCK_OPEN,      "interlock_open",      1,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_PUMP_FAILED,         "pump_failed",         1,  0, SEVERITY_WARNING, True,  ACTION_ALARM),
    (FAULT_TACH_LOST,           "tach_lost",           1,  0, SEVERITY_WARNING, False, ACTION_NONE),
    (FAULT_PUMP_PWM_WIRE,       "pump_pwm_wire",       1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
    (FAULT_COOLING_LOST,        "cooling_lost",        1,  0, SEVERITY_FATAL,   True,  _SAFE),
    (FAULT_ROTATION_FAILED,     "rotation_failed",     1,  0, SEVERITY_WARNING, True,  ACTION_ALARM),
    (FAULT_LOW_FLOW,            "low_flow",            1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
    (FAULT_FILTER_CLOGGED,      "filter_clogged",      1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
    (FAULT_RESERVOIR_LOW,       "reservoir_low",       1,  0, SEVERITY_FATAL,   False, _OPEN),
    (FAULT_PRESSURE,            "pressure",            1,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_LEAK,                "leak",                1,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_LEAK_CABLE,          "leak_cable",          1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
    (FAULT_CONDENSATION,        "condensation_risk",   1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
    (FAULT_SENSOR,              "sensor",              1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
    (FAULT_VALVE,               "valve",               1,  0, SEVERITY_WARNING, True,  ACTION_ALARM),
    (FAULT_COOLANT_OVER_TEMP,   "coolant_over_temp",   1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
)
# fmt: on
