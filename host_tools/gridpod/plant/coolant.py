"""Coolant loop of a module's CDU: two pumps, filter, two zones with isolation valves, a
three-way mixing valve into the facility-water heat exchanger, reservoir and expansion vessel.

Units: flow L/min, pressure bar (gauge), temperature degC, heat W, volume L, time s.
Hydraulics (quasi-static, solved every step): each pump's head follows the affinity law
  head_bar = PUMP_SHUTOFF_BAR * s**2 - PUMP_K * q**2     (s = speed fraction, check valve: q >= 0)
pumps in parallel against the system curve dp = R_sys * q**2, R_sys = piping + filter + zones.
Thermal (two lumped nodes, explicit, energy-exact bookkeeping):
  hot node  (cold plates + return leg)  C_hot  dT_hot/dt  = Q_it + m*cp*(T_sup - T_hot)
  cold node (reservoir + supply leg)    C_cold dT_sup/dt  = m*cp*(T_hot - T_sup) - Q_hx + Q_pump
  Q_hx = m*cp * eps * (T_hot - T_fw), eps = 1 - exp(-UA*mix/(m*cp)) (the HX sits on the return).
Pump electrical power (affinity, s**3) all ends up in the coolant. No losses to ambient.
Pressure taps: P_RETURN at the return header (expansion vessel), P_SUPPLY at the supply header,
so P_SUPPLY - P_RETURN is the differential pressure across the zones.
"""

import math

CP_J_PER_KG_K = 3800.0  # 25 % propylene glycol
RHO_KG_PER_L = 1.02
PUMP_SHUTOFF_BAR = 3.0
PUMP_K_BAR_PER_LPM2 = 9.26e-5
PUMP_RATED_W = 1500.0
PUMP_MAX_RPM = 3000.0
PUMP_SPEED_TAU_S = 1.0
R_PIPING = 6.57e-5  # bar / (L/min)^2
R_FILTER_CLEAN = 2.0e-5
R_ZONE = 1.2e-4  # one zone fully open
BYPASS_FRACTION = 0.1  # fixed min-flow bypass, as a fraction of one zone's conductance
ZONE_TRAVEL_S = 6.0
MIX_TRAVEL_S = 30.0
C_HOT_J_PER_K = 330e3
C_COLD_J_PER_K = 580e3
HX_UA_W_PER_K = 12e3
FACILITY_WATER_C = 18.0
VOLUME_NOMINAL_L = 60.0
LEVEL_LOW_L = 20.0
FILL_PRESSURE_BAR = 1.5
MAKEUP_START_BAR, MAKEUP_STOP_BAR, MAKEUP_LPM = 1.0, 1.4, 5.0
START_TEMP_C = 25.0


class Pump:
    def __init__(self):
        self.speed_frac = 0.0
        self.revs = 0.0
        self.flow_lpm = 0.0
        self.seized = False
        self.head_factor = 1.0  # < 1: air lock / cavitation, 0: broken impeller (spins, no flow)
        self.overspeed = 1.0
        self.pwm_wire_broken = False

    def step(self, dt_s: float, demand_frac: float) -> None:
        target = 0.0 if self.seized else min(1.3, demand_frac * self.overspeed)
        if self.seized:
            self.speed_frac = 0.0
        else:
            self.speed_frac += (target - self.speed_frac) * (
                1.0 - math.exp(-dt_s / PUMP_SPEED_TAU_S)
            )
        self.revs += self.speed_frac * PUMP_MAX_RPM / 60.0 * dt_s

    def shutoff_bar(self) -> float:
        return PUMP_SHUTOFF_BAR * self.head_factor * self.speed_frac**2

    def flow_at(self, dp_bar: float) -> float:
        h = self.shutoff_bar() - dp_bar
        return math.sqrt(h / PUMP_K_BAR_PER_LPM2) if h > 0 else 0.0

    @property
    def power_w(self) -> float:
        return PUMP_RATED_W * self.speed_frac**3


def _bisect_head(s1: float, s2: float, r_sys: float, hi: float) -> float:
    """The common head (bar) of two pumps in parallel (shut-off heads s1, s2) against the
    system curve: 40 bisection steps, the arithmetic of sum(Pump.flow_at(dp)) inlined (the plant
    solves this at every 100 ms step; same operations, same bits)."""
    sqrt = math.sqrt
    k = PUMP_K_BAR_PER_LPM2
    lo = 0.0
    for _ in range(40):  # pumps' flow = system flow
        dp = 0.5 * (lo + hi)
        h1 = s1 - dp
        h2 = s2 - dp
        q = (sqrt(h1 / k) if h1 > 0 else 0.0) + (sqrt(h2 / k) if h2 > 0 else 0.0)
        if q > sqrt(dp / r_sys):
            lo = dp
        else:
            hi = dp
    return 0.5 * (lo + hi)


class TravelValve:
    """A valve with a position 0..1 that travels at a fixed rate to its demand."""

    def __init__(self, position: float, travel_s: float):
        self.position = position
        self.travel_s = travel_s
        self.stuck = False
        self.command_lost = False
        self.demand = position

    def step(self, dt_s: float, demand: float) -> None:
        if not self.command_lost:
            self.demand = demand
        if self.stuck:
            return
        step = dt_s / self.travel_s
        delta = self.demand - self.position
        self.position += max(-step, min(step, delta))


class Coolant:
    def __init__(self):
        self.pumps = [Pump(), Pump()]
        self.zones = [TravelValve(1.0, ZONE_TRAVEL_S), TravelValve(1.0, ZONE_TRAVEL_S)]
        self.mix = TravelValve(1.0, MIX_TRAVEL_S)
        self.t_hot_c = START_TEMP_C
        self.t_supply_c = START_TEMP_C
        self.facility_water_c = FACILITY_WATER_C
        self.dew_point_c = 14.0
        self.filter_clog = 1.0  # multiplies the clean filter resistance
        self.piping_factor = 1.0  # > 1: partial blockage (low flow)
        self.volume_l = VOLUME_NOMINAL_L
        self.leak_lpm = [0.0, 0.0]  # per zone, while its valve is open
        self.hidden_leak_lpm = 0.0  # system pressure loss (make-ups)
        self.pressure_offset_bar = 0.0  # over-pressure (failed expansion vessel)
        self.makeup_enabled = True
        self.makeup_active = False
        self.makeups = 0
        self.flow_lpm = 0.0
        self.flow_litres = 0.0
        self.dp_zones_bar = 0.0
        self.dp_filter_bar = 0.0
        self.q_hx_w = 0.0
        self.energy_in_j = 0.0  # IT heat + pump heat put into the coolant
        self.energy_out_j = 0.0  # heat removed by the heat exchanger

    # ----- hydraulics -----------------------------------------------------------------------
    def zone_conductance(self) -> float:
        c1 = 1.0 / math.sqrt(R_ZONE)
        return c1 * (sum(z.position for z in self.zones) + BYPASS_FRACTION)

    def system_resistance(self) -> float:
        return (
            R_PIPING * self.piping_factor
            + R_FILTER_CLEAN * self.filter_clog
            + 1.0 / self.zone_conductance() ** 2
        )

    def solve_flow(self) -> None:
        r_sys = self.system_resistance()
        key = (r_sys, *(p.shutoff_bar() for p in self.pumps))
        if key == getattr(self, "_solved", None):
            return  # pumps and valves settled: same operating point
        self._solved = key
        hi = max(key[1:])
        if hi <= 0.0:
            dp = 0.0
        else:
            dp = _bisect_head(key[1], key[2], r_sys, hi)
        for p in self.pumps:
            p.flow_lpm = p.flow_at(dp)
        self.flow_lpm = sum(p.flow_lpm for p in self.pumps)
        q2 = self.flow_lpm**2
        self.dp_zones_bar = q2 / self.zone_conductance() ** 2
        self.dp_filter_bar = R_FILTER_CLEAN * self.filter_clog * q2

    @property
    def return_pressure_bar(self) -> float:
        return FILL_PRESSURE_BAR * self.volume_l / VOLUME_NOMINAL_L + self.pressure_offset_bar

    @property
    def supply_pressure_bar(self) -> float:
        return self.return_pressure_bar + self.dp_zones_bar

    @property
    def level_ok(self) -> bool:
        return self.volume_l > LEVEL_LOW_L

    # ----- step -----------------------------------------------------------------------------
    def step(self, dt_s: float, it_heat_w: float, pump_demand, zone_close, mix_demand) -> None:
        for pump, demand in zip(self.pumps, pump_demand, strict=True):
            pump.step(dt_s, 1.0 if pump.pwm_wire_broken else demand)
        for valve, close in zip(self.zones, zone_close, strict=True):
            valve.step(dt_s, 0.0 if close else 1.0)
        self.mix.step(dt_s, mix_demand)
        self.solve_flow()
        self.flow_litres += self.flow_lpm * dt_s / 60.0
        self._step_volume(dt_s)
        self._step_thermal(dt_s, it_heat_w)

    def _step_volume(self, dt_s: float) -> None:
        lost = self.hidden_leak_lpm + sum(
            r * z.position for r, z in zip(self.leak_lpm, self.zones, strict=True)
        )
        self.volume_l = max(0.0, self.volume_l - lost * dt_s / 60.0)
        p = self.return_pressure_bar - self.pressure_offset_bar
        if self.makeup_enabled and not self.makeup_active and p < MAKEUP_START_BAR:
            self.makeup_active = True
            self.makeups += 1
        if self.makeup_active:
            self.volume_l += MAKEUP_LPM * dt_s / 60.0
            if p >= MAKEUP_STOP_BAR or not self.makeup_enabled:
                self.makeup_active = False

    def _step_thermal(self, dt_s: float, it_heat_w: float) -> None:
        m_cp = self.flow_lpm / 60.0 * RHO_KG_PER_L * CP_J_PER_KG_K  # W/K
        ua = HX_UA_W_PER_K * self.mix.position
        eps = 1.0 - math.exp(-ua / m_cp) if m_cp > 0 else 0.0
        q_hx = m_cp * eps * (self.t_hot_c - self.facility_water_c)
        q_pump = sum(p.power_w for p in self.pumps)
        transport = m_cp * (self.t_hot_c - self.t_supply_c)
        self.t_hot_c += (it_heat_w - transport) * dt_s / C_HOT_J_PER_K
        self.t_supply_c += (transport - q_hx + q_pump) * dt_s / C_COLD_J_PER_K
        self.q_hx_w = q_hx
        self.energy_in_j += (it_heat_w + q_pump) * dt_s
        self.energy_out_j += q_hx * dt_s

    def stored_energy_j(self) -> float:
        """Heat stored relative to 0 degC (the energy-balance test compares its change)."""
        return C_HOT_J_PER_K * self.t_hot_c + C_COLD_J_PER_K * self.t_supply_c

    @property
    def return_temp_c(self) -> float:
        return self.t_hot_c

    @property
    def cooling_power_w(self) -> float:
        return sum(p.power_w for p in self.pumps)
