"""Plant: the composite the virtual board calls (register / apply_outputs / advance /
read_inputs / next_event_ms), built from coolant.Coolant, power.Power, a load profile, the
sensor layer below and the fault injector.

Stepping: the clock is integer ms. Power steps every STEP_MS while it is active (a contactor
moving, a precharge transient) and otherwise in one exact-exponential chunk up to the next
SLOW_MS boundary; the coolant, the load and the sensor noise step on SLOW_MS boundaries only.
Same seed and same calls -> bit-identical results (random.Random(seed) only).
"""

import random

from . import transfer as tf
from .coolant import Coolant
from .faults import FaultInjector, LinkFaults
from .load_profiles import make_profile
from .power import Power

STEP_MS = 10
SLOW_MS = 100
ANALOG_NOISE = {  # 1-sigma, physical units
    "ntc": 0.05,
    "pressure_4_20": 0.005,
    "hv_divider": 0.5,
    "current_shunt": 0.2,
    "valve_feedback": 0.2,
    "power_4_20": 0.1,
    "dp_4_20": 0.002,
    "dew_4_20": 0.05,
}
BATTERY_ABOVE_SUPPLY_K = 3.0  # the pack's cold plate sits on the coolant supply
HIGH_BY_DEFAULT = ("LEVEL_OK", "INTERLOCK_LOOP")
_ZONE_ROLES = tuple(
    (f"ZONE{k}_VALVE_OPEN_LS", f"ZONE{k}_VALVE_CLOSED_LS", f"LEAK_ZONE{k}", f"LEAK_ZONE{k}_SUP")
    for k in (1, 2)
)
# leak rope supervision voltage (fraction of Vref): 0.2 leak, 0.5 healthy, 1.0 cable broken
_LEAK_SUP_COUNTS = {f: tf.volts_to_counts(tf.ADC_VREF_V * f) for f in (0.2, 0.5, 1.0)}


class Tach:
    def __init__(self):
        self.broken = False
        self.frozen: int | None = None


class SensorBank:
    """Physical values -> what the board reads, with noise and wiring faults."""

    analog_roles = tuple(r for r, (kind, _) in tf.TRANSFER_TABLE.items() if kind in ANALOG_NOISE)

    def __init__(self, plant, noise: bool):
        self.plant = plant
        self.noise_on = noise
        self.noise = dict.fromkeys(self.analog_roles, 0.0)
        self.faults: dict[str, tuple[str, dict]] = {}
        self.tachs = [Tach(), Tach()]
        self.mix_fb_offset_pct = 0.0
        self._last_counts: dict[str, tuple[float, int]] = {}  # role -> (value, counts)

    def tach(self, pump: int = 1) -> Tach:
        if pump not in (1, 2):
            from .faults import FaultError

            raise FaultError(f"pump must be 1 or 2, not {pump!r}")
        return self.tachs[pump - 1]

    def draw_noise(self, rng: random.Random) -> None:
        if self.noise_on:
            for role in self.analog_roles:
                self.noise[role] = rng.gauss(0.0, ANALOG_NOISE[tf.TRANSFER_TABLE[role][0]])

    def physical(self, role: str) -> float:
        return self.physical_values()[role]

    def physical_values(self) -> dict[str, float]:
        """Every analog role's physical value, each model property evaluated once."""
        c, p = self.plant.coolant, self.plant.power
        t_supply = c.t_supply_c
        return {
            "T_SUPPLY1": t_supply,
            "T_SUPPLY2": t_supply,
            "T_SUPPLY3": t_supply,
            "T_RETURN": c.return_temp_c,
            "P_SUPPLY": c.supply_pressure_bar,
            "P_RETURN": c.return_pressure_bar,
            "V_PACK": p.v_pack_v,
            "V_LINK": p.v_link_v,
            "I_PACK": p.i_pack_a,
            "MIX_VALVE_FB": c.mix.position * 100.0 + self.mix_fb_offset_pct,
            "T_BATTERY": t_supply + BATTERY_ABOVE_SUPPLY_K,
            "IT_KW": self.plant.it_kw,
            "GRID_KW": self.plant.grid_import_kw,
            "FILTER_DP": c.dp_filter_bar,
            "DEW_POINT": c.dew_point_c,
        }

    def clean_counts(self, role: str, value: float) -> int:
        kind = tf.TRANSFER_TABLE[role][0]
        if kind == "ntc":
            return tf.ntc_counts(value)
        if kind == "pressure_4_20":
            return tf.pressure_counts(value)
        if kind == "hv_divider":
            return tf.hv_counts(value)
        if kind == "current_shunt":
            return tf.current_counts(value)
        if kind == "power_4_20":
            return tf.power_counts(value)
        if kind == "dp_4_20":
            return tf.span_counts(value, 0.0, tf.FILTER_DP_RANGE_BAR)
        if kind == "dew_4_20":
            return tf.span_counts(value, tf.DEW_MIN_C, tf.DEW_MAX_C)
        return tf.valve_fb_counts(value)

    def analog_counts(self, phys: dict[str, float]) -> dict[str, int]:
        """counts() of every analog role. A clean role whose value (physical + noise) is the
        one of the last scan keeps its counts: the transfer functions are pure, and the supervisor
        scans twice per exchange (before and after the tick's short power step)."""
        out = {}
        noise, faults, last = self.noise, self.faults, self._last_counts
        for role in self.analog_roles:
            if role in faults:
                out[role] = self.counts(role, phys[role])
                continue
            value = phys[role] + noise[role]
            hit = last.get(role)
            if hit is not None and hit[0] == value:
                out[role] = hit[1]
            else:
                out[role] = last_counts = self.clean_counts(role, value)
                last[role] = (value, last_counts)
        return out

    def counts(self, role: str, physical: float | None = None) -> int:
        fault = self.faults.get(role)
        value = (self.physical(role) if physical is None else physical) + self.noise[role]
        if fault is None:
            return self.clean_counts(role, value)
        mode, extra = fault
        if mode == "open":
            return tf.ADC_FULL_SCALE
        if mode == "short":
            return 0
        if mode == "ma":
            return tf.ma_counts(extra["i_ma"])
        if mode == "offset":
            return self.clean_counts(role, value + extra["offset"])
        if "value" not in extra:  # stuck / stale: the value at the moment of the fault
            extra["value"] = self.clean_counts(role, value)
        return extra["value"]

    def tach_count(self, pump_index: int) -> int:
        t = self.tachs[pump_index]
        live = int(self.plant.coolant.pumps[pump_index].revs * tf.TACH_PULSES_PER_REV)
        if not t.broken:
            t.frozen = None
            return live
        if t.frozen is None:
            t.frozen = live
        return t.frozen


class Plant:
    def __init__(
        self, seed: int = 0, profile: str = "training", grid_limit_kw: float = 90.0, noise=True
    ):
        self.seed = seed
        self.rng = random.Random(seed)
        self.coolant = Coolant()
        self.power = Power()
        self.load = make_profile(profile, seed)
        self.link = LinkFaults(seed)
        self.sensors = SensorBank(self, noise)
        self.faults = FaultInjector(self)
        self.bench_hooks: dict = {}
        self.grid_limit_kw = grid_limit_kw
        self.leak_sensed = [False, False]
        self.leak_cable_ok = [True, True]
        self.both_limit_switches = [False, False]
        self.outputs: dict[str, int] = {}
        self.edges: dict[str, list[tuple[int, int]]] = {}
        self.registered: dict[str, str] = {}
        self.overrides: dict[str, int] = {}
        self.now_ms = 0
        self.it_kw = self.load.it_kw(0.0)
        self._inputs: dict[str, int] | None = None
        self.coolant.solve_flow()

    # ----- the virtual board's interface ------------------------------------------------------
    def register(self, role: str, kind: str) -> int:
        self.registered[role] = kind
        return self.read_inputs().get(role, 0)

    def apply_outputs(self, now_ms: int, changes: dict[str, int]) -> None:
        self.advance(now_ms)
        for role, value in changes.items():
            if self.outputs.get(role) != value:
                self.edges.setdefault(role, []).append((now_ms, value))
            self.outputs[role] = value
        p = self.power
        p.k_neg.coil_cmd = self.outputs.get("K_NEG_COIL", 0)
        p.k_pre.coil_cmd = self.outputs.get("K_PRE_COIL", 0)
        p.k_pos.coil_cmd = self.outputs.get("K_POS_COIL", 0)
        enabled = self.outputs.get("PCS_ENABLE", 0)
        p.pcs_setpoint_kw = tf.pcs_duty_kw(self.outputs.get("PCS_PWM")) if enabled else 0.0
        # No input cache reset here: a coil command moves a contact (and its aux input) only
        # when advance() steps the power model, which resets the cache itself.

    def advance(self, now_ms: int) -> None:
        while self.now_ms < now_ms:
            t = self.now_ms
            if self.power.is_active():
                nxt = (t // STEP_MS + 1) * STEP_MS
            else:
                nxt = (t // SLOW_MS + 1) * SLOW_MS
            ev = self.faults.next_event_ms()
            if ev is not None and t < ev < nxt:
                nxt = ev
            nxt = min(nxt, now_ms)
            self.power.step((nxt - t) / 1000.0)
            self.now_ms = nxt
            if nxt % SLOW_MS == 0:
                self._slow_step()
            self.faults.due(nxt)
            self._inputs = None

    def _slow_step(self) -> None:
        dt_s = SLOW_MS / 1000.0
        self.it_kw = self.load.it_kw(self.now_ms / 1000.0)
        out = self.outputs
        demand = [
            tf.pwm_demand_frac(out.get("PUMP1_PWM")),
            tf.pwm_demand_frac(out.get("PUMP2_PWM")),
        ]
        close = [bool(out.get("ZONE1_VALVE", 0)), bool(out.get("ZONE2_VALVE", 0))]
        mix = tf.pwm_demand_frac(out.get("MIX_VALVE_PWM"))
        self.coolant.step(dt_s, self.it_kw * 1000.0, demand, close, mix)
        self.sensors.draw_noise(self.rng)

    def read_inputs(self) -> dict[str, int]:
        if self._inputs is None:
            self._inputs = self._compute_inputs()
        return self._inputs

    def next_event_ms(self) -> int | None:
        if self.power.is_active():
            return self.now_ms + STEP_MS
        return self.faults.next_event_ms()

    def set_input(self, role: str, value: int) -> None:
        """Force an input (overrides the model until clear_input)."""
        self.overrides[role] = value
        self._inputs = None

    def clear_input(self, role: str) -> None:
        self.overrides.pop(role, None)
        self._inputs = None

    # ----- what the board sees ----------------------------------------------------------------
    def _compute_inputs(self) -> dict[str, int]:
        c, p, s = self.coolant, self.power, self.sensors
        v = s.analog_counts(s.physical_values())
        v["PUMP1_TACH"] = s.tach_count(0)
        v["PUMP2_TACH"] = s.tach_count(1)
        v["FLOW_PULSE"] = int(c.flow_litres * tf.FLOW_PULSES_PER_L)
        for k, zone in enumerate(c.zones):
            open_ls, closed_ls, leak, leak_sup = _ZONE_ROLES[k]
            both = self.both_limit_switches[k]
            v[open_ls] = int(zone.position >= 0.98 or both)
            v[closed_ls] = int(zone.position <= 0.02 or both)
            sensed = self.leak_sensed[k] and self.leak_cable_ok[k]
            v[leak] = int(sensed)
            sup = 0.2 if sensed else 0.5
            v[leak_sup] = _LEAK_SUP_COUNTS[sup if self.leak_cable_ok[k] else 1.0]
        v["LEVEL_OK"] = int(c.level_ok)
        v["INTERLOCK_LOOP"] = int(p.loop_closed)
        for k in p.contactors:
            v[k.name + "_AUX"] = k.aux
        v["SAFE_MODE_BUTTON"] = 0
        v.update(self.overrides)
        return v

    # ----- observation (traces, monitors, tests) ----------------------------------------------
    @property
    def cooling_kw(self) -> float:
        return self.coolant.cooling_power_w / 1000.0

    @property
    def grid_import_kw(self) -> float:
        return self.it_kw + self.cooling_kw - self.power.pcs_kw

    def precharge_complete(self) -> bool:
        """DOMAIN.md: |V_pack - V_link| <= min(2 % of V_pack, 5 V)."""
        v_pack = self.power.v_pack_v
        return abs(v_pack - self.power.v_link_v) <= min(0.02 * v_pack, 5.0)

    def signals(self) -> dict[str, float]:
        c, p = self.coolant, self.power
        return {
            "it_kw": self.it_kw,
            "grid_import_kw": self.grid_import_kw,
            "pcs_kw": p.pcs_kw,
            "flow_lpm": c.flow_lpm,
            "t_supply_c": c.t_supply_c,
            "t_return_c": c.return_temp_c,
            "dp_zones_bar": c.dp_zones_bar,
            "p_supply_bar": c.supply_pressure_bar,
            "p_return_bar": c.return_pressure_bar,
            "volume_l": c.volume_l,
            "pump1_speed_pct": c.pumps[0].speed_frac * 100.0,
            "pump2_speed_pct": c.pumps[1].speed_frac * 100.0,
            "mix_valve_pct": c.mix.position * 100.0,
            "zone1_valve_pct": c.zones[0].position * 100.0,
            "zone2_valve_pct": c.zones[1].position * 100.0,
            "v_pack_v": p.v_pack_v,
            "v_link_v": p.v_link_v,
            "i_pack_a": p.i_pack_a,
            "soc_pct": p.soc * 100.0,
            "pcs_setpoint_kw": p.pcs_setpoint_kw,
        }
