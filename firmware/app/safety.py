"""Permissions every actuator driver must obey before energising anything risky.

close_permitted(): False in maintenance mode, boot-loop safe mode or safe boot, or while any
active fault demands open contactors. The future contactor state machine must check it before
each close or precharge command, every tick.
"""

from control.faults import ACTION_OPEN_CONTACTORS, ACTION_PUMPS_FALLBACK

from app import state


def close_permitted():
    if not state.is_normal():
        return False
    faults = state.faults
    return faults is None or not faults.action_mask & ACTION_OPEN_CONTACTORS


def pumps_fallback():
    if not state.is_normal():
        return True
    faults = state.faults
    return faults is not None and bool(faults.action_mask & ACTION_PUMPS_FALLBACK)
