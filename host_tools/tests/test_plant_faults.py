"""Every catalogue fault: injected, has its observable effect at the board's pins (or in the
plant state when the board has no sensor for it), combines, and clears."""

import pytest
from gridpod.plant import Plant
from gridpod.plant import transfer as tf
from gridpod.plant.faults import CATALOGUE, FaultError, FaultNotSupported


def run(plant, seconds, step_ms=100):
    end = plant.now_ms + int(seconds * 1000)
    for t in range(plant.now_ms + step_ms, end + 1, step_ms):
        plant.advance(t)
    return plant


def pins(plant):
    return plant.read_inputs()


def temp(plant, role):
    return tf.ntc_temp_c(pins(plant)[role])


def close_mains(plant):
    plant.apply_outputs(plant.now_ms, {"K_NEG_COIL": 1, "K_PRE_COIL": 1})
    run(plant, 4, 10)
    plant.apply_outputs(plant.now_ms, {"K_POS_COIL": 1})
    run(plant, 0.2, 10)
    plant.apply_outputs(plant.now_ms, {"K_PRE_COIL": 0})
    run(plant, 0.2, 10)


def tach_delta(plant, pump, seconds=5):
    a = pins(plant)[f"PUMP{pump}_TACH"]
    run(plant, seconds)
    return pins(plant)[f"PUMP{pump}_TACH"] - a


def sampled(plant, role, n=20):
    values = set()
    for _ in range(n):
        run(plant, 0.1)
        values.add(pins(plant)[role])
    return values


# name -> (params, check(faulty plant, healthy twin) run after injection)
def _check_pwm_broken(f, h):
    for p in (f, h):
        p.apply_outputs(p.now_ms, {"PUMP1_PWM": tf.demand_pwm_duty(0.5)})
        run(p, 10)
    assert f.coolant.pumps[0].speed_frac > 0.99 and h.coolant.pumps[0].speed_frac < 0.51


def _check_precharge(fault_check):
    def check(f, h):
        f.apply_outputs(f.now_ms, {"K_NEG_COIL": 1, "K_PRE_COIL": 1})
        run(f, 0.05, 10)
        fault_check(f)

    return check


def _check_welded(f, h):
    close_mains(f)
    f.apply_outputs(f.now_ms, {"K_POS_COIL": 0, "K_NEG_COIL": 0})
    run(f, 1, 10)
    assert pins(f)["K_POS_AUX"] == 1 and pins(f)["K_NEG_AUX"] == 0


def _check_fails_to_close(f, h):
    f.apply_outputs(f.now_ms, {"K_POS_COIL": 1})
    run(f, 0.5, 10)
    assert pins(f)["K_POS_AUX"] == 0 and not f.power.k_pos.closed


def _check_dropout(f, h):
    f.faults.clear("contactor_dropout")
    close_mains(f)
    assert pins(f)["K_POS_AUX"] == 1
    f.faults.inject("contactor_dropout", contactor="K_POS")
    run(f, 0.1, 10)
    assert pins(f)["K_POS_AUX"] == 0 and f.outputs["K_POS_COIL"] == 1


def _check_break(f, h):
    f.faults.clear("trip_above_break_current")
    close_mains(f)
    f.faults.inject("trip_above_break_current", load_ohm=0.5)
    run(f, 0.02, 10)
    assert tf.counts_current_a(pins(f)["I_PACK"]) > 500  # clipped at the ADC: >= 550 A
    f.apply_outputs(f.now_ms, {"K_POS_COIL": 0})
    run(f, 0.1, 10)
    assert f.power.breaks_above_rating == 1 and f.power.k_pos.open_currents_a[-1] > 1000


def _check_coils_dropped(pin=None):
    def check(f, h):
        f.faults.clear(f.faults.faults[0])
        close_mains(f)
        name = "interlock_open" if pin else "coil_supply_lost"
        f.faults.inject(name)
        run(f, 0.1, 10)
        assert not f.power.mains_closed() and pins(f)["K_POS_AUX"] == 0
        if pin:
            assert pins(f)[pin] == 0

    return check


def _check_stuck_valve(f, h):
    for p in (f, h):
        p.apply_outputs(p.now_ms, {"ZONE1_VALVE": 1})
        run(p, 10)
    assert pins(f)["ZONE1_VALVE_OPEN_LS"] == 1 and pins(h)["ZONE1_VALVE_CLOSED_LS"] == 1


def _check_command_lost(f, h):
    for p in (f, h):
        p.apply_outputs(p.now_ms, {"MIX_VALVE_PWM": tf.demand_pwm_duty(0.2)})
        run(p, 40)
    assert f.coolant.mix.position == 1.0 and h.coolant.mix.position == pytest.approx(0.2)


def _closed_current_a(p):
    """Pack current with the mains closed (the fault's load is on the link)."""
    if not p.power.mains_closed():
        close_mains(p)
    return tf.counts_current_a(pins(run(p, 0.1, 10))["I_PACK"])


def _check_leak_cable(f, h):
    f.faults.inject("leak", zone=1)
    run(f, 0.2)
    assert pins(f)["LEAK_ZONE1"] == 0  # the broken rope cannot see the leak
    assert pins(f)["LEAK_ZONE1_SUP"] > 65000 and pins(h)["LEAK_ZONE1_SUP"] < 40000


EFFECTS = {
    "ntc_open": ({"role": "T_SUPPLY2"}, lambda f, h: pins(f)["T_SUPPLY2"] == 65535),
    "ntc_short": ({"role": "T_RETURN"}, lambda f, h: temp(f, "T_RETURN") is None),
    "sensor_stuck": ({"role": "T_SUPPLY1"},
                     lambda f, h: len(sampled(f, "T_SUPPLY1")) == 1 < len(sampled(h, "T_SUPPLY1"))),
    "sensor_drift": ({"role": "T_SUPPLY3", "offset": 1.5},
                     lambda f, h: 1.2 < temp(f, "T_SUPPLY3") - temp(f, "T_SUPPLY1") < 1.8),
    "transmitter_out_of_band": ({"role": "P_SUPPLY", "i_ma": 2.0},
                                lambda f, h: tf.counts_pressure_bar(pins(f)["P_SUPPLY"]) is None),
    "stale_sample": ({"role": "V_PACK"}, lambda f, h: len(sampled(f, "V_PACK")) == 1),
    "pump_seized": ({"pump": 1}, lambda f, h: tach_delta(f, 1) == 0 < tach_delta(h, 1)
                    and f.coolant.flow_lpm < 0.9 * h.coolant.flow_lpm),
    "tach_wire_broken": ({"pump": 2}, lambda f, h: tach_delta(f, 2) == 0
                         and f.coolant.flow_lpm == pytest.approx(h.coolant.flow_lpm, rel=1e-6)),
    "pwm_wire_broken": ({"pump": 1}, _check_pwm_broken),
    "air_lock": ({"pump": 1}, lambda f, h: f.coolant.pumps[0].flow_lpm < 0.5 * h.coolant.pumps[0].flow_lpm),
    "both_pumps_failed": ({}, lambda f, h: f.coolant.flow_lpm == 0
                          and run(f, 120).coolant.t_hot_c > run(h, 120).coolant.t_hot_c + 5),
    "pump_no_flow": ({"pump": 2}, lambda f, h: tach_delta(f, 2) > 0 and f.coolant.pumps[1].flow_lpm == 0),
    "pump_overspeed": ({"pump": 1}, lambda f, h: f.coolant.pumps[0].power_w > 1.5 * h.coolant.pumps[0].power_w),
    "low_flow": ({}, lambda f, h: f.coolant.flow_lpm < 0.75 * h.coolant.flow_lpm),
    "filter_clogged": ({}, lambda f, h: f.coolant.dp_filter_bar > 0.6 > h.coolant.dp_filter_bar),
    "reservoir_low": ({}, lambda f, h: pins(f)["LEVEL_OK"] == 0 and pins(h)["LEVEL_OK"] == 1),
    "system_pressure_loss": ({"lpm": 2.0}, lambda f, h: run(f, 3600).coolant.makeups >= 2
                             and h.coolant.makeups == 0),
    "over_pressure": ({"bar": 5.0}, lambda f, h: tf.counts_pressure_bar(pins(f)["P_SUPPLY"]) > 6.0),
    "leak": ({"zone": 2, "lpm": 3.0}, lambda f, h: pins(f)["LEAK_ZONE2"] == 1
             and run(f, 60).coolant.volume_l < 58.0),
    "leak_cable_broken": ({"zone": 1}, _check_leak_cable),
    "condensation_risk": ({"dew_point_c": 28.0},
                          lambda f, h: f.coolant.dew_point_c + 3 > f.coolant.t_supply_c),
    "coolant_over_temperature": ({}, lambda f, h: run(f, 600) and temp(f, "T_SUPPLY1") > temp(run(h, 600), "T_SUPPLY1") + 10),
    "valve_stuck": ({"valve": "ZONE1"}, _check_stuck_valve),
    "valve_both_limit_switches": ({"zone": 2}, lambda f, h: pins(f)["ZONE2_VALVE_OPEN_LS"]
                                  == pins(f)["ZONE2_VALVE_CLOSED_LS"] == 1),
    "mix_feedback_off": ({"offset_pct": -20.0}, lambda f, h: tf.counts_valve_pct(pins(h)["MIX_VALVE_FB"])
                         - tf.counts_valve_pct(pins(f)["MIX_VALVE_FB"]) == pytest.approx(20, abs=1)),
    "valve_command_lost": ({"valve": "MIX"}, _check_command_lost),
    "precharge_resistor_open": ({}, _check_precharge(lambda f: run(f, 5, 10).power.v_link_v < 1)),
    "precharge_too_fast": ({}, _check_precharge(lambda f: f.precharge_complete())),
    "precharge_current_not_decaying": ({}, _check_precharge(
        lambda f: tf.counts_current_a(pins(run(f, 5, 10))["I_PACK"]) > 1.0)),
    "contactor_fails_to_close": ({"contactor": "K_POS"}, _check_fails_to_close),
    "contactor_welded": ({"contactor": "K_POS"}, _check_welded),
    "aux_contact_disagree": ({"contactor": "K_NEG"}, lambda f, h: pins(f)["K_NEG_AUX"] == 1
                             and not f.power.k_neg.closed),
    "contactor_dropout": ({"contactor": "K_POS"}, _check_dropout),
    "trip_above_break_current": ({}, _check_break),
    "interlock_open": ({}, _check_coils_dropped("INTERLOCK_LOOP")),
    "coil_supply_lost": ({}, _check_coils_dropped()),
    "insulation_fault": ({"kohm": 20.0}, lambda f, h: f.power.insulation_kohm == 20.0),
    "pack_over_voltage": ({}, lambda f, h: tf.counts_hv_v(pins(f)["V_PACK"]) > tf.counts_hv_v(pins(h)["V_PACK"]) + 90),
    "pack_over_current": ({}, lambda f, h: _closed_current_a(f) > 300.0 > _closed_current_a(h)),
    "pack_over_temperature": ({}, lambda f, h: temp(f, "T_BATTERY") > temp(h, "T_BATTERY") + 25),
    "master_silent": ({}, lambda f, h: f.link.mangle(b"\x01\x03\x00\x00\x00\x01\x84\x0a") == []),
    "modbus_noise": ({"bit_error_rate": 0.05}, lambda f, h: any(
        f.link.mangle(b"\x01\x03\x00\x00\x00\x01\x84\x0a")[0][1] != b"\x01\x03\x00\x00\x00\x01\x84\x0a"
        for _ in range(5))),
    "split_frames": ({"gap_ms": 4.0}, lambda f, h: [d for d, _ in f.link.mangle(b"\x01\x03\x00\x00\x00\x01\x84\x0a")] == [0.0, 4.0]),
    "malformed_request": ({}, lambda f, h: f.link.mangle(b"\x01\x03\x00\x00\x00\x01\x84\x0a")[0][1][1] == 0x2B),
    "two_masters": ({}, lambda f, h: f.link.second_master),
}  # fmt: skip
BENCH_FAULTS = [n for n, row in CATALOGUE.items() if row[0] == "bench"]


def test_every_catalogue_fault_has_an_effect_test():
    assert set(EFFECTS) | set(BENCH_FAULTS) == set(CATALOGUE)


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_fault_effect_and_clear(name):
    params, check = EFFECTS[name]
    faulty, healthy = Plant(seed=5), Plant(seed=5)
    run(faulty, 20)
    run(healthy, 20)
    handle = faulty.faults.inject(name, **params)
    run(faulty, 1)
    run(healthy, 1)
    assert check(faulty, healthy) is not False
    if handle in faulty.faults.faults:
        faulty.faults.clear(handle)
    faulty.faults.clear_all()
    assert faulty.faults.active == []
    assert [e[1] for e in faulty.faults.log].count("clear") >= 1


def test_sensor_fault_clear_restores_the_exact_reading():
    faulty, healthy = Plant(seed=9), Plant(seed=9)
    run(faulty, 5)
    run(healthy, 5)
    faulty.faults.inject("ntc_open", role="T_RETURN")
    run(faulty, 1)
    run(healthy, 1)
    assert pins(faulty)["T_RETURN"] != pins(healthy)["T_RETURN"]
    faulty.faults.clear("ntc_open")
    run(faulty, 1)
    run(healthy, 1)
    assert pins(faulty) == pins(healthy)


def test_scheduled_combined_and_timed_clear():
    plant = Plant(seed=1)
    plant.faults.schedule("leak", at_s=10, zone=1)
    plant.faults.schedule("ntc_open", at_s=12, clear_at_s=15, role="T_SUPPLY1")
    plant.faults.schedule("pump_seized", at_s=11, pump=2)
    run(plant, 9.9)
    assert plant.faults.active == [] and pins(plant)["LEAK_ZONE1"] == 0
    run(plant, 2.5)
    assert sorted(plant.faults.active) == ["leak", "ntc_open", "pump_seized"]
    assert pins(plant)["LEAK_ZONE1"] == 1 and pins(plant)["T_SUPPLY1"] == 65535
    run(plant, 3)
    assert sorted(plant.faults.active) == ["leak", "pump_seized"]
    assert pins(plant)["T_SUPPLY1"] < 65535
    assert [(t, what, n) for t, what, n, _ in plant.faults.log] == [
        (10000, "inject", "leak"),
        (11000, "inject", "pump_seized"),
        (12000, "inject", "ntc_open"),
        (15000, "clear", "ntc_open"),
    ]


@pytest.mark.parametrize("name", BENCH_FAULTS)
def test_bench_faults_need_a_hook_and_call_it(name):
    plant = Plant()
    with pytest.raises(FaultNotSupported):
        plant.faults.inject(name)
    calls = []
    plant.bench_hooks[name] = lambda on, **p: calls.append((on, p))
    h = plant.faults.inject(name, when_s=3.0)
    plant.faults.clear(h)
    assert calls == [(True, {"when_s": 3.0}), (False, {"when_s": 3.0})]


def test_bad_fault_requests_are_rejected_with_the_reason():
    plant = Plant()
    with pytest.raises(FaultError, match="unknown fault"):
        plant.faults.inject("gremlins")
    with pytest.raises(FaultError, match="pump must be 1 or 2"):
        plant.faults.inject("pump_seized", pump=3)
    with pytest.raises(FaultError, match="not an analog sensor"):
        plant.faults.inject("ntc_open", role="LEAK_ZONE1")
    with pytest.raises(FaultError, match="no injected fault"):
        plant.faults.clear("leak")
