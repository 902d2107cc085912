"""Invariant monitors: watch every output change and every plant step, record the first
violation with its simulated time. They never raise inside the virtual board's thread; the
pytest plugin fails the test that was running (see plugin.py).

    plant = MonitoredPlant(Plant(seed=1))          # what the VirtualBoard gets
    ...
    plant.violation    # None or Violation(name, t_ms, message)

Invariants (DOMAIN.md, issue 5):
  contactor_precharge   K_POS coil commanded on while |V_pack - V_link| > min(2 % V_pack, 5 V)
  contactor_after_trip  a coil commanded on after a trip (a tripping fault seen while a coil was on,
                        then every coil off) without an operator reset (no automatic re-close);
                        precharge faults allow the documented retries (3 tries, >= 3 s apart).
                        Also a coil commanded on while a cause the firmware can see before closing
                        is active: interlock loop open, insulation fault (the IMD opens the
                        loop), leak.
  pump_dry_run          a pump commanded to run (> 5 % demand) while the level switch has read
                        open for more than 300 ms (the control tick reads it every 100 ms)
  leak_isolation        a zone's valve not commanded closed 200 ms after its leak input went 1
  grid_limit            grid import above the limit for > 2 s while the battery could discharge
  close_without_flow    a contactor coil commanded on while the coolant has not flowed at
                        >= FLOW_PROVEN_LPM for FLOW_PROVE_MS (the battery closes only with
                        coolant flow proven; the firmware's own proof is stricter)
  healthy_relay         the healthy relay (HEALTHY_RELAY, energised = healthy, de-energised =
                        alarm) energised for more than HEALTHY_GRACE_MS (two control ticks) after
                        a fault the firmware sees at once has begun: a wet leak rope (its input
                        1), or a coil-tripping fault that began while a coil was on (interlock
                        loop open, insulation fault, a contactor drop-out, the coil supply lost).
                        Faults the firmware can only see later (a weld after an opening, a
                        precharge timeout) are not judged, nor a trip cause that began before the
                        board rebooted (on_boot: the new firmware never had those coils on). The
                        plant sees pins, not whether the application runs: the relay in safe
                        boot, maintenance mode and after the application stopped is checked by
                        the L1 tests themselves.
"""

from .. import GridpodError
from ..plant import transfer as tf

LEAK_CLOSE_MS = 200
GRID_GRACE_MS = 2000
GRID_TOLERANCE_KW = 1.0
PUMP_TURNING_FRAC = 0.05
DRY_RUN_GRACE_MS = 300
FLOW_PROVEN_LPM = 20.0
FLOW_PROVE_MS = 3000
PRECHARGE_FAULTS = {
    "precharge_resistor_open",
    "precharge_too_fast",
    "precharge_current_not_decaying",
}
PRECHARGE_TRIES, PRECHARGE_RETRY_MS = 3, 3000
VISIBLE_BEFORE_CLOSE = {"interlock_open", "insulation_fault", "leak"}  # IMD: in the loop
TRIPPING_FAULTS = {
    "contactor_welded",
    "contactor_dropout",
    "aux_contact_disagree",
    "interlock_open",
    "coil_supply_lost",
    "precharge_too_fast",
    "precharge_resistor_open",
    "precharge_current_not_decaying",
    "trip_above_break_current",
    "insulation_fault",
    "leak",
}
COILS = ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL")
HEALTHY_RELAY = "HEALTHY_RELAY"
HEALTHY_GRACE_MS = 200
# Coil-tripping faults the firmware sees within a fast tick or two of their onset while a coil is
# on (the loop input, the aux contacts dropping); leaks are judged by their input, coils or not.
ALARM_AT_ONCE = {"interlock_open", "insulation_fault", "contactor_dropout", "coil_supply_lost"}


class InvariantViolation(GridpodError):
    pass


class Violation:
    def __init__(self, name: str, t_ms: int, message: str):
        self.name, self.t_ms, self.message = name, t_ms, message

    def __str__(self):
        return f"invariant {self.name} violated at t = {self.t_ms / 1000:.3f} s: {self.message}"

    __repr__ = __str__


class MonitoredPlant:
    """Wraps a plant: forwards the board interface, checks invariants, feeds trace recorders."""

    def __init__(self, plant, enabled=("all",)):
        self.plant = plant
        self.violations: list[Violation] = []
        self.enabled = set(enabled)
        self.recorders: list = []
        self._leak_since: dict[int, int] = {}
        self._grid_over_since: int | None = None
        self._tripped = False
        self._armed: set[str] = set()  # tripping faults seen while a coil was on
        self._trip_causes: set[str] = set()
        self._trips = 0
        self._last_trip_ms = 0
        self._opening_ms: int | None = None
        self._level_open_since: int | None = None
        self._flow_since: int | None = None  # coolant flowing at FLOW_PROVEN_LPM since
        self._alarm_causes: dict[str, int] = {}  # healthy_relay: cause -> onset (sim ms)
        self._faults_before: set[str] = set()

    def __getattr__(self, name):  # plant attributes (edges, outputs, faults, coolant ...)
        return getattr(self.plant, name)

    @property
    def violation(self) -> Violation | None:
        return self.violations[0] if self.violations else None

    def take_violations(self) -> list[Violation]:
        out, self.violations = self.violations, []
        return out

    def operator_reset(self) -> None:
        """The operator acknowledged the trip: closing is allowed again once causes are gone."""
        self._tripped = False
        self._armed = set()
        self._trips = 0

    def on_boot(self, now_ms: int) -> None:
        """The board (re)booted (the harness host calls it): a fault that began under the previous
        firmware instance, with its coils on, is not one the new instance can see."""
        self._alarm_causes = {k: t for k, t in self._alarm_causes.items() if k.startswith("leak")}
        self._faults_before = set(getattr(self.plant.faults, "active", ()))

    def _on(self, name: str) -> bool:
        return "all" in self.enabled or name in self.enabled

    def _violate(self, name: str, t_ms: int, message: str) -> None:
        if not any(v.name == name for v in self.violations):
            self.violations.append(Violation(name, t_ms, message))

    # ----- board interface ----------------------------------------------------------------
    def register(self, role, kind):
        return self.plant.register(role, kind)

    def read_inputs(self):
        return self.plant.read_inputs()

    def next_event_ms(self):
        return self.plant.next_event_ms()

    def apply_outputs(self, now_ms, changes):
        self.plant.apply_outputs(now_ms, changes)
        self._check_outputs(now_ms, changes)
        for r in self.recorders:
            r.on_outputs(now_ms, self.plant, changes)

    def advance(self, now_ms):
        self.plant.advance(now_ms)
        self._check_state(now_ms)
        for r in self.recorders:
            r.on_advance(now_ms, self.plant)

    # ----- invariants -----------------------------------------------------------------------
    def _check_outputs(self, now_ms, changes):
        p = self.plant
        active = set(getattr(p.faults, "active", ())) & TRIPPING_FAULTS
        closing = [r for r in COILS if changes.get(r) == 1]
        if self._on("contactor_after_trip"):
            self._check_reclose(now_ms, active, closing, changes)
        if (
            self._on("close_without_flow")
            and closing
            and not any(p.outputs.get(r, 0) for r in COILS if r not in closing)
        ):
            since = self._flow_since
            if since is None or now_ms - since < FLOW_PROVE_MS:
                flowing = 0 if since is None else now_ms - since
                self._violate(
                    "close_without_flow",
                    now_ms,
                    f"{', '.join(closing)} commanded on with coolant flow "
                    f"{p.coolant.flow_lpm:.1f} L/min, at >= {FLOW_PROVEN_LPM:.0f} L/min for "
                    f"{flowing} ms (needs {FLOW_PROVE_MS} ms: flow not proven)",
                )
        if self._on("contactor_precharge") and changes.get("K_POS_COIL") == 1:
            if not p.precharge_complete():
                v_pack, v_link = p.power.v_pack_v, p.power.v_link_v
                self._violate(
                    "contactor_precharge",
                    now_ms,
                    f"K_POS commanded closed with V_pack {v_pack:.1f} V, V_link {v_link:.1f} V "
                    f"(|diff| {abs(v_pack - v_link):.1f} V > {min(0.02 * v_pack, 5.0):.1f} V: "
                    "precharge incomplete)",
                )

    def _check_reclose(self, now_ms, active, closing, changes):
        p = self.plant
        any_on = any(p.outputs.get(r, 0) for r in COILS)
        if closing and self._tripped:
            retry = (
                self._trip_causes <= PRECHARGE_FAULTS
                and self._trips < PRECHARGE_TRIES
                and now_ms - self._last_trip_ms >= PRECHARGE_RETRY_MS
            )
            if retry:
                self._tripped = False  # a documented precharge retry
            else:
                self._violate(
                    "contactor_after_trip",
                    now_ms,
                    f"{', '.join(closing)} commanded on after a trip (faults seen: "
                    f"{', '.join(sorted(self._trip_causes)) or 'cleared'}) "
                    "without an operator reset",
                )
        if closing and active & VISIBLE_BEFORE_CLOSE:
            self._violate(
                "contactor_after_trip",
                now_ms,
                f"{', '.join(closing)} commanded on while "
                f"{', '.join(sorted(active & VISIBLE_BEFORE_CLOSE))} is active",
            )
        opening = any(changes.get(r) == 0 for r in COILS)
        if self._armed and opening and self._opening_ms is None:
            self._opening_ms = now_ms  # the trip's first pole: retries count from here
        if any_on:
            self._armed |= active
        elif self._armed:  # every coil off after a tripping fault was seen: that was a trip
            self._tripped = True
            self._trip_causes = set(self._armed)
            self._armed = set()
            self._trips += 1
            self._last_trip_ms = now_ms if self._opening_ms is None else self._opening_ms
            self._opening_ms = None

    def _check_state(self, now_ms):
        p = self.plant
        if p.coolant.flow_lpm < FLOW_PROVEN_LPM:
            self._flow_since = None
        elif self._flow_since is None:
            self._flow_since = now_ms
        if any(p.outputs.get(r, 0) for r in COILS):
            self._armed |= set(getattr(p.faults, "active", ())) & TRIPPING_FAULTS
        level_open = not p.read_inputs().get("LEVEL_OK", 1)
        if not level_open:
            self._level_open_since = None
        elif self._level_open_since is None:
            self._level_open_since = now_ms
        if self._on("pump_dry_run") and level_open:
            turning = [
                k
                for k in (1, 2)
                if tf.pwm_demand_frac(p.outputs.get(f"PUMP{k}_PWM")) > PUMP_TURNING_FRAC
                and p.coolant.pumps[k - 1].speed_frac > PUMP_TURNING_FRAC
            ]
            if turning and now_ms - self._level_open_since > DRY_RUN_GRACE_MS:
                self._violate(
                    "pump_dry_run",
                    now_ms,
                    f"pump {turning} commanded to run "
                    f"{now_ms - self._level_open_since} ms after the "
                    "level switch opened (dry run)",
                )
        if self._on("leak_isolation"):
            inputs = p.read_inputs()
            for k in (1, 2):
                if inputs.get(f"LEAK_ZONE{k}"):
                    since = self._leak_since.setdefault(k, now_ms)
                    if now_ms - since > LEAK_CLOSE_MS and not p.outputs.get(f"ZONE{k}_VALVE", 0):
                        self._violate(
                            "leak_isolation",
                            now_ms,
                            f"zone {k} valve still open {now_ms - since} ms after its leak input "
                            f"(limit {LEAK_CLOSE_MS} ms)",
                        )
                else:
                    self._leak_since.pop(k, None)
        if self._on("healthy_relay"):
            self._check_healthy_relay(now_ms)
        if self._on("grid_limit"):
            over = p.grid_import_kw > p.grid_limit_kw + GRID_TOLERANCE_KW
            if over and p.power.battery_can_discharge():
                if self._grid_over_since is None:
                    self._grid_over_since = now_ms
                elif now_ms - self._grid_over_since > GRID_GRACE_MS:
                    self._violate(
                        "grid_limit",
                        now_ms,
                        f"grid import {p.grid_import_kw:.1f} kW above the {p.grid_limit_kw:.1f} kW "
                        f"limit for {now_ms - self._grid_over_since} ms while the battery could "
                        f"discharge (PCS at {p.power.pcs_kw:.1f} kW)",
                    )
            else:
                self._grid_over_since = None

    def _check_healthy_relay(self, now_ms):
        p = self.plant
        causes = self._alarm_causes
        active = set(getattr(p.faults, "active", ()))
        if any(p.outputs.get(r, 0) for r in COILS):
            for name in (active & ALARM_AT_ONCE) - self._faults_before:
                causes[name] = now_ms  # began while a coil was on: the firmware trips on it
        self._faults_before = active
        inputs = p.read_inputs()
        for k in (1, 2):
            if inputs.get(f"LEAK_ZONE{k}"):
                causes.setdefault(f"leak zone {k}", now_ms)
            else:
                causes.pop(f"leak zone {k}", None)
        for name in [n for n in causes if not n.startswith("leak") and n not in active]:
            del causes[name]
        if p.outputs.get(HEALTHY_RELAY) != 1 or not causes:
            return
        name = min(causes, key=causes.get)
        if now_ms - causes[name] > HEALTHY_GRACE_MS:
            self._violate(
                "healthy_relay",
                now_ms,
                f"healthy relay energised (healthy) {now_ms - causes[name]} ms after {name} "
                f"began (limit {HEALTHY_GRACE_MS} ms): the alarm is silent",
            )
