"""L0 plant sanity: transfer functions, energy balance, precharge RC curve, pump curves,
load profiles and determinism for a seed (no firmware involved)."""

import math

import pytest
from gridpod.plant import Plant, PlantError
from gridpod.plant import coolant as cl
from gridpod.plant import power as pw
from gridpod.plant import transfer as tf
from gridpod.plant.load_profiles import make_profile


def run(plant, seconds, step_ms=100):
    end = plant.now_ms + int(seconds * 1000)
    for t in range(plant.now_ms + step_ms, end + 1, step_ms):
        plant.advance(t)
    return plant


@pytest.mark.parametrize("temp_c", [-10.0, 0.0, 25.0, 40.0, 85.0])
def test_ntc_round_trip_and_open_short(temp_c):
    assert tf.ntc_temp_c(tf.ntc_counts(temp_c)) == pytest.approx(temp_c, abs=0.05)
    assert tf.ntc_temp_c(0) is None and tf.ntc_temp_c(65535) is None


def test_transmitter_hv_current_valve_round_trips():
    for bar in (0.0, 1.5, 6.0, 10.0):
        assert tf.counts_pressure_bar(tf.pressure_counts(bar)) == pytest.approx(bar, abs=0.01)
    assert tf.counts_pressure_bar(tf.ma_counts(3.5)) is None  # below 3.6 mA: wire broken
    assert tf.counts_pressure_bar(tf.ma_counts(21.5)) is None
    for v in (0.0, 400.0, 798.4, 1000.0):
        assert tf.counts_hv_v(tf.hv_counts(v)) == pytest.approx(v, abs=0.05)
    for a in (-400.0, 0.0, 12.5, 400.0):
        assert tf.counts_current_a(tf.current_counts(a)) == pytest.approx(a, abs=0.02)
    for pct in (0.0, 37.0, 100.0):
        assert tf.counts_valve_pct(tf.valve_fb_counts(pct)) == pytest.approx(pct, abs=0.01)
    assert tf.pwm_demand_frac(None) == 1.0 == tf.pwm_demand_frac(0)  # broken wire: full
    assert tf.pwm_demand_frac(tf.demand_pwm_duty(0.3)) == pytest.approx(0.3, abs=1e-4)


def test_coolant_energy_balance():
    """Stored heat change == heat in (IT + pumps) - heat out (HX), and at steady state the HX
    removes what comes in, with return - supply = Q_it / (m cp)."""
    plant = Plant(seed=3, profile="inference", noise=False)
    stored0 = plant.coolant.stored_energy_j()
    run(plant, 3600)
    c = plant.coolant
    gained = c.stored_energy_j() - stored0
    assert gained == pytest.approx(c.energy_in_j - c.energy_out_j, rel=1e-9, abs=1.0)
    assert c.energy_in_j > 1e8  # tens of kW for an hour actually went in

    steady = Plant(seed=3, profile="idle", noise=False)
    run(steady, 4 * 3600)
    c = steady.coolant
    q_in = steady.it_kw * 1000 + c.cooling_power_w
    assert c.q_hx_w == pytest.approx(q_in, rel=0.01)
    m_cp = c.flow_lpm / 60 * cl.RHO_KG_PER_L * cl.CP_J_PER_KG_K
    assert c.t_hot_c - c.t_supply_c == pytest.approx(steady.it_kw * 1000 / m_cp, rel=0.02)


def test_precharge_curve_matches_rc_model():
    plant = Plant(seed=1, noise=False)
    run(plant, 1)
    plant.apply_outputs(plant.now_ms, {"K_NEG_COIL": 1, "K_PRE_COIL": 1})
    t_closed_ms = None
    samples = []
    for t in range(plant.now_ms + 10, plant.now_ms + 3000, 10):
        plant.advance(t)
        if t_closed_ms is None and plant.power.k_pre.closed:
            t_closed_ms = t
        if t_closed_ms is not None:
            samples.append(((t - t_closed_ms) / 1000, plant.power.v_link_v))
    assert t_closed_ms is not None
    v_oc = pw.pack_ocv_v(plant.power.soc)
    r_s = pw.PRECHARGE_R_OHM + pw.PACK_R_OHM
    v_inf = v_oc * pw.BLEED_R_OHM / (pw.BLEED_R_OHM + r_s)
    tau = plant.power.precharge_tau_s
    assert tau == pytest.approx(pw.LINK_C_F * r_s, rel=0.01)  # bleed barely matters
    for t_s, v in samples:
        assert v == pytest.approx(v_inf * (1 - math.exp(-t_s / tau)), abs=1.0), t_s
    # what the board sees follows the same curve through the divider
    counts = plant.read_inputs()["V_LINK"]
    assert tf.counts_hv_v(counts) == pytest.approx(plant.power.v_link_v, abs=0.3)
    assert plant.precharge_complete()


def test_pump_curves_monotonic():
    c = cl.Coolant()
    flows = []
    for speed in [i / 20 for i in range(0, 21)]:
        for p in c.pumps:
            p.speed_frac = speed
        c.solve_flow()
        flows.append(c.flow_lpm)
    assert all(b > a for a, b in zip(flows[1:], flows[2:], strict=False))  # rises with speed
    pump = cl.Pump()
    pump.speed_frac = 1.0
    heads = [pump.flow_at(dp / 10) for dp in range(0, 31)]
    assert all(b < a or b == 0 for a, b in zip(heads, heads[1:], strict=False))
    assert heads[-1] == 0.0  # at shut-off head no flow
    c.filter_clog = 1.0
    base = c.flow_lpm
    c.filter_clog = 20.0
    c.solve_flow()
    assert c.flow_lpm < base
    p = cl.Pump()
    p.speed_frac = 0.5
    assert p.power_w == pytest.approx(cl.PUMP_RATED_W / 8)


def test_single_pump_lower_flow_than_two_and_nominal_operating_point():
    c = cl.Coolant()
    for p in c.pumps:
        p.speed_frac = 1.0
    c.solve_flow()
    two = c.flow_lpm
    c.pumps[1].speed_frac = 0.0
    c.solve_flow()
    assert 110 < c.flow_lpm < 130 < two  # one pump at full speed: ~120 L/min (DOMAIN: 100 set)


def test_load_profiles():
    training = make_profile("training", 1)
    kws = [training.it_kw(t) for t in range(0, 3600, 10)]
    assert max(kws) == pytest.approx(72.0) and min(kws) == pytest.approx(24.0)
    assert sum(1 for k in kws if k < 30) == 12  # one 60 s checkpoint dip per 30 min, twice
    inference = make_profile("inference", 1)
    kws = [inference.it_kw(t / 10) for t in range(0, 36000)]
    bursts = sum(1 for a, b in zip(kws, kws[1:], strict=False) if b > a)
    assert 50 < bursts < 400
    spikes = make_profile("spike_train")
    assert {spikes.it_kw(t) for t in range(0, 100)} == {8.0, 80.0}
    assert make_profile("idle").it_kw(5) == pytest.approx(8.0, rel=0.03)
    with pytest.raises(PlantError):
        make_profile("crypto")


def _trajectory(seed, chunks_ms):
    plant = Plant(seed=seed, profile="inference")
    out = []
    t = 0
    for i, chunk in enumerate(chunks_ms):
        t += chunk
        plant.advance(t)
        if i == 3:
            plant.apply_outputs(t, {"K_NEG_COIL": 1, "K_PRE_COIL": 1, "PUMP2_PWM": 30000})
        out.append((t, dict(plant.read_inputs())))
    return plant, out


def test_deterministic_for_a_seed():
    chunks = [100] * 50 + [10] * 300 + [100] * 600
    a, ta = _trajectory(7, chunks)
    b, tb = _trajectory(7, chunks)
    assert ta == tb
    assert a.signals() == b.signals()
    c, tc = _trajectory(8, chunks)
    assert tc != ta  # another seed: other noise


def test_chunking_changes_nothing_but_rounding():
    plant_a = Plant(seed=2, noise=False)
    plant_b = Plant(seed=2, noise=False)
    for p in (plant_a, plant_b):
        p.advance(1000)
        p.apply_outputs(1000, {"K_NEG_COIL": 1, "K_PRE_COIL": 1})
    for t in range(1010, 20001, 10):
        plant_a.advance(t)
    for t in range(1070, 20001, 70):
        plant_b.advance(t)
    plant_b.advance(20000)
    sa, sb = plant_a.signals(), plant_b.signals()
    for key in sa:
        assert sa[key] == pytest.approx(sb[key], rel=1e-9, abs=1e-6), key


def test_next_event_ms_lockstep_hints():
    plant = Plant(seed=1)
    plant.advance(500)
    assert plant.next_event_ms() is None  # quiet: slow physics only
    plant.faults.schedule("leak", at_s=2.5, zone=1)
    assert plant.next_event_ms() == 2500
    plant.apply_outputs(600, {"K_NEG_COIL": 1})
    assert plant.next_event_ms() == 610  # a contactor is moving: step the firmware every 10 ms
    plant.advance(2500)
    assert plant.read_inputs()["LEAK_ZONE1"] == 1
