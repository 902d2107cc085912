"""Grid peak shaving, pure: PCS discharge setpoint that holds grid import at a leased limit.

Units: power W (int, discharge positive), SOC 0.1 % (permille), temperature 0.01 degC, time ms.
The import limit, the enable and the manual PCS request are leased Modbus setpoints: the register
bank reverts them to their defaults when the master stops rewriting them (app/modbus_points.py),
and the module copies them in here (limit_w, enabled, request_w). Lease expiry therefore means
enable 0 (the configured default) and request 0, so the setpoint ramps to zero.
Load (what the grid would import without the battery) = grid meter + battery power, so the
PCS losses and every auxiliary load are inside it. Discharge is allowed only with the contactors
closed, SOC known and above its floor, battery temperature in range and cooling not lost; the
power cap follows the cooling derate. Shaving keeps the grid at the limit; below it the battery
recharges into the headroom less the tolerance (at most charge_w, SOC below _SOC_FULL_PM), so
that meter noise never pushes the import over the limit. With shaving off the PCS follows the
manual request under the same permissions, a charge request also under the SOC ceiling and the
import limit's headroom (it never pushes the grid over the limit). Setpoint changes are ramp-limited (ramp_w_per_s)
except the drop to zero on a lost permission, and held inside a deadband (pcs_deadband_w) so
meter noise does not rewrite the PCS setpoint every tick. The charge power default (10 kW) bounds
what a load step while charging costs the grid: the PCS needs charge / ramp to come back to 0,
so a 1 s mean sees at most charge^2 / (2 ramp) = 1 kW above the limit at 50 kW/s. Integer W only: it runs in the fast tick.
"""

from micropython import const

_SOC_FULL_PM = const(950)


class PeakShaver:
    def __init__(self, cfg):
        self.limit_w = cfg["grid_import_limit_kw"] * 1000  # the module copies the register
        self.enabled = False  # the leased peak_shaving_enable register (default 0) sets it
        self.max_w = cfg["pcs_max_kw"] * 1000
        self.ramp_w_per_s = cfg["pcs_ramp_kw_s"] * 1000
        self.charge_w = cfg["pcs_charge_kw"] * 1000
        self.soc_floor_pm = cfg["soc_floor_pct"] * 10
        self.t_min_cdegc = cfg["battery_temp_min_ddegc"] * 10
        self.t_max_cdegc = cfg["battery_temp_max_ddegc"] * 10
        self.tolerance_w = cfg["grid_tolerance_kw"] * 1000
        self.deadband_w = cfg["pcs_deadband_w"]
        self.request_w = 0
        self.setpoint_w = 0
        self.may_discharge = False
        self.active = False  # permitted to drive the PCS (its enable line)

    def step(self, dt_ms, load_w, soc_pm, batt_temp_cdegc, contactors_closed, power_pct):
        """load_w: grid import + battery discharge (None when a meter failed)."""
        ok = (
            contactors_closed
            and load_w is not None
            and power_pct > 0
            and batt_temp_cdegc is not None
            and self.t_min_cdegc <= batt_temp_cdegc <= self.t_max_cdegc
            and soc_pm is not None
        )
        self.may_discharge = bool(ok and soc_pm > self.soc_floor_pm)
        self.active = ok
        if not ok:
            self.setpoint_w = 0
            return 0
        cap = self.max_w * power_pct // 100
        if not self.enabled:
            target = self.request_w
            target = cap if target > cap else -cap if target < -cap else target
            if target < 0:
                # a manual charge obeys what shaving obeys (safety review m7): no charge above
                # the SOC ceiling, and never more than the headroom under the import limit
                head = self.limit_w - load_w - self.tolerance_w
                if soc_pm >= _SOC_FULL_PM or head <= 0:
                    target = 0
                elif -target > head:
                    target = -head
        else:
            excess = load_w - self.limit_w
            target = 0
            if excess > 0:
                target = excess if excess < cap else cap
            elif soc_pm < _SOC_FULL_PM:
                head = -excess - self.tolerance_w
                c = self.charge_w if self.charge_w < cap else cap
                target = -(head if head < c else c) if head > 0 else 0
        if target > 0 and not self.may_discharge:
            target = 0
        step_w = self.ramp_w_per_s * dt_ms // 1000
        sp = self.setpoint_w
        d = target - sp
        if target != 0 and -self.deadband_w < d < self.deadband_w:
            target = sp  # meter noise does not move the PCS (a stop to 0 always goes through)
        if target > sp + step_w:
            sp += step_w
        elif target < sp - step_w:
            sp -= step_w
        else:
            sp = target
        if sp > 0 and not self.may_discharge:
            sp = 0
        self.setpoint_w = sp
        return sp
