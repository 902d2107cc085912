"""Plant: the composite the virtual board calls (register / apply_outputs / advance /
read_inputs / next_event_ms), built from coolant.Coolant, power.Power, a load profile, the
sensor layer (sensors.SensorBank) and the fault injector.

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
from .sensors import LEAK_SUP_COUNTS, SensorBank

STEP_MS = 10
SLOW_MS = 100
HIGH_BY_DEFAULT = ("LEVEL_OK", "INTERLOCK_LOOP")
# Plain outputs: the plant records them (outputs, edges) for traces and the invariant monitors
# (hil/monitors.py reads FAULT_LAMP: 1 while a fatal fault is active); no physics hangs on them.
INDICATORS = ("STATUS_LED", "HEALTHY_RELAY", "FAULT_LAMP")
_ZONE_ROLES = tuple(
    (f"ZONE{k}_VALVE_OPEN_LS", f"ZONE{k}_VALVE_CLOSED_LS", f"LEAK_ZONE{k}", f"LEAK_ZONE{k}_SUP")
    for k in (1, 2)
)


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
        self.input_events: list[tuple[int, str, int | None]] = []  # schedule_input()
        self._fine_until_ms = 0  # fine (STEP_MS) power steps until then: a fault just changed it
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
            if self.power.is_active() or t < self._fine_until_ms:
                nxt = (t // STEP_MS + 1) * STEP_MS
            else:
                nxt = (t // SLOW_MS + 1) * SLOW_MS
            ev = self._next_event()
            if ev is not None and t < ev < nxt:
                nxt = ev
            nxt = min(nxt, now_ms)
            self.power.step((nxt - t) / 1000.0)
            self.now_ms = nxt
            if nxt % SLOW_MS == 0:
                self._slow_step()
            events = len(self.faults.log) + len(self.input_events)
            self.faults.due(nxt)
            self._inputs_due(nxt)
            if len(self.faults.log) + len(self.input_events) != events:
                # a fault (a new load, a seized pump) acts from its own step, not from the end
                # of a 100 ms chunk: the power model steps finely for one slow step
                self._fine_until_ms = nxt + SLOW_MS
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

    def watched_inputs(self) -> tuple[int, int, int]:
        """(LEVEL_OK, LEAK_ZONE1, LEAK_ZONE2) as read_inputs() has them, without scanning every
        sensor: the invariant monitors read these at every plant step, the board's scan is
        needed once per exchange only. A full scan still runs while a sensor fault or a broken
        tach waits for one (a stuck sensor keeps, a broken tach freezes at, its first scan's
        value), so every scan that changes state happens when it did before."""
        if self._inputs is not None or self._scan_has_effects():
            v = self.read_inputs()
            return v["LEVEL_OK"], v["LEAK_ZONE1"], v["LEAK_ZONE2"]
        level, leak1, leak2 = int(self.coolant.level_ok), self._leak_input(0), self._leak_input(1)
        o = self.overrides
        if o:
            level = o.get("LEVEL_OK", level)
            leak1 = o.get("LEAK_ZONE1", leak1)
            leak2 = o.get("LEAK_ZONE2", leak2)
        return level, leak1, leak2

    def _scan_has_effects(self) -> bool:
        """A scan would change sensor state: a faulted sensor (a stuck value is taken at its
        first scan), a broken tach (frozen at its first scan) or one to unfreeze."""
        if self.sensors.faults:
            return True
        return any(t.broken or t.frozen is not None for t in self.sensors.tachs)

    def _leak_input(self, k: int) -> int:
        return int(self.leak_sensed[k] and self.leak_cable_ok[k])

    def next_event_ms(self) -> int | None:
        if self.power.is_active() or self.now_ms < self._fine_until_ms:
            return self.now_ms + STEP_MS
        return self._next_event()

    def _next_event(self) -> int | None:
        times = [t for t in (self.faults.next_event_ms(),) if t is not None]
        times += [t for t, _r, _v in self.input_events]
        return min(times) if times else None

    def _inputs_due(self, now_ms: int) -> None:
        for event in [e for e in self.input_events if e[0] <= now_ms]:
            self.input_events.remove(event)
            _t, role, value = event
            if value is None:
                self.overrides.pop(role, None)
            else:
                self.overrides[role] = value

    def schedule_input(self, role: str, value: int | None, at_ms: int) -> int:
        """Force an input (None: release it) from at_ms on, an exact simulated time like a
        scheduled fault (a calibrator on the terminals); returns when it takes effect."""
        at_ms = max(at_ms, self.now_ms)
        if at_ms == self.now_ms:
            self.input_events.append((at_ms, role, value))
            self._inputs_due(at_ms)
            self._inputs = None
        else:
            self.input_events.append((at_ms, role, value))
        return at_ms

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
            v[leak] = sensed = self._leak_input(k)
            sup = 0.2 if sensed else 0.5
            v[leak_sup] = LEAK_SUP_COUNTS[sup if self.leak_cable_ok[k] else 1.0]
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
