"""Invariant monitors: watch every output change and every plant step, record the first
violation with its simulated time. They never raise inside the virtual board's thread; the
pytest plugin fails the test that was running (see plugin.py).

    plant = MonitoredPlant(Plant(seed=1))          # what the VirtualBoard gets
    ...
    plant.violation    # None or Violation(name, t_ms, message)

The monitors see only the plant side: the outputs the firmware drives and the plant's state
(physics, injected faults). The firmware's own fatal state is the FAULT_LAMP output (front-panel
lamp, 1 while a fatal fault is active; app/outputs.py drives it in the same fast tick as the
coils), as a real module shows it.

Invariants (DOMAIN.md, issues 5 and 12):
  contactor_precharge   K_POS coil commanded on while |V_pack - V_link| > min(2 % V_pack, 5 V)
  contactor_after_trip  a coil commanded on after a trip (a tripping plant fault, or FAULT_LAMP,
                        seen while a coil was on, then every coil off) without an operator reset
                        (operator_reset(): no automatic re-close); precharge faults allow the
                        documented retries (3 tries, >= 3 s apart). Tripping plant faults:
                        TRIPPING_FAULTS (contactor, loop, insulation, leak, and the cooling ones
                        behind COOLING_LOST and PRESSURE / RESERVOIR_LOW). FAULT_LAMP arms it
                        for the trips only the firmware sees (TASK_ERROR, TICK_OVERRUN, a
                        COOLING_LOST from two separate pump faults, ...). Also a coil commanded on
                        while a cause the firmware can see before closing is active: interlock
                        loop open, insulation fault (the IMD opens the loop), leak.
  pump_dry_run          a pump commanded to run (> 5 % demand) while the level switch has read
                        open for more than 300 ms (the control tick reads it every 100 ms)
  leak_isolation        a zone's valve not commanded closed 200 ms after its leak input went 1
  grid_limit            grid import above the limit for > 2 s while the battery could discharge
  close_without_flow    a contactor coil commanded on while the coolant has not flowed at
                        >= FLOW_PROVEN_LPM for FLOW_PROVE_MS (the battery closes only with
                        coolant flow proven; the firmware's own proof is stricter)
  fatal_coil_off        FAULT_LAMP on (a fatal fault, firmware-only trips included) and: a coil
                        commanded on; or K_PRE / K_POS (the breaking coils) still on one fast tick
                        (FAST_TICK_MS) after the lamp lit, or, above the break rating, after the
                        break wait (BREAK_WAIT_MS + a tick); or K_NEG still on the pole gap and a
                        tick (POLE_GAP_MS + FAST_TICK_MS) after the breaking coils went off
                        (DOMAIN.md: fatal fault -> coil command removed within 1 fast tick; the
                        opening order and the break-current rule are its documented exceptions)
  failure_to_trip       a coil-tripping plant fault (TRIP_DETECT_MS: the loop, insulation, coil
                        supply, a main's drop-out, aux disagree, leak, over-pressure, reservoir
                        low, both pumps failed) in effect while the battery is connected, and a
                        coil still on TRIP_DETECT_MS[fault] + OPEN_MS after the later of the
                        fault and the connection (the firmware's detection: sample + debounce of
                        DOMAIN.md / config; then the ordered opening); + BREAK_WAIT_MS when the
                        pack current was above the break rating meanwhile. A firmware that
                        ignores a fault fails here (contactor_after_trip only sees a trip).
  pcs_enable            PCS_ENABLE on for more than PCS_GRACE_MS (two control ticks) while the
                        battery's main contacts are open, or while the PCS is commanded to
                        discharge (> PCS_DISCHARGE_KW) with the SOC below its floor (SOC_FLOOR,
                        less SOC_TOLERANCE for the firmware's estimate) or the battery temperature
                        outside BATTERY_TEMP_RANGE_C (+- BATTERY_TEMP_TOLERANCE_K) (DOMAIN.md
                        "Peak shaving": discharge only with the contactors closed, SOC above its
                        floor, temperature in range)
  pump_over_pressure    a pump commanded to run (> 5 % demand, driven by the firmware) while the
                        supply pressure is above SUPPLY_PRESSURE_MAX_BAR (+ the transmitter
                        tolerance) for more than OVER_PRESSURE_MS (a control tick, the firmware
                        reads P_SUPPLY there, + a control tick of grace: the virtual board may
                        hold inputs up to 100 ms)
  opening_order         DOMAIN.md opening order: precharge first (no main coil removed while
                        K_PRE stays on), then the positive pole (K_POS / K_PRE), then K_NEG at
                        least POLE_GAP_MS later. Dropping every coil at once is an emergency
                        drop: allowed only with FAULT_LAMP on within a fast tick (a contactor
                        fault, a dead sequencer) or when a reset released the coils (a new boot
                        registered them)
  break_current         a main coil removed (both mains on before) while the pack current is
                        above the break rating (BREAK_RATING_A + I_TOLERANCE) before the 3 s wait
                        elapsed: the current has been above the rating for less than
                        BREAK_WAIT_MS - FAST_TICK_MS, or FAULT_LAMP lit (the trip) less than that
                        before (DOMAIN.md break-current rule: wait up to 3 s, then open anyway)
  zone_over_isolation   a zone valve commanded closed for more than LEAK_CLOSE_MS while its leak
                        rope has not been wet since the last operator reset or boot (a leak
                        isolates its own zone only; the others stay cooled: DOMAIN.md)
  healthy_relay         the healthy relay (HEALTHY_RELAY, energised = healthy, de-energised =
                        alarm) energised for more than HEALTHY_GRACE_MS (two control ticks) after
                        a fault the firmware sees at once has begun: a wet leak rope (its input
                        1), or a coil-tripping fault that began while a coil was on (interlock
                        loop open, insulation fault, a contactor drop-out, the coil supply lost),
                        or FAULT_LAMP on (any fatal fault, firmware-only trips included). Faults
                        the firmware can only see later (a weld after an opening, a precharge
                        timeout) are not judged, nor a trip cause that began before the board
                        rebooted (on_boot: the new firmware never had those coils on). The plant
                        sees pins, not whether the application runs: the relay in safe boot,
                        maintenance mode and after the application stopped is checked by the L1
                        tests themselves.

Timing note: the monitors check the plant at every exchange of the virtual board (every output
change and at most every 100 ms of held inputs). An output edge carries its exact tick, so an
edge past a deadline is judged exactly; an output that never changes is caught at the next
exchange (the violation's time may then be up to a hold window after the deadline), and a plant
condition may be seen up to a hold window late (lenient, never stricter). Bounds are DOMAIN.md numbers and app/config.py defaults
(hil/monitor_bounds.py; host_tools/tests/test_hil_monitors.py checks them against the config).
The checks live in hil/monitor_contactors.py (battery) and hil/monitor_process.py (cooling, grid).
"""

from .. import GridpodError
from .monitor_bounds import COILS, TRIPPING_FAULTS  # noqa: F401 (re-exported: perf, tests)
from .monitor_contactors import ContactorInvariants
from .monitor_process import ProcessInvariants

MONITORS = (
    "contactor_precharge",
    "contactor_after_trip",
    "pump_dry_run",
    "leak_isolation",
    "grid_limit",
    "close_without_flow",
    "fatal_coil_off",
    "failure_to_trip",
    "pcs_enable",
    "pump_over_pressure",
    "opening_order",
    "break_current",
    "healthy_relay",
    "zone_over_isolation",
)


class InvariantViolation(GridpodError):
    pass


class Violation:
    def __init__(self, name: str, t_ms: int, message: str):
        self.name, self.t_ms, self.message = name, t_ms, message

    def __str__(self):
        return f"invariant {self.name} violated at t = {self.t_ms / 1000:.3f} s: {self.message}"

    __repr__ = __str__


class MonitoredPlant(ContactorInvariants, ProcessInvariants):
    """Wraps a plant: forwards the board interface, checks invariants, feeds trace recorders."""

    def __init__(self, plant, enabled=("all",)):
        self.plant = plant
        self.violations: list[Violation] = []
        self.enabled = set(enabled)
        self.recorders: list = []
        # process (monitor_process.py)
        self._leak_since: dict[int, int] = {}
        self._grid_over_since: int | None = None
        self._level_open_since: int | None = None
        self._pcs_bad_since: int | None = None
        self._over_p_since: int | None = None
        self._alarm_causes: dict[str, int] = {}  # healthy_relay: cause -> onset (sim ms)
        self._zone_wet: set[int] = set()  # zone_over_isolation: ropes wet since the last reset
        self._isolated_since: dict[int, int] = {}
        self._faults_before: set[str] = set()
        # contactors (monitor_contactors.py)
        self._tripped = False
        self._armed: set[str] = set()  # tripping faults seen while a coil was on
        self._trip_causes: set[str] = set()
        self._trips = 0
        self._last_trip_ms = 0
        self._opening_ms: int | None = None
        self._flow_since: int | None = None  # coolant flowing at FLOW_PROVEN_LPM since
        self._lamp_since: int | None = None  # FAULT_LAMP on since
        self._lamp_hold = False  # above the break rating since the lamp lit: the mains may wait
        self._pos_off_ms: int | None = None  # the positive pole (K_PRE and K_POS) went off at
        self._neg_on_ms: int | None = None  # K_NEG coil on since
        self._drop_pending: int | None = None  # all coils dropped at once, lamp not seen yet
        self._released: set[str] = set()  # coils a new boot registered (a reset released them)
        self._all_off_ms: int | None = None  # every coil went off at (last time)
        self._connected_since: int | None = None  # mains commanded and closed since
        self._trip_start: dict[int, int] = {}  # failure_to_trip: id(fault) -> window start
        self._trip_above = False  # above the break rating since a window started
        self._near_rating_since: int | None = None  # |I| >= 95 % of the rating since

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
        self._zone_wet = set()  # a dry rope's zone may be isolated no longer

    def on_boot(self, now_ms: int) -> None:
        """The board (re)booted (the harness host calls it): a fault that began under the previous
        firmware instance, with its coils on, is not one the new instance can see."""
        self._alarm_causes = {k: t for k, t in self._alarm_causes.items() if k.startswith("leak")}
        self._faults_before = set(getattr(self.plant.faults, "active", ()))
        self._zone_wet = set()  # the new firmware instance latches only what it sees wet

    def _on(self, name: str) -> bool:
        return "all" in self.enabled or name in self.enabled

    def _violate(self, name: str, t_ms: int, message: str) -> None:
        if not any(v.name == name for v in self.violations):
            self.violations.append(Violation(name, t_ms, message))

    def _out(self, role: str) -> int:
        return self.plant.outputs.get(role, 0) or 0

    # ----- board interface ----------------------------------------------------------------
    def register(self, role, kind):
        if role in COILS:  # a new boot: the reset released this coil (all at once, by design)
            self._released.add(role)
        return self.plant.register(role, kind)

    def read_inputs(self):
        return self.plant.read_inputs()

    def next_event_ms(self):
        return self.plant.next_event_ms()

    def apply_outputs(self, now_ms, changes):
        before = {r: self._out(r) for r in changes}
        self.plant.apply_outputs(now_ms, changes)
        self._check_contactor_outputs(now_ms, changes)
        self._check_transitions(now_ms, before, changes)
        for r in self.recorders:
            r.on_outputs(now_ms, self.plant, changes)

    def advance(self, now_ms):
        self.plant.advance(now_ms)
        self._check_contactor_state(now_ms)
        self._check_process(now_ms)
        for r in self.recorders:
            r.on_advance(now_ms, self.plant)
