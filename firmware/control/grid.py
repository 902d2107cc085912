"""Grid side of the module, pure logic: energy counters and energy per token, battery state of
charge, and peak shaving. Three parts, one module (each module costs three qstrs and a module
object on a 64 KiB heap); each part's own notes are above it.
"""

from micropython import const

# ---- energy --------------------------------------------------------------------------------------
# Energy meter, pure: Wh counters and energy per AI token. Called from housekeeping with dt_ms.
#
# Counters (_E_IT, _E_COOLING, _E_BATT_IN, _E_BATT_OUT, _E_GRID_IMPORT) are 32-bit Wh kept as two 16-bit
# halves (hi, lo) so every value stays a small int on a 32-bit MCU (31-bit small ints) and maps
# straight onto a high-word-first Modbus register pair; they wrap at 2**32. Sub-Wh energy is kept as
# a remainder in W*ms (|power| <= 1 MW and dt_ms <= 1000 keep it below 2**30).
# Energy per token: the host writes its cumulative token counter; at each write the joules
# accumulated since the previous write are divided by the tokens since then, at the IT boundary
# (IT only) and at the module boundary (IT + cooling + battery in - battery out: storage losses).
_E_IT = const(0)
_E_COOLING = const(1)
_E_BATT_IN = const(2)
_E_BATT_OUT = const(3)
_E_GRID_IMPORT = const(4)
_N = const(5)
_WMS_PER_WH = const(3600000)
_J_CAP = const(0x1FFFFFFF)


class Energy:
    def __init__(self):
        self.hi = [0] * _N
        self.lo = [0] * _N
        self._rem = [0] * _N
        self._j_it = 0
        self._j_mod = 0
        self._jrem_it = 0
        self._jrem_mod = 0
        self._tokens = None
        self.mj_per_token_it = None
        self.mj_per_token_module = None

    def preset(self, idx, hi, lo):
        """Restore a counter (e.g. from flash at boot)."""
        self.hi[idx] = hi & 0xFFFF
        self.lo[idx] = lo & 0xFFFF

    def _add(self, idx, power_w, dt_ms):
        if power_w <= 0:
            return
        r = self._rem[idx] + power_w * dt_ms
        n = r // _WMS_PER_WH
        self._rem[idx] = r - n * _WMS_PER_WH
        if n:
            lo = self.lo[idx] + n
            self.lo[idx] = lo & 0xFFFF
            self.hi[idx] = (self.hi[idx] + (lo >> 16)) & 0xFFFF

    def step(self, dt_ms, it_w, cooling_w, batt_w, grid_w):
        """batt_w: discharge positive; grid_w: import positive (export is not counted)."""
        self._add(_E_IT, it_w, dt_ms)
        self._add(_E_COOLING, cooling_w, dt_ms)
        if batt_w >= 0:
            self._add(_E_BATT_OUT, batt_w, dt_ms)
        else:
            self._add(_E_BATT_IN, -batt_w, dt_ms)
        self._add(_E_GRID_IMPORT, grid_w, dt_ms)
        r = self._jrem_it + it_w * dt_ms
        j = r // 1000
        self._jrem_it = r - j * 1000
        if self._j_it < _J_CAP:
            self._j_it += j
        r = self._jrem_mod + (it_w + cooling_w - batt_w) * dt_ms
        j = r // 1000
        self._jrem_mod = r - j * 1000
        if self._j_mod < _J_CAP:
            self._j_mod += j

    def write_tokens(self, tokens):
        """Host wrote its cumulative token counter (a small int, or (hi << 16 | lo) & 0x3FFFFFFF)."""
        if self._tokens is not None:
            d = tokens - self._tokens
            if d > 0:
                self.mj_per_token_it = (
                    self._j_it * 1000 // d if self._j_it < 1000000 else (self._j_it // d * 1000)
                )
                self.mj_per_token_module = (
                    self._j_mod * 1000 // d if self._j_mod < 1000000 else self._j_mod // d * 1000
                )
        self._tokens = tokens
        self._j_it = 0
        self._j_mod = 0


# ---- soc -----------------------------------------------------------------------------------------
# Battery state of charge, pure: open-circuit voltage at rest once, then coulomb counting.
#
# Units: SOC in 0.1 % (permille), pack voltage 0.1 V, current 0.1 A (discharge positive), time ms.
# At boot nothing is known (soc_pm None: peak shaving cannot discharge). While the pack rests
# (|I| <= rest current) REST_SAMPLES readings are averaged and mapped through the cell OCV table
# (mV per cell, the same curve as the plant's power model; a host test compares them). From then
# on the charge is counted: one permille is capacity_ah * 36000 dA*ms, kept as a remainder so that
# every value stays a small int on a 32-bit MCU.
# (SOC permille, cell OCV mV): LFP-like curve, flat between 30 % and 90 %
OCV_PM = (0, 50, 100, 300, 600, 900, 1000)
OCV_MV = (2800, 3100, 3200, 3260, 3300, 3340, 3450)
REST_SAMPLES = const(8)
_REST_I_DA = const(20)  # 2 A


def soc_from_ocv(cell_dmv):
    """Cell open-circuit voltage in 0.1 mV -> SOC permille (the curve is flat: 1 mV ~ 7 permille)."""
    if cell_dmv <= OCV_MV[0] * 10:
        return 0
    for k in range(1, len(OCV_MV)):
        v1 = OCV_MV[k] * 10
        if cell_dmv <= v1:
            v0 = OCV_MV[k - 1] * 10
            s0 = OCV_PM[k - 1]
            return s0 + (cell_dmv - v0) * (OCV_PM[k] - s0) // (v1 - v0)
    return 1000


class Soc:
    def __init__(self, cfg):
        self.cells = cfg.get("battery_cells", 240)
        self.q_pm = cfg.get("battery_capacity_ah", 100) * 36000  # dA*ms in 0.1 % of capacity
        self.soc_pm = None
        self._rem = 0
        self._n = 0
        self._sum_dv = 0

    def step(self, dt_ms, v_pack_dv, i_da):
        if i_da is None:
            return self.soc_pm
        if self.soc_pm is None:
            if v_pack_dv is None or i_da > _REST_I_DA or i_da < -_REST_I_DA:
                self._n = 0
                self._sum_dv = 0
                return None
            self._n += 1
            self._sum_dv += v_pack_dv
            if self._n >= REST_SAMPLES:
                self.soc_pm = soc_from_ocv(self._sum_dv * 1000 // (self._n * self.cells))
            return self.soc_pm
        r = self._rem + i_da * dt_ms
        q = self.q_pm
        n = r // q  # floor: a charge remainder stays positive
        self._rem = r - n * q
        s = self.soc_pm - n
        self.soc_pm = 0 if s < 0 else 1000 if s > 1000 else s
        return self.soc_pm


# ---- peak shaving --------------------------------------------------------------------------------
# Grid peak shaving, pure: PCS discharge setpoint that holds grid import at a leased limit.
#
# Units: power W (int, discharge positive), SOC 0.1 % (permille), temperature 0.01 degC, time ms.
# The import limit, the enable and the manual PCS request are leased Modbus setpoints: the register
# bank reverts them to their defaults when the master stops rewriting them (app/modbus_points.py),
# and the module copies them in here (limit_w, enabled, request_w). Lease expiry therefore means
# enable 0 (the configured default) and request 0, so the setpoint ramps to zero.
# Load (what the grid would import without the battery) = grid meter + battery power, so the
# PCS losses and every auxiliary load are inside it. Discharge is allowed only with the contactors
# closed, SOC known and above its floor, battery temperature in range and cooling not lost; the
# power cap follows the cooling derate. Shaving keeps the grid at the limit; below it the battery
# recharges into the headroom less the tolerance (at most charge_w, SOC below _SOC_FULL_PM), so
# that meter noise never pushes the import over the limit. With shaving off the PCS follows the
# manual request under the same permissions. Setpoint changes are ramp-limited (ramp_w_per_s)
# except the drop to zero on a lost permission, and held inside a deadband (pcs_deadband_w) so
# meter noise does not rewrite the PCS setpoint every tick. The charge power default (10 kW) bounds
# what a load step while charging costs the grid: the PCS needs charge / ramp to come back to 0,
# so a 1 s mean sees at most charge^2 / (2 ramp) = 1 kW above the limit at 50 kW/s. Integer W only: it runs in the fast tick.
_SOC_FULL_PM = const(950)


class PeakShaver:
    def __init__(self, cfg):
        g = cfg.get
        self.limit_w = g("grid_import_limit_kw", 500) * 1000  # the module copies the register
        self.enabled = False  # the leased peak_shaving_enable register (default 0) sets it
        self.max_w = g("pcs_max_kw", 100) * 1000
        self.ramp_w_per_s = g("pcs_ramp_kw_s", 50) * 1000
        self.charge_w = g("pcs_charge_kw", 10) * 1000
        self.soc_floor_pm = g("soc_floor_pct", 20) * 10
        self.t_min_cdc = g("battery_temp_min_dc", 50) * 10
        self.t_max_cdc = g("battery_temp_max_dc", 450) * 10
        self.tolerance_w = g("grid_tolerance_kw", 2) * 1000
        self.deadband_w = g("pcs_deadband_w", 500)
        self.request_w = 0
        self.setpoint_w = 0
        self.may_discharge = False
        self.active = False  # permitted to drive the PCS (its enable line)

    def step(self, dt_ms, load_w, soc_pm, batt_temp_cdc, contactors_closed, power_pct):
        """load_w: grid import + battery discharge (None when a meter failed)."""
        ok = (
            contactors_closed
            and load_w is not None
            and power_pct > 0
            and batt_temp_cdc is not None
            and self.t_min_cdc <= batt_temp_cdc <= self.t_max_cdc
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
