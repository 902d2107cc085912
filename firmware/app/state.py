"""Run mode of this boot, readable from the REPL: `import app.state; app.state.reason`.

maintenance: the config was rejected (reason lists every error); safe_mode: the boot-loop guard
tripped; safe_boot: the application was not started (/SAFE_BOOT or SAFE_MODE_BUTTON). In every
non-normal mode outputs stay safe and contactors refuse to close.

close_permitted() / pumps_fallback(): the permissions every actuator driver must obey before
energising anything risky: no close in maintenance mode, boot-loop safe mode or safe boot, or
while any active fault demands open contactors (the contactor state machine checks it every tick).
fatal_active(): a fatal fault is active (the FAULT_LAMP output, app/outputs.py); the one place that
reads the table's fatal bitfield, so widening the table (two words) changes only this function.
"""

from control.faults import ACTION_OPEN_CONTACTORS, ACTION_PUMPS_FALLBACK

TYPE_CHECKING = False  # mypy reads this as True; MicroPython skips the block
if TYPE_CHECKING:
    from control.faults import FaultTable


maintenance = False
safe_mode = False
safe_boot = False
reason = ""
config_errors: list = []
faults: "FaultTable | None" = None  # the FaultTable of the running App


def reset():
    global maintenance, safe_mode, safe_boot, reason, config_errors, faults
    maintenance = False
    safe_mode = False
    safe_boot = False
    reason = ""
    config_errors = []
    faults = None


def add_reason(text):
    global reason
    reason = text if not reason else reason + " | " + text


def is_normal():
    return not (maintenance or safe_mode or safe_boot)


def close_permitted():
    if not is_normal():
        return False
    ft = faults
    return ft is None or not ft.action_mask & ACTION_OPEN_CONTACTORS


def pumps_fallback():
    if not is_normal():
        return True
    ft = faults
    return ft is not None and bool(ft.action_mask & ACTION_PUMPS_FALLBACK)


def fatal_active():
    """True while any fault of SEVERITY_FATAL is active (no allocation: fast tick)."""
    ft = faults
    return ft is not None and ft.fatal_count != 0
