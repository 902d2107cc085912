"""Cross-domain interlocks between cooling and the battery, pure.

permit (for control/contactors.py): close_permitted() (app/state.py) AND the hardware interlock
loop closed AND battery-loop coolant flow proven (cooling health not LOST). Losing any of them
trips the contactors (no re-close by itself). Degraded cooling first derates the battery power
(derate_pct of rated), lost cooling trips. "Cooling lost" drives the alarm output and a status bit
for the IT side. An open interlock loop is FAULT_INTERLOCK_OPEN.
"""

from micropython import const

from control.fault_rows import FAULT_INTERLOCK_OPEN

# status bits (published for the IT side)
_STATUS_COOLING_LOST = const(1)
_STATUS_DERATED = const(2)
_STATUS_BATTERY_PERMIT = const(4)
_STATUS_ALARM = const(8)

# same values as control/cooling.py HEALTH_*
_HEALTH_OK = const(0)
_HEALTH_LOST = const(2)


class Interlocks:
    def __init__(self, cfg):
        self.derate_pct = cfg["derate_pct"]
        self.permit = False
        self.power_limit_pct = 0
        self.alarm = False
        self.status = 0
        self.causes = 0

    def step(self, close_permitted, loop_closed, cooling_health, cooling_lost, alarm_actions):
        """cooling_lost: both pumps failed; alarm_actions: the fault table wants the alarm."""
        self.causes = 0 if loop_closed else 1 << FAULT_INTERLOCK_OPEN
        lost = cooling_health == _HEALTH_LOST
        self.permit = bool(close_permitted and loop_closed and not lost)
        if lost:
            self.power_limit_pct = 0
        elif cooling_health == _HEALTH_OK:
            self.power_limit_pct = 100
        else:
            self.power_limit_pct = self.derate_pct
        self.alarm = bool(cooling_lost or alarm_actions)
        s = 0
        if cooling_lost:
            s |= _STATUS_COOLING_LOST
        if self.power_limit_pct < 100:
            s |= _STATUS_DERATED
        if self.permit:
            s |= _STATUS_BATTERY_PERMIT
        if self.alarm:
            s |= _STATUS_ALARM
        self.status = s
        return self.permit
