"""The fault table: one row per fault, as data. Adding a fault = one row here (+ a const if code
names it). Columns: (bit id, name, debounce count, debounce ms, severity, latch, safe actions).

Platform faults only for now; control features (contactors, cooling, grid) append their rows.
"""

from control.faults import (
    ACTION_ALARM,
    ACTION_NONE,
    ACTION_OPEN_CONTACTORS,
    ACTION_PUMPS_FALLBACK,
    SEVERITY_FATAL,
    SEVERITY_WARNING,
)
from micropython import const

FAULT_CONFIG_INVALID = const(0)
FAULT_TICK_OVERRUN = const(1)
FAULT_WATCHDOG_RESET = const(2)
FAULT_BOOT_LOOP_SAFE_MODE = const(3)
FAULT_LOG_WRITE_ERROR = const(4)
FAULT_TASK_ERROR = const(5)
# ids 30.. are the second bitfield word (control/faults.py); 30-33 are control/fault_rows.py's
FAULT_BROWN_OUT = const(34)
FAULT_IO_BUS = const(35)

_SAFE = ACTION_OPEN_CONTACTORS | ACTION_PUMPS_FALLBACK | ACTION_ALARM

# fmt: off
FAULTS = (
    # id                        name               count  ms  severity          latch  actions
    (FAULT_CONFIG_INVALID,      "config_invalid",      1,  0, SEVERITY_FATAL,   True,  _SAFE),
    (FAULT_TICK_OVERRUN,        "tick_overrun",        1,  0, SEVERITY_FATAL,   True,  _SAFE),
    (FAULT_WATCHDOG_RESET,      "watchdog_reset",      1,  0, SEVERITY_WARNING, True,  ACTION_ALARM),
    (FAULT_BOOT_LOOP_SAFE_MODE, "boot_loop_safe_mode", 1,  0, SEVERITY_FATAL,   False, _SAFE),
    (FAULT_LOG_WRITE_ERROR,     "log_write_error",     3,  0, SEVERITY_WARNING, False, ACTION_NONE),
    (FAULT_TASK_ERROR,          "task_error",          1,  0, SEVERITY_FATAL,   True,  _SAFE),
    # a brown-out reboot: the supply dipped (an interrupted precharge, say); nothing re-closes by
    # itself, and the operator acknowledges it (safety review m8)
    (FAULT_BROWN_OUT,           "brown_out",           1,  0, SEVERITY_WARNING, True,  ACTION_ALARM),
    # an I2C expander or ADC failed a transaction: its safety inputs already read unsafe, this
    # says why (DOMAIN.md "Fail-safe inputs": an expander read that fails is a fault)
    (FAULT_IO_BUS,              "io_bus",              1,  0, SEVERITY_WARNING, True,  ACTION_ALARM),
)
# fmt: on
