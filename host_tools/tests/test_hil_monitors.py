"""The invariant monitors of issue 12 on the L0 plant bench: each is fed a synthetic sequence that
breaks it (it must fire, with its name) and a correct one (it must stay silent). The test plays
the firmware: it drives the coils, FAULT_LAMP, the PCS and the pumps itself. The monitors' bounds
are checked against the firmware's config defaults."""

import re

import pytest
from gridpod.build.tree import import_firmware
from gridpod.hil import monitor_bounds as bounds
from gridpod.hil import monitors as mon
from gridpod.hil.benches.plant import PlantBench
from gridpod.plant import power as pw
from gridpod.plant import transfer as tf

FLOWING_S = 4.0  # the pumps run from power-up (inverted PWM): coolant flow proven by then
RUN, STOP = tf.demand_pwm_duty(1.0), tf.demand_pwm_duty(0.0)


def connected():
    """A plant bench with the battery connected in the correct order (monitors silent)."""
    b = PlantBench()
    b.run_for(FLOWING_S)
    b.drive({"K_NEG_COIL": 1, "K_PRE_COIL": 1})
    b.run_for(3.0)
    b.drive({"K_POS_COIL": 1})
    b.run_for(0.1)
    b.drive({"K_PRE_COIL": 0})
    b.run_for(0.1)
    assert b.plant.power.mains_closed() and b.plant.violations == []
    return b


def open_in_order(b, gap_s=0.1):
    b.drive({"K_POS_COIL": 0})
    b.run_for(gap_s)
    b.drive({"K_NEG_COIL": 0})


def names(b):
    return [v.name for v in b.plant.violations]


# ----- fatal_coil_off ----------------------------------------------------------------------------


def test_fatal_coil_off_a_lit_lamp_with_the_breaking_coil_still_on():
    b = connected()
    b.drive({"FAULT_LAMP": 1})  # a fatal fault only the firmware sees (task error, overrun)
    b.run_for(0.05)
    assert names(b) == ["fatal_coil_off"], b.plant.violations
    v = b.plant.violation
    assert "K_POS_COIL still on" in v.message and v.t_ms == b.now_ms - 30  # 20 ms > 10 ms


def test_fatal_coil_off_the_breaking_coil_in_the_lamps_tick_k_neg_after_the_pole_gap():
    b = connected()
    b.drive({"FAULT_LAMP": 1, "K_POS_COIL": 0})
    b.run_for(0.1)
    b.drive({"K_NEG_COIL": 0})
    b.run_for(1.0)
    assert b.plant.violations == []


def test_fatal_coil_off_k_neg_held_past_the_pole_gap():
    b = connected()
    b.drive({"FAULT_LAMP": 1, "K_POS_COIL": 0})
    b.run_for(0.2)
    assert names(b) == ["fatal_coil_off"] and "K_NEG still on" in str(b.plant.violation)


def test_fatal_coil_off_no_coil_may_close_while_the_lamp_is_lit():
    b = PlantBench()
    b.run_for(FLOWING_S)
    b.drive({"FAULT_LAMP": 1})
    b.run_for(1.0)
    assert b.plant.violations == []
    b.drive({"K_NEG_COIL": 1})
    assert "fatal_coil_off" in names(b), b.plant.violations


@pytest.mark.parametrize("hold_s, violated", [(2.5, False), (3.2, True)])
def test_fatal_coil_off_above_the_break_rating_the_mains_may_wait_3s(hold_s, violated):
    b = connected()
    b.plant.faults.inject("trip_above_break_current")
    b.run_for(3.5)  # above the rating for longer than the wait: break_current stays silent
    b.drive({"FAULT_LAMP": 1})
    b.run_for(hold_s)
    b.drive({"K_POS_COIL": 0})
    b.run_for(0.1)
    b.drive({"K_NEG_COIL": 0})
    b.run_for(0.1)
    assert ("fatal_coil_off" in names(b)) == violated, b.plant.violations


# ----- failure_to_trip ---------------------------------------------------------------------------


def test_failure_to_trip_a_controller_that_ignores_an_open_loop():
    b = connected()
    b.plant.faults.inject("interlock_open")
    b.run_for(0.3)
    assert names(b) == ["failure_to_trip"], b.plant.violations
    assert "interlock_open in effect" in str(b.plant.violation)


def test_failure_to_trip_a_trip_in_time_passes():
    b = connected()
    b.plant.faults.inject("interlock_open")
    b.run_for(0.02)  # seen in the next fast tick, the breaking coil in the one after
    open_in_order(b)
    b.run_for(1.0)
    assert b.plant.violations == []


@pytest.mark.parametrize(
    "fault, params, ok_s, late_s",
    [
        ("aux_contact_disagree", {"contactor": "K_PRE"}, 0.3, 0.6),  # 300 ms mismatch
        ("over_pressure", {}, 0.1, 0.4),  # read every control tick
        ("both_pumps_failed", {}, 6.2, 7.0),  # two confirmed pump failures: cooling lost
    ],
)
def test_failure_to_trip_bounds_follow_the_detection_time(fault, params, ok_s, late_s):
    for wait_s, violated in ((ok_s, False), (late_s, True)):
        b = connected()
        b.plant.faults.inject(fault, **params)
        b.run_for(wait_s)
        open_in_order(b)
        b.run_for(0.2)
        assert ("failure_to_trip" in names(b)) == violated, (fault, wait_s, b.plant.violations)


def test_failure_to_trip_ignores_what_is_no_trip_cause():
    b = connected()
    b.plant.faults.inject("over_pressure", bar=1.0)  # supply ~3 bar: below the 6 bar limit
    b.plant.faults.inject("contactor_dropout", contactor="K_PRE")  # K_PRE is open anyway
    b.run_for(5.0)
    assert b.plant.violations == []


# ----- contactor_after_trip via FAULT_LAMP -------------------------------------------------------


def test_after_trip_a_firmware_only_fatal_trip_needs_an_operator_reset():
    b = connected()
    b.drive({"FAULT_LAMP": 1, "K_POS_COIL": 0})  # e.g. a tick overrun: a trip through the permit
    b.run_for(0.1)
    b.drive({"K_NEG_COIL": 0})
    b.run_for(1.0)
    b.drive({"FAULT_LAMP": 0})  # the latch let go (a firmware that forgot it, or a reset)
    b.run_for(1.0)
    b.drive({"K_NEG_COIL": 1})
    assert names(b) == ["contactor_after_trip"], b.plant.violations
    ok = connected()
    ok.drive({"FAULT_LAMP": 1, "K_POS_COIL": 0})
    ok.run_for(0.1)
    ok.drive({"K_NEG_COIL": 0})
    ok.run_for(1.0)
    ok.drive({"FAULT_LAMP": 0})
    ok.plant.operator_reset()
    ok.run_for(1.0)
    ok.drive({"K_NEG_COIL": 1})
    assert ok.plant.violations == []


def test_after_trip_a_contactor_fault_lamp_one_tick_after_the_coils_is_a_trip():
    b = connected()
    b.drive({"K_NEG_COIL": 0, "K_POS_COIL": 0})  # contactor FAULT: every coil in its tick
    b.run_for(0.01)
    b.drive({"FAULT_LAMP": 1})  # the table's fatal row, one fast tick later
    b.run_for(1.0)
    b.drive({"FAULT_LAMP": 0})
    b.run_for(1.0)
    assert b.plant.violations == []  # an emergency drop with its fatal fault: in order
    b.drive({"K_NEG_COIL": 1})
    assert names(b) == ["contactor_after_trip"], b.plant.violations


# ----- pcs_enable --------------------------------------------------------------------------------


def test_pcs_enable_with_the_contactors_open():
    b = PlantBench()
    b.run_for(1.0)
    b.drive({"PCS_ENABLE": 1, "PCS_PWM": 32768})
    b.run_for(0.3)
    assert names(b) == ["pcs_enable"] and "main contacts are open" in str(b.plant.violation)
    ok = connected()
    ok.drive({"PCS_ENABLE": 1, "PCS_PWM": 40000})  # ~22 kW discharge
    ok.run_for(2.0)
    ok.drive({"PCS_ENABLE": 0})  # off before the opening, as the firmware does
    open_in_order(ok)
    ok.run_for(1.0)
    assert ok.plant.violations == []


@pytest.mark.parametrize("duty, violated", [(40000, True), (32768, False)])
def test_pcs_enable_discharge_below_the_soc_floor(duty, violated):
    b = connected()
    b.plant.power.soc = 0.15  # below the 20 % floor
    b.drive({"PCS_ENABLE": 1, "PCS_PWM": duty})  # discharging ~22 kW, or idle at 0 kW
    b.run_for(0.5)
    assert ("pcs_enable" in names(b)) == violated, b.plant.violations


def test_pcs_enable_grace_of_two_control_ticks():
    b = PlantBench()
    b.drive({"PCS_ENABLE": 1})
    b.run_for(0.15)
    b.drive({"PCS_ENABLE": 0})
    b.run_for(1.0)
    assert b.plant.violations == []


# ----- pump_over_pressure ------------------------------------------------------------------------


@pytest.mark.parametrize("stop_after_s, violated", [(0.15, False), (0.4, True)])
def test_pump_over_pressure_a_control_tick_and_grace(stop_after_s, violated):
    b = PlantBench()
    b.drive({"PUMP1_PWM": RUN, "PUMP2_PWM": STOP})
    b.run_for(3.0)
    b.plant.faults.inject("over_pressure")  # supply ~6.6 bar
    b.run_for(stop_after_s)
    b.drive({"PUMP1_PWM": STOP})
    b.run_for(1.0)
    assert ("pump_over_pressure" in names(b)) == violated, b.plant.violations


def test_pump_over_pressure_only_for_pumps_the_firmware_drives():
    b = PlantBench()  # PWM never driven: the pumps run full by their own fail-safe
    b.plant.faults.inject("over_pressure")
    b.run_for(2.0)
    assert b.plant.violations == []


# ----- opening_order -----------------------------------------------------------------------------


def test_opening_order_k_neg_first_is_caught():
    b = connected()
    b.drive({"K_NEG_COIL": 0})
    assert names(b) == ["opening_order"] and "K_NEG removed while" in str(b.plant.violation)


@pytest.mark.parametrize("gap_s, violated", [(0.05, True), (0.1, False)])
def test_opening_order_pole_gap(gap_s, violated):
    b = connected()
    open_in_order(b, gap_s)
    b.run_for(0.5)
    assert ("opening_order" in names(b)) == violated, b.plant.violations


def test_opening_order_precharge_first():
    b = PlantBench()
    b.run_for(FLOWING_S)
    b.drive({"K_NEG_COIL": 1, "K_PRE_COIL": 1})
    b.run_for(1.0)
    b.drive({"K_NEG_COIL": 0})  # K_NEG under K_PRE: the precharge path broken by the wrong pole
    assert "opening_order" in names(b) and "K_PRE stays on" in str(b.plant.violation)


@pytest.mark.parametrize("lamp_after_s, violated", [(0.01, False), (None, True)])
def test_opening_order_dropping_everything_needs_a_fatal_fault(lamp_after_s, violated):
    b = connected()
    b.drive({"K_NEG_COIL": 0, "K_POS_COIL": 0})
    if lamp_after_s is not None:
        b.run_for(lamp_after_s)
        b.drive({"FAULT_LAMP": 1})
    b.run_for(0.5)
    assert ("opening_order" in names(b)) == violated, b.plant.violations


def test_opening_order_a_reset_releases_every_coil():
    b = connected()
    for role in mon.COILS:  # a new boot registers its coils: the reset dropped them all
        b.plant.register(role, "out")
    b.drive(dict.fromkeys(mon.COILS, 0))
    b.run_for(0.5)
    assert b.plant.violations == []


# ----- break_current -----------------------------------------------------------------------------


@pytest.mark.parametrize("wait_s, violated", [(1.0, True), (3.1, False)])
def test_break_current_the_mains_wait_3s_above_the_rating(wait_s, violated):
    b = connected()
    b.plant.faults.inject("trip_above_break_current")  # ~1.4 kA through the mains
    b.run_for(wait_s)
    assert abs(b.plant.power.i_pack_a) > pw.BREAK_RATING_A
    open_in_order(b)
    b.run_for(0.2)
    assert ("break_current" in names(b)) == violated, b.plant.violations


@pytest.mark.parametrize("wait_s, violated", [(0.5, True), (3.0, False)])
def test_break_current_the_wait_counts_from_the_trip(wait_s, violated):
    b = connected()
    b.plant.faults.inject("trip_above_break_current")
    b.run_for(5.0)  # the short is old: the trip (lamp) starts the wait
    b.drive({"FAULT_LAMP": 1})
    b.run_for(wait_s)
    open_in_order(b)
    b.run_for(0.2)
    assert ("break_current" in names(b)) == violated, b.plant.violations


# ----- the bounds are the firmware's numbers -----------------------------------------------------


# ----- zone_over_isolation ------------------------------------------------------------------------


def test_zone_over_isolation_a_healthy_zone_closed_is_caught():
    b = PlantBench()
    b.run_for(1.0)
    b.drive({"ZONE2_VALVE": 1})  # no leak anywhere: zone 2 loses its cooling for nothing
    b.run_for(0.5)
    assert names(b) == ["zone_over_isolation"] and "zone 2" in b.plant.violation.message


def test_zone_over_isolation_a_leaking_zone_stays_isolated_until_the_reset():
    b = PlantBench()
    b.run_for(1.0)
    b.plant.faults.inject("leak", zone=1)
    b.run_for(0.05)
    b.drive({"ZONE1_VALVE": 1})  # isolated within the leak_isolation bound
    b.run_for(1.0)
    b.plant.faults.clear("leak")  # the rope dries: the firmware keeps the zone latched closed
    b.run_for(1.0)
    assert b.plant.violations == []
    b.plant.operator_reset()  # the operator acknowledged: the zone must open again
    b.run_for(0.5)
    assert names(b) == ["zone_over_isolation"]


def test_monitor_bounds_are_the_config_defaults():
    cfg = import_firmware("app.config")
    values = cfg.defaults()
    d = dict(cfg.expand_tuning(values), **values)
    assert bounds.FAST_TICK_MS == d["fast_tick_ms"]
    assert bounds.CONTROL_TICK_MS == d["control_tick_ms"]
    assert bounds.POLE_GAP_MS == d["contactor_pole_gap_ms"]
    assert bounds.BREAK_WAIT_MS == d["break_wait_ms"]
    assert bounds.BREAK_RATING_A == d["break_current_a"] == pw.BREAK_RATING_A
    assert bounds.AUX_MISMATCH_MS == d["contactor_aux_ms"]
    assert bounds.DROPOUT_MS == d["contactor_dropout_ms"]
    assert bounds.PUMP_FAIL_TACH_MS == d["pump_fail_tach_ms"]
    assert bounds.SUPPLY_PRESSURE_MAX_BAR * 100 == d["supply_pressure_max_kpa"]
    assert bounds.SOC_FLOOR * 100 == d["soc_floor_pct"] and bounds.SOC_FLOOR == pw.SOC_FLOOR
    lo, hi = bounds.BATTERY_TEMP_RANGE_C
    assert (lo * 10, hi * 10) == (d["battery_temp_min_ddegc"], d["battery_temp_max_ddegc"])
    assert bounds.CONTACT_OPEN_MS >= pw.COIL_OPEN_S * 1000


def test_every_monitor_is_documented_and_named():
    documented = set(re.findall(r"^  (\w+)\s", mon.__doc__, re.M))
    assert documented == set(mon.MONITORS)
    b = PlantBench()
    for name in mon.MONITORS:
        assert b.plant._on(name)
