"""Grid peak shaving, pure: PCS discharge setpoint that holds grid import at a leased limit.

Units: power W (int, discharge positive), SOC 0.1 % (permille), temperature 0.01 degC, time ms.
The import limit and the enable are leased setpoints (written over Modbus): each write renews the
lease; when it expires the enable drops and the limit reverts to its configured default, and the
setpoint goes to zero at once (safe). Discharge is allowed only with the contactors closed, SOC
above its floor, battery temperature in range and cooling not lost; the power cap follows the
cooling derate. Below the limit the battery recharges (up to the headroom, at most charge_w, SOC
below _SOC_FULL_PM). Setpoint changes are ramp-limited (ramp_w_per_s) except the drop to zero on
a lost permission.
"""

from micropython import const

from control.ticks import ticks_diff

_SOC_FULL_PM = const(950)


class PeakShaver:
    def __init__(self, cfg):
        g = cfg.get
        self.default_limit_w = g("grid_import_limit_kw", 500) * 1000
        self.limit_w = self.default_limit_w
        self.enabled = bool(g("peak_shaving_enable", 0))
        self.max_w = g("pcs_max_kw", 100) * 1000
        self.ramp_w_per_s = g("pcs_ramp_kw_s", 50) * 1000
        self.charge_w = g("pcs_charge_kw", 20) * 1000
        self.soc_floor_pm = g("soc_floor_pct", 20) * 10
        self.t_min_cdc = g("battery_temp_min_dc", 50) * 10
        self.t_max_cdc = g("battery_temp_max_dc", 450) * 10
        self.lease_ms = g("setpoint_lease_ms", 60000)
        self._lease_from_ms = 0
        self.leased = False
        self.setpoint_w = 0
        self.may_discharge = False

    def write_limit(self, now_ms, limit_kw):
        self.limit_w = limit_kw * 1000
        self._renew(now_ms)

    def write_enable(self, now_ms, enable):
        self.enabled = bool(enable)
        self._renew(now_ms)

    def _renew(self, now_ms):
        self.leased = True
        self._lease_from_ms = now_ms

    def step(self, now_ms, dt_ms, load_w, soc_pm, batt_temp_cdc, contactors_closed, power_pct):
        """load_w: IT + cooling (what the grid would import without the battery)."""
        if self.leased and ticks_diff(now_ms, self._lease_from_ms) >= self.lease_ms:
            self.leased = False
            self.enabled = False
            self.limit_w = self.default_limit_w
        ok = (
            self.enabled
            and contactors_closed
            and power_pct > 0
            and batt_temp_cdc is not None
            and self.t_min_cdc <= batt_temp_cdc <= self.t_max_cdc
            and soc_pm is not None
        )
        self.may_discharge = bool(ok and soc_pm > self.soc_floor_pm)
        if not ok:
            self.setpoint_w = 0
            return 0
        cap = self.max_w * power_pct // 100
        excess = load_w - self.limit_w
        if excess > 0:
            target = excess if excess < cap else cap
            if not self.may_discharge:
                target = 0
        else:
            head = -excess
            target = 0
            if soc_pm < _SOC_FULL_PM:
                c = self.charge_w if self.charge_w < cap else cap
                target = -(head if head < c else c)
        step_w = self.ramp_w_per_s * dt_ms // 1000
        sp = self.setpoint_w
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
