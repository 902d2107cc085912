"""Interlocks, peak shaving, SOC and energy (control/interlocks.py, peak_shaver.py, soc.py,
energy.py)."""

from control import energy as en
from control import interlocks as il
from control.cooling import HEALTH_DEGRADED, HEALTH_LOST, HEALTH_OK
from control.energy import E_BATT_IN, E_BATT_OUT, E_COOLING, E_GRID_IMPORT, E_IT
from control.fault_rows import FAULT_INTERLOCK_OPEN
from control.peak_shaver import PeakShaver
from control.soc import OCV_MV, OCV_PM, REST_SAMPLES, Soc, soc_from_ocv
from support import IS_MICROPYTHON, control_cfg

# Private consts of control/interlocks.py (the interlock_status bits; only read here): the same
# numbers, in the same order.
STATUS_COOLING_LOST, STATUS_DERATED, STATUS_BATTERY_PERMIT, STATUS_ALARM = 1, 2, 4, 8


# ---- interlocks ---------------------------------------------------------------------------------
def test_permit_needs_close_permitted_loop_and_cooling():
    i = il.Interlocks(control_cfg())
    assert i.step(True, True, HEALTH_OK, False, False)
    assert i.power_limit_pct == 100 and i.status & STATUS_BATTERY_PERMIT
    assert not i.step(False, True, HEALTH_OK, False, False)  # maintenance / safe mode
    assert not i.step(True, True, HEALTH_LOST, False, False)  # flow not proven
    assert not i.step(True, False, HEALTH_OK, False, False)  # interlock loop open
    assert i.causes == 1 << FAULT_INTERLOCK_OPEN


def test_degraded_cooling_derates_before_trip_and_lost_cooling_alarms():
    i = il.Interlocks(control_cfg())
    assert i.step(True, True, HEALTH_DEGRADED, False, False)  # still permitted...
    assert i.power_limit_pct == 50 and i.status & STATUS_DERATED  # ...but derated
    assert not i.step(True, True, HEALTH_LOST, True, False)
    assert i.alarm and i.status & STATUS_COOLING_LOST and i.power_limit_pct == 0


# ---- peak shaving -------------------------------------------------------------------------------
def _shaver(**cfg):
    base = {"grid_import_limit_kw": 500, "peak_shaving_enable": 1, "pcs_max_kw": 100}
    base.update(cfg)
    ps = PeakShaver(control_cfg(**base))
    ps.enabled = bool(base["peak_shaving_enable"])  # the module copies the leased register
    return ps


def _pcs_follow(pcs_w, sp_w, dt_ms, ramp_w_s=50000):
    step = ramp_w_s * dt_ms // 1000
    if sp_w > pcs_w + step:
        return pcs_w + step
    if sp_w < pcs_w - step:
        return pcs_w - step
    return sp_w


def test_spike_profile_holds_grid_import_at_limit_while_soc_above_floor():
    ps = _shaver(pcs_ramp_kw_s=200)
    soc = 800
    pcs = 0
    worst_over = 0
    charged = False
    # 0-10 s 450 kW, then a 5 s ramp to a 580 kW spike for 60 s, then back to 450 kW
    for k in range(0, 1200):
        t = k * 100
        if t < 10000:
            load = 450000
        elif t < 15000:
            load = 450000 + (t - 10000) * 130000 // 5000
        elif t < 75000:
            load = 580000
        else:
            load = 450000
        sp = ps.step(100, load, soc, 2500, True, 100)
        pcs = _pcs_follow(pcs, sp, 100)
        grid = load - pcs
        if t >= 16000 and t < 75000:
            worst_over = max(worst_over, grid - 500000)
        if t > 80000 and sp < 0:
            charged = True
    assert worst_over <= 2000, worst_over  # held at the limit (within ramp tolerance)
    assert charged  # below the limit the battery recharges


def test_no_discharge_at_soc_floor_temperature_cooling_or_open_contactors():
    ps = _shaver(pcs_ramp_kw_s=1000)
    assert ps.step(100, 600000, 190, 2500, True, 100) == 0  # SOC below 20 %
    assert ps.step(100, 600000, 500, 5000, True, 100) == 0  # battery at 50 degC
    assert ps.step(100, 600000, 500, None, True, 100) == 0  # temperature invalid
    assert ps.step(100, 600000, 500, 2500, False, 100) == 0  # contactors open
    assert ps.step(100, 600000, 500, 2500, True, 0) == 0  # cooling lost
    assert ps.step(100, 600000, 500, 2500, True, 50) == 50000  # derated cap 50 %


def test_ramp_limited():
    ps = _shaver(pcs_ramp_kw_s=50)
    assert ps.step(100, 600000, 500, 2500, True, 100) == 5000
    assert ps.step(100, 600000, 500, 2500, True, 100) == 10000


def test_disabled_follows_the_manual_request_and_ramps_to_zero_when_it_reverts():
    # the register bank reverts enable and request to their defaults (0) at lease expiry
    ps = _shaver(pcs_ramp_kw_s=10, peak_shaving_enable=0)
    ps.request_w = 30000
    sps = [ps.step(100, 450000, 500, 2500, True, 100) for _ in range(40)]
    assert sps[0] == 1000 and sps[-1] == 30000  # ramped up to the request, the limit unused
    ps.request_w = 0  # lease expired
    sps = [ps.step(100, 450000, 500, 2500, True, 100) for _ in range(30)]
    assert sps[0] == 29000 and sps[-1] == 0  # ramps down at 10 kW/s, no step into the grid


def test_a_manual_charge_request_keeps_the_grid_under_its_limit_and_the_soc_ceiling():
    """Safety review m7: a manual charge of -100 kW (grid limit 90 kW, load 80 kW) pushed the grid
    to 173 kW, and charged a full battery."""
    ps = _shaver(
        pcs_ramp_kw_s=1000, grid_tolerance_kw=2, grid_import_limit_kw=90, peak_shaving_enable=0
    )
    ps.request_w = -100000
    assert ps.step(100, 80000, 500, 2500, True, 100) == -8000  # 10 kW headroom - 2 kW tolerance
    assert ps.step(100, 95000, 500, 2500, True, 100) == 0  # over the limit already: no charge
    assert ps.step(100, 20000, 960, 2500, True, 100) == 0  # at the SOC ceiling: none
    ps.request_w = 30000  # a manual discharge is not limited by the headroom
    assert ps.step(100, 20000, 500, 2500, True, 100) == 30000


def test_recharge_stays_below_the_limit_by_the_tolerance():
    ps = _shaver(pcs_ramp_kw_s=1000, grid_tolerance_kw=2, pcs_charge_kw=20)
    assert ps.step(100, 495000, 500, 2500, True, 100) == -3000  # 5 kW headroom - 2 kW
    assert ps.step(100, 499000, 500, 2500, True, 100) == 0  # inside the tolerance: no charge
    assert ps.step(100, 400000, 500, 2500, True, 100) == -20000  # at most pcs_charge_kw
    assert ps.step(100, 400000, 960, 2500, True, 100) == 0  # full


def test_meter_noise_inside_the_deadband_does_not_move_the_setpoint():
    ps = _shaver(pcs_ramp_kw_s=1000, pcs_deadband_w=500)
    assert ps.step(100, 530000, 500, 2500, True, 100) == 30000
    for load in (530300, 529600, 530450, 529700):  # +-0.5 kW of meter noise
        assert ps.step(100, load, 500, 2500, True, 100) == 30000
    assert ps.step(100, 531000, 500, 2500, True, 100) == 31000  # a real 1 kW move goes through
    assert ps.step(100, 499000, 500, 2500, True, 100) == 0  # and a stop is never held


def test_meter_failure_or_unknown_soc_drops_to_zero():
    ps = _shaver(pcs_ramp_kw_s=1000)
    assert ps.step(100, 600000, 500, 2500, True, 100) == 100000
    assert ps.step(100, None, 500, 2500, True, 100) == 0 and not ps.active
    assert ps.step(100, 600000, None, 2500, True, 100) == 0


# ---- state of charge ----------------------------------------------------------------------------
def test_soc_from_ocv_at_rest_then_coulomb_counting():
    soc = Soc(control_cfg(battery_cells=240, battery_capacity_ah=100))
    v_80_dv = 7984  # 240 cells x 3.32667 V: 80 % on the curve, in 0.1 V
    assert soc.step(100, v_80_dv, 500) is None  # 50 A flowing: not at rest, no estimate
    for _ in range(REST_SAMPLES - 1):
        assert soc.step(100, v_80_dv, 0) is None
    assert abs(soc.step(100, v_80_dv, 0) - 800) <= 3  # 0.1 V of pack = 3 permille here
    start = soc.soc_pm
    for _ in range(360):  # 100 A discharge for 36 s = 1 Ah = 1 % of 100 Ah
        soc.step(100, v_80_dv, 1000)
    assert soc.soc_pm == start - 10
    for _ in range(720):  # 50 A charge for 72 s: back
        soc.step(100, v_80_dv, -500)
    assert soc.soc_pm == start


def test_soc_ocv_curve_matches_the_plant():
    assert soc_from_ocv(27000) == 0 and soc_from_ocv(35000) == 1000
    if IS_MICROPYTHON:
        return  # the plant package is host-only; the CPython run of this file checks it
    import sys

    sys.path.insert(0, __file__.rsplit("/firmware/", 1)[0] + "/host_tools")
    from gridpod.plant import power

    assert [(pm / 1000, mv / 1000) for pm, mv in zip(OCV_PM, OCV_MV, strict=True)] == list(
        power.OCV_TABLE
    )
    for soc_pct in (15, 45, 80, 95):
        cell_dmv = round(power.pack_ocv_v(soc_pct / 100) / power.CELLS * 10000)
        assert abs(soc_from_ocv(cell_dmv) - soc_pct * 10) <= 3, soc_pct


# ---- energy -------------------------------------------------------------------------------------
def _value(e, idx):
    return e.hi[idx] * 65536 + e.lo[idx]


def test_energy_counters_accumulate_wh_exactly():
    e = en.Energy()
    for _ in range(3600):
        e.step(1000, 100000, 5000, 20000, 85000)  # 100 kW IT for 1 h
    assert _value(e, E_IT) == 100000
    assert _value(e, E_COOLING) == 5000
    assert _value(e, E_BATT_OUT) == 20000 and _value(e, E_BATT_IN) == 0
    assert _value(e, E_GRID_IMPORT) == 85000
    for _ in range(36):
        e.step(100, 0, 0, -10000, 0)  # charging 10 kW for 3.6 s = 10 Wh
    assert _value(e, E_BATT_IN) == 10


def test_energy_counter_past_2_pow_30_and_wrap_at_2_pow_32():
    e = en.Energy()
    start = (1 << 30) - 10
    e.preset(E_IT, start >> 16, start & 0xFFFF)
    for _ in range(36):
        e.step(1000, 10000000 // 10, 0, 0, 0)  # 1 MW for 36 s = 10 kWh
    assert _value(e, E_IT) == start + 10000
    for v in e.hi + e.lo:
        assert 0 <= v <= 0xFFFF  # halves stay 16-bit: small ints on any port
    e.preset(E_IT, 0xFFFF, 0xFFFF)
    e.step(1000, 3600, 0, 0, 0)  # 3.6 kW for 1 s = 1 Wh
    assert _value(e, E_IT) == 0  # wraps at 2**32
    if IS_MICROPYTHON:
        import micropython

        # the accumulation path allocates nothing (no big ints, no floats)
        micropython.heap_lock()
        try:
            e.step(1000, 1000000, 5000, -20000, 1000000)
        finally:
            micropython.heap_unlock()


def test_energy_per_token_at_it_and_module_boundary():
    e = en.Energy()
    e.write_tokens(1000)
    for _ in range(10):
        e.step(1000, 1000, 200, -100, 1300)  # 1 kW IT, 0.2 kW cooling, 0.1 kW charging
    e.write_tokens(1000 + 500)  # 10 kJ IT over 500 tokens
    assert e.mj_per_token_it == 20000
    assert e.mj_per_token_module == 26000  # (1000 + 200 + 100) W * 10 s / 500


def test_control_fault_rows_combine_with_platform_rows_in_one_table():
    from app.platform_faults import FAULTS
    from control.fault_rows import CONTROL_FAULTS, FAULT_CONTACTOR_WELDED, FAULT_LEAK
    from control.faults import ACTION_OPEN_CONTACTORS, MAX_FAULTS, FaultTable

    ft = FaultTable(FAULTS + CONTROL_FAULTS)  # raises on a duplicate or out-of-range id
    ids = sorted(r[0] for r in FAULTS + CONTROL_FAULTS)
    # unique and inside the table (FaultTable checked both); ids are allocated in ranges per
    # feature (cooling warnings 44..47), so gaps are fine; room left to grow
    assert len(set(ids)) == len(ids) and ids[-1] < MAX_FAULTS and len(ids) <= 50, ids
    assert ft.update(FAULT_CONTACTOR_WELDED, True, 0)  # control/ did the timing: 1 sample
    assert ft.action_mask & ACTION_OPEN_CONTACTORS
    ft.update(FAULT_CONTACTOR_WELDED, False, 10)
    assert ft.is_active(FAULT_CONTACTOR_WELDED)  # latched until reset
    assert ft.reset_latched(20) == 1
    ft.update(FAULT_LEAK, True, 30)
    assert ft.is_active(FAULT_LEAK)
