"""FAT section 2: I/O checkout of every role of the unit's board file.

One test per role (generated from the board file, --bench-board): every input stimulated across
its range (the plant forces the terminal, as a calibrator would) and read back over Modbus within
its tolerance; every output commanded through the module's own function and its feedback seen
(tach, limit switches, aux contacts, PCS power); the safety inputs forced to their unsafe level
(also what a broken wire reads) with the documented reaction. How each role is checked:
gridpod.fat.io_checkout. Procedures shared by several roles (a zone valve stroke serves the valve,
its two limit switches) run once per session and each role judges its own part.
"""

import pytest
from gridpod.fat.io_checkout import ANALOG, ANALOG_SETTLE_S, ROLE_CHECKS, SIBLINGS, counts_for
from gridpod.fat.measure import edge_series
from gridpod.hil.strategy import BOOT_BANNER
from gridpod.plant import transfer as tf
from gridpod.vboard.board_file import load_board_file

SECTION = "I/O checkout"
OUTPUT_MODES = {"out", "pwm"}
PWM_STOP = 65535  # pump PWM is inverted: full duty = stopped
LEAK_ISOLATION_MS = 200  # DOMAIN: leak isolation within 200 ms
TACH_TOL_PCT = 3.0  # 2 pulses/rev: ~50 pulses per 0.5 s window at full speed
FLOW_TOL_PCT = 5.0  # K = 10 pulses/L: one pulse per 0.5 s window is 12 L/min; mean of 10


def pytest_generate_tests(metafunc):
    if "role" in metafunc.fixturenames:
        board = metafunc.config.getoption("--bench-board")
        metafunc.parametrize("role", sorted(load_board_file(board)["pins"]))


@pytest.fixture(scope="session")
def evidence():
    """Results of the procedures several roles share: {name: dict or the exception}."""
    return {}


def _shared(evidence, name, procedure, unit):
    if name not in evidence:
        try:
            evidence[name] = procedure(unit)
        except Exception as e:  # noqa: BLE001 - every role of the procedure fails with it
            evidence[name] = e
    result = evidence[name]
    if isinstance(result, Exception):
        raise result
    return result


# ----- every role registered ------------------------------------------------------------------
class OutputLog:
    """A recorder keeping every output change the plant receives."""

    def __init__(self):
        self.changes: list[tuple[int, str, int]] = []

    def on_outputs(self, now_ms, plant, changes=None):
        self.changes += [(now_ms, role, v) for role, v in (changes or {}).items()]

    def on_advance(self, now_ms, plant):
        pass


@pytest.mark.req("REQ-IO-002")
@pytest.mark.needs("plant", "power", "harness")
def test_every_board_role_registered_driven_and_read(unit, bench, measure, request):
    pins = load_board_file(bench.board_name)["pins"]
    generated = set(load_board_file(request.config.getoption("--bench-board"))["pins"])
    measure("REQ-IO-002", "roles of the board file without a checkout test",
            len(set(pins) ^ generated), high=0)  # fmt: skip
    log = OutputLog()
    bench.plant.recorders.append(log)
    bench.plant_call(bench.plant.plant.registered.clear)
    try:
        boot_ms = round(bench.sim_s * 1000)
        unit.power_cycle()
        unit.wait(1.0)
    finally:
        bench.plant.recorders.remove(log)
    registered = dict(bench.plant.registered)
    measure("REQ-IO-002", "board roles the firmware registered", len(registered),
            equals=len(pins))  # fmt: skip
    wrong = [r for r, k in registered.items() if r not in pins or k != pins[r]["mode"]]
    measure("REQ-IO-002", "roles registered with another mode than the board file's",
            len(wrong), high=0, note=", ".join(wrong[:4]))  # fmt: skip
    outputs = {r for r, k in registered.items() if k in OUTPUT_MODES}
    driven = {role for t, role, _ in log.changes if t >= boot_ms}
    measure("REQ-IO-002", "outputs never driven after power-on", len(outputs - driven), high=0,
            note=", ".join(sorted(outputs - driven)[:4]))  # fmt: skip
    sent = bench.harness.boot
    now = bench.plant.read_inputs()
    stale = [
        r for ch, r in enumerate(sent.roles) if r not in outputs and sent.sent[ch] != now.get(r, 0)
    ]
    measure("REQ-IO-002", "inputs not following the plant", len(stale), high=0)


# ----- one test per role ----------------------------------------------------------------------
@pytest.mark.req(
    "REQ-IO-001", "REQ-IO-010", "REQ-IO-011", "REQ-IO-012", "REQ-IO-013", "REQ-IO-014",
    "REQ-IO-015", "REQ-IO-016", "REQ-IO-017", "REQ-IO-018",
)  # fmt: skip
@pytest.mark.needs("plant")
def test_io_checkout(role, unit, bench, measure, evidence, request):
    if role != "STATUS_LED":  # the heartbeat needs only the plant's view of the pin
        missing = bench.lacks("modbus", "power")
        if missing:
            pytest.skip(f"bench '{bench.name}' lacks {', '.join(missing)}")
        unit.fresh()
    if role not in ROLE_CHECKS:
        pytest.fail(f"{role}: no I/O checkout step for this role (gridpod/fat/io_checkout.py)")
    req, kind = ROLE_CHECKS[role]
    # this case verifies only its own requirement
    request.node.user_properties[:] = [
        p for p in request.node.user_properties if p[0] != "requirement" or p[1] == req
    ]
    measure.reqs = {req}
    CHECKS[kind](role, req, unit, measure, evidence)


def check_analog(role, req, unit, measure, evidence):
    reg, points, tol, u, _req, plant_per_unit = ANALOG[role]
    others = [r for r in SIBLINGS.get(u, ()) if r != reg]
    try:
        for point in points:
            before = unit.read_many(others) if others else {}
            unit.force_input(role, counts_for(unit.plant, role, point * plant_per_unit))
            unit.wait(ANALOG_SETTLE_S)
            got = unit.read_many([reg, *others])
            measure(req, f"{role} reads {point:g} {u} as", got[reg], u, low=point - tol,
                    high=point + tol)  # fmt: skip
            if others:  # a miswired channel would show the stimulus on a sibling
                moved = max(abs(got[o] - before[o]) for o in others)
                measure(req, f"largest move of the other {u} inputs ({role} at {point:g})",
                        moved, u, high=5 * tol)  # fmt: skip
    finally:
        unit.force_input(role, None)


def check_threshold(role, req, unit, measure, evidence):
    """FILTER_DP has no register: the filter alarm must follow its threshold (filter_dp_max)."""
    from gridpod.fat.production import tuning

    limit_kpa = tuning(unit.values, "cooling_tuning")["filter_dp_max_kpa"]
    clogged = 21  # control/fault_rows.py FAULT_FILTER_CLOGGED
    try:
        for kpa, expect in ((limit_kpa * 0.5, 0), (limit_kpa * 1.5, 1)):
            unit.force_input(role, counts_for(unit.plant, role, kpa / 100.0))
            unit.wait(ANALOG_SETTLE_S)
            measure(req, f"filter alarm at {kpa:g} kPa (limit {limit_kpa} kPa)",
                    int(unit.fault_active(clogged)), equals=expect)  # fmt: skip
    finally:
        unit.force_input(role, None)


def _pumps(unit, lead):
    """Pump `lead` running (rotating to it when needed): demand, tach and flow, unit and plant."""
    if lead == 2:
        unit.pulse("pump_rotation_request")
        unit.wait_until("pump 2 runs, pump 1 stopped", lambda: (
            unit.plant.coolant.pumps[1].speed_frac > 0.15
            and unit.plant.outputs.get("PUMP1_PWM") == PWM_STOP), 15.0)  # fmt: skip
    from gridpod.fat.production import tuning

    max_rpm = tuning(unit.values, "cooling_tuning")["pump_max_rpm"]
    k, plant, samples = lead, unit.plant, []
    unit.wait(5.0)  # steady
    for _ in range(10):  # means of 10 readings: a reading counts pulses over 0.5 s
        regs = unit.read_many([f"pump{k}_speed_pct", f"pump{k}_tach_rpm", "flow_lpm"])
        samples.append({
            "demand_reg": regs[f"pump{k}_speed_pct"],
            "demand_plant": tf.pwm_demand_frac(plant.outputs.get(f"PUMP{k}_PWM")) * 100.0,
            "tach_reg": regs[f"pump{k}_tach_rpm"],
            "tach_plant": plant.coolant.pumps[k - 1].speed_frac * max_rpm,
            "flow_reg": regs["flow_lpm"],
            "flow_plant": plant.coolant.flow_lpm,
        })  # fmt: skip
        unit.wait(1.0)
    return {key: sum(s[key] for s in samples) / len(samples) for key in samples[0]}


def _within_pct(measure, req, what, got, truth, unit_, pct):
    tol = max(abs(truth) * pct / 100.0, 1.0)
    measure(req, what, got, unit_, low=truth - tol, high=truth + tol,
            note=f"plant {truth:.1f} {unit_}")  # fmt: skip


def check_pulse(role, req, unit, measure, evidence):
    if role == "FLOW_PULSE":
        e = _shared(evidence, "pump1", lambda u: _pumps(u, 1), unit)
        _within_pct(measure, req, "flow (flow meter, mean of 10) vs plant", e["flow_reg"],
                    e["flow_plant"], "L/min", FLOW_TOL_PCT)  # fmt: skip
        return
    k = int(role[4])
    e = _shared(evidence, f"pump{k}", lambda u: _pumps(u, k), unit)
    _within_pct(measure, req, f"pump {k} tach (mean of 10) vs plant speed", e["tach_reg"],
                e["tach_plant"], "rpm", TACH_TOL_PCT)  # fmt: skip


def _zone_stroke(unit, k):
    """Leak input of zone k forced wet for 0.5 s: the valve closes (latched), then the operator's
    reset opens it again. Times from the plant (command edges) and the unit (limit switches)."""
    s = unit.states
    reg = f"zone{k}_valve_state"
    t_wet = unit.force_input(f"LEAK_ZONE{k}", 1)
    unit.wait(0.5)
    unit.force_input(f"LEAK_ZONE{k}", None)
    cmd = unit.wait_until(f"zone {k} valve commanded closed (rope wet at {t_wet} ms; edges "
                          f"{unit.edges(f'ZONE{k}_VALVE')[-3:]})", lambda: unit.first(
        f"ZONE{k}_VALVE", 1, after_ms=t_wet), 2.0)  # fmt: skip
    unit.wait_until(f"zone {k} closed limit switch", lambda: unit.read(reg) & s.VALVE_AT_CLOSED, 20)
    closed_s = unit.now_s()
    other = 3 - k
    other_state = unit.read(f"zone{other}_valve_state")
    leak_active = unit.fault_active(24)  # FAULT_LEAK
    reopen_ms = unit.now_ms()
    unit.fault_reset()
    opened_cmd = unit.wait_until(f"zone {k} valve commanded open after the reset", lambda: unit.first(
        f"ZONE{k}_VALVE", 0, after_ms=cmd), 5.0)  # fmt: skip
    unit.wait_until(f"zone {k} open limit switch", lambda: unit.read(reg) & s.VALVE_AT_OPEN, 20)
    return {
        "t_wet_ms": t_wet, "close_cmd_ms": cmd, "closed_s": closed_s,
        "open_cmd_ms": opened_cmd, "opened_s": unit.now_s(), "reset_ms": reopen_ms,
        "other_open": bool(other_state & s.VALVE_AT_OPEN), "leak_fault": leak_active,
    }  # fmt: skip


def _battery(unit):
    """The operator's close: coil edges (plant) and each pole's state as the unit reports it."""
    t = unit.close_battery()
    regs = unit.read_many(["k_neg_state", "k_pre_state", "k_pos_state", "faults_latched"])
    edges = {r: unit.first(r, 1, after_ms=t) for r in ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL")}
    pre_off = unit.first("K_PRE_COIL", 0, after_ms=edges["K_PRE_COIL"] or t)
    contacts = {c.name: c.closed for c in unit.plant.power.contactors}
    unit.open_battery()
    return {"t": t, "regs": regs, "on": edges, "pre_off": pre_off, "contacts": contacts}


def _pcs(unit):
    """Battery closed, peak shaving on with the grid limit 20 kW under the present import: the PCS
    is enabled and discharges; its power as the unit reports it against the plant's."""
    unit.close_battery()
    grid = unit.read("grid_import_kw")
    limit = max(int(grid) - 20, 10)
    unit.write("grid_import_limit_kw", limit)
    unit.write("peak_shaving_enable", 1)
    try:
        unit.wait_until("PCS enabled and discharging", lambda: unit.plant.power.pcs_kw > 5.0, 15)
        unit.wait(3.0)
        return {
            "enable": unit.plant.outputs.get("PCS_ENABLE"),
            "power_reg": unit.read("battery_power_kw"),
            "power_plant": unit.plant.power.pcs_kw,
            "setpoint_plant": unit.plant.power.pcs_setpoint_kw,
            "pcs_setpoint_reg": unit.read("pcs_setpoint_kw"),
        }
    finally:
        unit.write("peak_shaving_enable", 0)
        unit.write("grid_import_limit_kw", unit.values["grid_import_limit_kw"])
        unit.open_battery()


def check_feedback(role, req, unit, measure, evidence):
    s = unit.states
    if role.startswith("ZONE"):
        k = int(role[4])
        e = _shared(evidence, f"zone{k}", lambda u: _zone_stroke(u, k), unit)
        if role.endswith("_VALVE"):
            measure(req, f"zone {k} valve commanded closed after its rope got wet",
                    e["close_cmd_ms"] - e["t_wet_ms"], "ms", high=LEAK_ISOLATION_MS)  # fmt: skip
            measure(req, f"zone {k} valve commanded open after the reset",
                    e["open_cmd_ms"] - e["reset_ms"], "ms", high=5000,
                    note="from sending the reset (a Modbus write takes ~0.3 s simulated)")  # fmt: skip
        elif role.endswith("CLOSED_LS"):
            measure(req, f"zone {k} closed limit switch seen after the close command",
                    e["closed_s"] - e["close_cmd_ms"] / 1000, "s", low=0.1, high=15.0,
                    note="stuck above 1.5 x the 10 s rated stroke")  # fmt: skip
        else:
            measure(req, f"zone {k} open limit switch seen after the open command",
                    e["opened_s"] - e["open_cmd_ms"] / 1000, "s", low=0.1, high=15.0)  # fmt: skip
        return
    if role in ("PUMP1_PWM", "PUMP2_PWM"):
        k = int(role[4])
        e = _shared(evidence, f"pump{k}", lambda u: _pumps(u, k), unit)
        measure(req, f"pump {k} demand register vs the PWM the plant decodes", e["demand_reg"],
                "%", low=e["demand_plant"] - 1.0, high=e["demand_plant"] + 1.0)  # fmt: skip
        measure(req, f"pump {k} speed while commanded", e["tach_plant"], "rpm", low=100)
        return
    if role == "MIX_VALVE_PWM":
        unit.wait(2.0)
        cmd = tf.pwm_demand_frac(unit.plant.outputs.get("MIX_VALVE_PWM")) * 100.0
        fb = unit.read("mix_valve_pct")
        measure(req, "mixing valve feedback vs its command", fb, "%", low=cmd - 10.0,
                high=cmd + 10.0, note=f"command {cmd:.1f} %")  # fmt: skip
        return
    if role.startswith("K_"):
        pole = role[:5]
        e = _shared(evidence, "battery", _battery, unit)
        if role.endswith("_COIL"):
            measure(req, f"{pole} coil energised by the close (ms after the request)",
                    (e["on"][role] or -1) - e["t"], "ms", low=0, high=15000)  # fmt: skip
            if pole != "K_PRE":
                measure(req, f"{pole} contact closed in the plant", int(e["contacts"][pole]),
                        equals=1)  # fmt: skip
            else:
                measure(req, "K_PRE released after the precharge (ms after it closed)",
                        (e["pre_off"] or -1) - e["on"]["K_PRE_COIL"], "ms", low=0, high=10000)  # fmt: skip
        else:
            word = e["regs"][f"{pole.lower()}_state"]
            closed = s.POLE_COMMANDED | s.POLE_AUX
            measure(req, f"{pole} state the unit reads once closed (commanded + aux)", word,
                    equals=0 if pole == "K_PRE" else closed)  # fmt: skip
        return
    if role.startswith("PCS"):
        e = _shared(evidence, "pcs", _pcs, unit)
        if role == "PCS_ENABLE":
            measure(req, "PCS enable output while shaving", e["enable"], equals=1)
        else:
            measure(req, "battery power register vs plant PCS power", e["power_reg"], "kW",
                    low=e["power_plant"] - 1.0, high=e["power_plant"] + 1.0)  # fmt: skip
        return
    pytest.fail(f"{role}: no feedback procedure")


def check_safety(role, req, unit, measure, evidence):
    if role == "SAFE_MODE_BUTTON":
        return _safe_mode_button(req, unit, measure)
    if role.startswith("LEAK_ZONE"):
        k = int(role[-1])
        e = _shared(evidence, f"zone{k}", lambda u: _zone_stroke(u, k), unit)
        measure(req, f"leak fault active with the zone {k} rope wet", int(e["leak_fault"]),
                equals=1)  # fmt: skip
        measure(req, f"zone {3 - k} valve left open", int(e["other_open"]), equals=1)
        return
    unsafe = 0  # LEVEL_OK and INTERLOCK_LOOP are pulled down: a broken wire reads 0
    fault = {"LEVEL_OK": 22, "INTERLOCK_LOOP": 14}[role]  # RESERVOIR_LOW, INTERLOCK_OPEN
    t0 = unit.force_input(role, unsafe)
    try:
        unit.wait(1.0)
        measure(req, f"{role} at its released level: fault raised", int(unit.fault_active(fault)),
                equals=1)  # fmt: skip
        permit = unit.read("interlock_status") & unit.states.PERMIT
        measure(req, f"{role} at its released level: battery close permit", int(bool(permit)),
                equals=0)  # fmt: skip
        if role == "LEVEL_OK":
            stop = [unit.first(f"PUMP{k}_PWM", PWM_STOP, after_ms=t0) for k in (1, 2)]
            running = [k for k in (1, 2) if unit.plant.outputs.get(f"PUMP{k}_PWM") != PWM_STOP]
            measure(req, "pumps running with the level switch open", len(running), high=0,
                    note=f"stop edges {stop}")  # fmt: skip
        else:
            lamp = unit.first("FAULT_LAMP", 1, after_ms=t0)
            measure(req, "fault lamp lit after the loop opened (ms)", (lamp or 10**6) - t0, "ms",
                    high=20)  # fmt: skip
    finally:
        unit.force_input(role, None)


def _safe_mode_button(req, unit, measure):
    """The button held at power-on: a safe boot (no application; coils open, pumps stopped,
    alarm), then released and power-cycled back to normal."""
    log = unit.bench.console_log
    unit.force_input("SAFE_MODE_BUTTON", 1)
    try:
        unit.wait(0.2)  # held before the power goes
        mark = log.mark()
        t0 = unit.now_ms()
        unit.bench.power.cycle()
        unit.wait_until("safe-boot supervision on the console",
                        lambda: "safe-boot supervision" in log.text_since(mark), 20)  # fmt: skip
        unit.wait(2.0)
        text = log.text_since(mark)
        measure(req, "application started with the button held", int(BOOT_BANNER in text),
                equals=0)  # fmt: skip
        coils_on = [r for r in ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL") if unit.first(r, 1, t0)]
        measure(req, "coils energised in the safe boot", len(coils_on), high=0)
        running = [k for k in (1, 2) if unit.plant.outputs.get(f"PUMP{k}_PWM") != PWM_STOP]
        measure(req, "pumps running in the safe boot", len(running), high=0)
        measure(req, "healthy relay in the safe boot (0 = alarm)",
                unit.plant.outputs.get("HEALTHY_RELAY", 0), equals=0)  # fmt: skip
    finally:
        unit.force_input("SAFE_MODE_BUTTON", None)
        unit.wait(0.2)  # released before the power comes back
        unit.power_cycle()


def check_indicator(role, req, unit, measure, evidence):
    if role == "STATUS_LED":
        t0 = unit.now_ms()
        unit.wait(5.0)
        edges = [t for t, _ in unit.edges("STATUS_LED", after_ms=t0)]
        periods = [b - a for a, b in zip(edges, edges[1:], strict=False)]
        measure(req, "heartbeat edges in 5 s", len(edges), low=9, high=11)
        measure(req, "longest heartbeat half-period", max(periods, default=0), "ms", low=490,
                high=510)  # fmt: skip
        measure(req, "shortest heartbeat half-period", min(periods, default=0), "ms", low=490,
                high=510)  # fmt: skip
        measure.plot("Heartbeat (STATUS_LED)", [{"unit": "level", "series": [
            edge_series(unit.edges("STATUS_LED"), "STATUS_LED", t0, t0 + 5000)]}])  # fmt: skip
        return
    if role == "HEALTHY_RELAY":
        measure(req, "healthy relay while healthy (1 = energised)",
                unit.plant.outputs.get("HEALTHY_RELAY", 0), equals=1)  # fmt: skip
        t0 = unit.force_input("INTERLOCK_LOOP", 0)
        try:
            unit.wait(0.5)
            off = unit.first("HEALTHY_RELAY", 0, after_ms=t0)
            measure(req, "healthy relay released after a fatal fault (ms)", (off or 10**6) - t0,
                    "ms", high=20)  # fmt: skip
        finally:
            unit.force_input("INTERLOCK_LOOP", None)
        return
    measure(req, "fault lamp while healthy", unit.plant.outputs.get("FAULT_LAMP", 0), equals=0)
    t0 = unit.force_input("INTERLOCK_LOOP", 0)
    try:
        unit.wait(0.5)
        lamp = unit.first("FAULT_LAMP", 1, after_ms=t0)
        measure(req, "fault lamp lit after a fatal fault (ms)", (lamp or 10**6) - t0, "ms", high=20)
    finally:
        unit.force_input("INTERLOCK_LOOP", None)


CHECKS = {
    "analog": check_analog,
    "threshold": check_threshold,
    "pulse": check_pulse,
    "safety": check_safety,
    "feedback": check_feedback,
    "indicator": check_indicator,
}
