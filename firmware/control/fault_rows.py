"""Fault rows of the control features (contactors, interlocks, cooling, pack limits): ids 6..45.

Kept apart from app/platform_faults.py (the platform rows) so that a module without battery or
cooling does not pay their heap: the composition builds its FaultTable from
app/platform_faults.py FAULTS + CONTROL_FAULTS only when a subsystem exists. The control modules report
causes as bitmasks of these ids; their timing (debounce) is done in control/ with config values,
so every row here debounces 1 sample, except the pack and supply limits (control/pack_limits.py,
control/cooling.py), which report the raw comparison and debounce in their rows.

Sub-codes (FaultTable.update's `sub`, logged in the raise record's arg2 >> 8):
  pump faults         bit per pump (1 pump 1, 2 pump 2)
  leak, leak_cable    bit per zone
  valve               bit per zone valve, 0x100 the mixing valve
  sensor              bit per input: 1..4 supply sensors 1-3 dropped, 8 supply pressure,
                      16 return pressure, 32 flow, 64 dew point, 128 filter DP
  pressure            1 supply over-pressure, 2 return under-pressure
  reservoir_low       1 level lost while the pumps ran, 2 fill not made within fill_max_ms
                      (0: the level is low, the reservoir filling)
  contactor faults    the sequencer state when the fault was raised (control/contactors.py)
  pack / supply limits  1 value above the limit, 2 sensor failed (control/pack_limits.py)
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
# Pack and supply limits (control/pack_limits.py, control/cooling.py): ids 30.. (second word)
FAULT_PACK_OVER_VOLTAGE = const(30)
FAULT_PACK_OVER_CURRENT = const(31)
FAULT_PACK_OVER_TEMP = const(32)
FAULT_SUPPLY_OVER_TEMP = const(33)
# Cooling warnings (control/cooling.py): ids 44..47
FAULT_COOLANT_UNDER_TEMP = const(44)  # supply below the setpoint - 2 K for 2 min
FAULT_RELIEF_PRESSURE = const(45)  # supply pressure above 90 % of the relief valve's setting

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
    (FAULT_RESERVOIR_LOW,       "reservoir_low",       1,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_PRESSURE,            "pressure",            1,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_LEAK,                "leak",                1,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_LEAK_CABLE,          "leak_cable",          1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
    (FAULT_CONDENSATION,        "condensation_risk",   1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
    (FAULT_SENSOR,              "sensor",              1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
    (FAULT_VALVE,               "valve",               1,  0, SEVERITY_WARNING, True,  ACTION_ALARM),
    (FAULT_COOLANT_OVER_TEMP,   "coolant_over_temp",   1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
    # debounce: 2 fast samples (20 ms), 10 fast samples (100 ms), 2 s, 5 s of control ticks
    (FAULT_PACK_OVER_VOLTAGE,   "pack_over_voltage",   2,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_PACK_OVER_CURRENT,   "pack_over_current",  10,  0, SEVERITY_FATAL,   True,  _OPEN),
    (FAULT_PACK_OVER_TEMP,      "pack_over_temp",      1, 2000, SEVERITY_FATAL,  True,  _OPEN),
    (FAULT_SUPPLY_OVER_TEMP,    "supply_over_temp",    1, 5000, SEVERITY_FATAL,  True,  _OPEN),
    (FAULT_COOLANT_UNDER_TEMP,  "coolant_under_temp",  1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
    (FAULT_RELIEF_PRESSURE,     "relief_pressure",     1,  0, SEVERITY_WARNING, False, ACTION_ALARM),
)
# fmt: on
