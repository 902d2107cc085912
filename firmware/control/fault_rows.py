"""Fault rows of the control features (contactors, interlocks, cooling): ids 6..29 of the table.

Kept apart from app/platform_faults.py (the platform rows) so that a module without battery or
cooling does not pay their heap: the composition builds its FaultTable from
app/platform_faults.py FAULTS + CONTROL_FAULTS only when a subsystem exists. The control modules report
causes as bitmasks of these ids; their timing (debounce) is done in control/ with config values,
so every row here debounces 1 sample. Which pump / zone / sensor is in the owning module's state.
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
# Cooling (control/cooling.py and its helpers)
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
CONTROL_FAULTS = (
    # id                        name               count  ms  severity          latch  actions
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
