"""HIL framework on the L0 plant bench: monitors catch each invariant, the plugin fails the
test with the violation and writes its trace, signal assertions judge bands over windows."""

import pytest
from gridpod.hil.benches.plant import PlantBench
from gridpod.hil.signals import SignalAssertionError, assert_below, assert_within
from gridpod.hil.traces import Recorder, Trace
from gridpod.plant import transfer as tf

pytest_plugins = ["pytester"]


FLOWING_S = 4.0  # the pumps run from power-up (inverted PWM): coolant flow proven by then


def flowing():
    """A plant bench whose coolant flow is proven (close_without_flow allows a close)."""
    b = PlantBench()
    b.run_for(FLOWING_S)
    return b


def precharged_close(b):
    b.drive({"K_NEG_COIL": 1, "K_PRE_COIL": 1})
    b.run_for(3.0)
    b.drive({"K_POS_COIL": 1})
    b.run_for(0.1)
    b.drive({"K_PRE_COIL": 0})
    b.run_for(0.1)


def test_closing_without_precharge_is_caught_with_its_time():
    b = flowing()
    b.drive({"K_NEG_COIL": 1})
    b.run_for(0.1)
    b.drive({"K_POS_COIL": 1})
    v = b.plant.violation
    assert v is not None and v.name == "contactor_precharge" and v.t_ms == 4100
    assert "precharge incomplete" in str(v)


def test_closing_before_coolant_flow_is_proven_is_caught():
    b = PlantBench()
    b.run_for(1.0)  # pumps spinning up
    b.drive({"K_NEG_COIL": 1})
    v = b.plant.violation
    assert v is not None and v.name == "close_without_flow" and v.t_ms == 1000, v
    b2 = flowing()
    b2.plant.faults.inject("pump_seized", pump=1)
    b2.plant.faults.inject("pump_seized", pump=2)
    b2.run_for(3.0)  # both pumps stopped: no flow
    b2.drive({"K_NEG_COIL": 1})
    assert b2.plant.violation is not None and b2.plant.violation.name == "close_without_flow"


def test_a_correct_sequence_passes_every_monitor():
    b = flowing()
    precharged_close(b)
    b.run_for(5.0)
    assert b.plant.violations == []
    assert b.plant.power.mains_closed()


def test_reclose_after_trip_needs_operator_reset():
    b = flowing()
    precharged_close(b)
    b.plant.faults.inject("interlock_open")
    b.run_for(0.02)  # the controller trips in order: K_POS, K_NEG after the pole gap
    b.drive({"K_POS_COIL": 0})
    b.run_for(0.1)
    b.drive({"K_NEG_COIL": 0})
    b.plant.faults.clear("interlock_open")
    b.run_for(0.2)
    assert b.plant.violations == []
    b.drive({"K_NEG_COIL": 1})
    assert b.plant.violation.name == "contactor_after_trip"
    b2 = flowing()
    b2.plant.faults.inject("interlock_open")
    b2.run_for(0.1)
    b2.plant.faults.clear("interlock_open")
    b2.plant.operator_reset()
    b2.drive({"K_NEG_COIL": 1})
    assert b2.plant.violations == []


def _precharge_try(b):
    b.drive({"K_NEG_COIL": 1, "K_PRE_COIL": 1})
    b.run_for(0.5)
    b.drive({"K_PRE_COIL": 0})  # timed out: the firmware opens, precharge first
    b.run_for(0.1)
    b.drive({"K_NEG_COIL": 0})  # the other pole after the pole gap


@pytest.mark.parametrize(
    "gap_s, tries, violated", [(3.5, 3, False), (3.5, 4, True), (1.0, 2, True)]
)
def test_precharge_retries_allowed_up_to_three_tries_3s_apart(gap_s, tries, violated):
    b = flowing()
    b.plant.faults.inject("precharge_resistor_open")
    for _ in range(tries):
        _precharge_try(b)
        b.run_for(gap_s)
    assert (b.plant.violation is not None) == violated, b.plant.violation


def test_closing_into_an_open_interlock_loop_is_caught():
    b = PlantBench()
    b.plant.faults.inject("interlock_open")
    b.run_for(0.1)
    b.drive({"K_NEG_COIL": 1})
    assert b.plant.violation.name == "contactor_after_trip"
    assert "interlock_open is active" in str(b.plant.violation)


@pytest.mark.parametrize("stop_after_s, violated", [(0.2, False), (0.5, True)])
def test_dry_run_grace_for_the_control_tick(stop_after_s, violated):
    b = PlantBench()
    b.run_for(2.0)
    b.plant.faults.inject("reservoir_low")
    b.run_for(stop_after_s)
    stop = tf.demand_pwm_duty(0.0)
    b.drive({"PUMP1_PWM": stop, "PUMP2_PWM": stop})
    b.run_for(2.0)
    assert (b.plant.violation is not None) == violated, b.plant.violation


def test_pump_dry_run():
    b = PlantBench()
    b.run_for(2.0)
    b.plant.faults.inject("reservoir_low")
    b.run_for(0.5)
    assert b.plant.violation.name == "pump_dry_run"
    quiet = PlantBench()
    stop = tf.demand_pwm_duty(0.0)
    quiet.drive({"PUMP1_PWM": stop, "PUMP2_PWM": stop})
    quiet.run_for(10.0)
    quiet.plant.faults.inject("reservoir_low")
    quiet.run_for(2.0)
    assert quiet.plant.violations == []  # pumps stopped before the level fell: no dry run


@pytest.mark.parametrize("close_after_ms, violated", [(150, False), (300, True)])
def test_leak_isolation_deadline(close_after_ms, violated):
    b = PlantBench()
    b.run_for(1.0)
    b.plant.faults.inject("leak", zone=2)
    b.run_for(close_after_ms / 1000)
    b.drive({"ZONE2_VALVE": 1})
    b.run_for(1.0)
    assert (b.plant.violation is not None) == violated
    if violated:
        assert b.plant.violation.name == "leak_isolation"


@pytest.mark.parametrize("alarm_after_ms, violated", [(150, False), (300, True)])
def test_healthy_relay_drops_within_two_control_ticks_of_a_trip(alarm_after_ms, violated):
    b = flowing()
    b.drive({"HEALTHY_RELAY": 1})
    precharged_close(b)
    b.plant.faults.inject("coil_supply_lost")  # began with the mains closed: the firmware sees it
    b.run_for(0.02)
    b.drive({"K_NEG_COIL": 0, "K_POS_COIL": 0, "FAULT_LAMP": 1})  # DROPOUT: a fatal fault
    b.run_for(alarm_after_ms / 1000 - 0.02)
    b.drive({"HEALTHY_RELAY": 0})
    b.run_for(1.0)
    assert (b.plant.violation is not None) == violated, b.plant.violation
    if violated:
        assert b.plant.violation.name == "healthy_relay"
        assert "coil_supply_lost" in str(b.plant.violation)


def test_healthy_relay_with_a_wet_rope_and_not_with_faults_seen_only_later():
    b = PlantBench()
    b.drive({"HEALTHY_RELAY": 1})
    b.run_for(1.0)
    b.plant.faults.inject("leak", zone=1)
    b.drive({"ZONE1_VALVE": 1})  # isolated, but the alarm stays silent
    b.run_for(0.5)
    assert b.plant.violation.name == "healthy_relay" and "leak zone 1" in str(b.plant.violation)
    quiet = PlantBench()
    quiet.drive({"HEALTHY_RELAY": 1})
    quiet.plant.faults.inject("interlock_open")  # coils open: nothing for the firmware to trip
    quiet.plant.faults.inject("coil_supply_lost")  # seen only when a close fails (500 ms)
    quiet.run_for(1.0)
    assert quiet.plant.violations == []


def test_grid_limit_while_battery_could_discharge():
    b = PlantBench()
    b.plant.plant.grid_limit_kw = 50.0  # training load is 72 kW
    b.run_for(5.0)
    assert b.plant.violations == []  # battery not connected: nothing it could do
    precharged_close(b)
    b.run_for(3.0)
    assert b.plant.violation.name == "grid_limit"
    ok = PlantBench()
    ok.plant.plant.grid_limit_kw = 50.0
    ok.run_for(FLOWING_S)
    precharged_close(ok)
    ok.plant.power.pcs_setpoint_kw = 30.0  # what a peak-shaving controller would request
    ok.run_for(5.0)
    assert ok.plant.violations == []


def _trace(points):
    t = Trace(["t_s", "x"])
    t.rows = [[float(a), float(b)] for a, b in points]
    return t


def test_signal_assertions():
    tr = _trace([(i, 30.0 if i % 20 else 35.0) for i in range(0, 601)])
    assert assert_within(tr, "x", 30.0, tol=1.0, fraction=0.95, last_s=600) >= 0.95
    with pytest.raises(SignalAssertionError, match="wanted >= 99%"):
        assert_within(tr, "x", 30.0, tol=1.0, fraction=0.99, last_s=600)
    assert assert_within(tr, "x", 30.0, tol=1.0, from_s=1, to_s=19) == 1.0
    with pytest.raises(SignalAssertionError, match="reached 35"):
        assert_below(tr, "x", 34.0)
    with pytest.raises(SignalAssertionError, match="fewer than 2 samples"):
        assert_within(tr, "x", 30.0, tol=1.0, from_s=700)
    with pytest.raises(KeyError):
        tr.column("y")


def test_recorder_samples_period_and_edges(tmp_path):
    b = PlantBench()
    rec = Recorder(period_ms=1000)
    b.plant.recorders.append(rec)
    b.run_for(3.0)
    b.drive({"K_NEG_COIL": 1})
    b.run_for(1.0)
    t = rec.trace
    assert t.t_s[:4] == [0.01, 1.0, 2.0, 3.0]
    assert 1.0 in t.column("K_NEG_COIL") and t.t_s[t.column("K_NEG_COIL").index(1.0)] == 3.0
    back = Trace.load_csv(t.save_csv(tmp_path / "x.csv"))
    assert back.columns == t.columns and len(back.rows) == len(t.rows)


PLUGIN_TESTS = """
import pytest

def test_bad_controller(bench):
    bench.run_for(4.0)  # coolant flow proven
    bench.drive({"K_NEG_COIL": 1})
    bench.run_for(0.1)
    bench.drive({"K_POS_COIL": 1})
    bench.run_for(0.1)

def test_good_controller(bench):
    bench.run_for(4.0)
    bench.drive({"K_NEG_COIL": 1, "K_PRE_COIL": 1})
    bench.run_for(3.0)
    bench.drive({"K_POS_COIL": 1})
    bench.run_for(0.1)

def test_fault_cleared_after_previous_test(bench):
    bench.drive({"K_PRE_COIL": 0, "K_POS_COIL": 0})  # the battery the test before left closed:
    bench.run_for(0.1)                                # opened in order (precharge and K_POS,
    bench.drive({"K_NEG_COIL": 0})                    # K_NEG a pole gap later) before the leak
    bench.plant.faults.inject("leak", zone=1)
    bench.drive({"ZONE1_VALVE": 1})
    bench.run_for(1.0)

def test_next_sees_no_fault(bench):
    assert bench.plant.faults.active == []

@pytest.mark.needs("modbus")
def test_needs_modbus(bench):
    pass
"""


def test_plugin_fails_the_test_with_the_violation_and_writes_traces(pytester, tmp_path):
    pytester.makeconftest('pytest_plugins = ["gridpod.hil.plugin"]')
    pytester.makepyfile(PLUGIN_TESTS)
    traces = tmp_path / "traces"
    junit = tmp_path / "j.xml"
    result = pytester.runpytest_inprocess(
        "--bench=plant",
        f"--trace-dir={traces}",
        f"--junitxml={junit}",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:labgrid",  # its plugin (when installed) starts a logger once per process
    )
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*InvariantViolation: invariant contactor_precharge violated at t = *"]
    )
    assert (traces / "test_bad_controller.csv").exists()
    assert (traces / "test_good_controller.csv").exists()
    assert 'name="trace"' in junit.read_text()
    assert "lacks modbus" in result.stdout.str() or "lacks modbus" in junit.read_text()
