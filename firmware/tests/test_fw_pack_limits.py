"""Battery pack and coolant supply limits are trips (safety review M3, DOMAIN.md "Battery limits
are trips"): control/pack_limits.py and control/cooling.py report the comparison, the fault rows
(control/fault_rows.py) debounce, latch and open the contactors. L0 tests."""

from app.platform_faults import FAULTS
from control.fault_rows import (
    CONTROL_FAULTS,
    FAULT_PACK_OVER_CURRENT,
    FAULT_PACK_OVER_TEMP,
    FAULT_PACK_OVER_VOLTAGE,
    FAULT_SUPPLY_OVER_TEMP,
)
from control.faults import ACTION_OPEN_CONTACTORS, SEVERITY_FATAL, FaultTable
from control.pack_limits import SUB_LIMIT, SUB_SENSOR, PackLimits
from support import control_cfg

FAST_MS = 10


def _table():
    return FaultTable(FAULTS + CONTROL_FAULTS)


def _fast(ft, lim, t_ms, v_dv, i_da):
    lim.step_fast(v_dv, i_da)
    ft.update(FAULT_PACK_OVER_VOLTAGE, lim.over_voltage, t_ms, lim.over_voltage)
    ft.update(FAULT_PACK_OVER_CURRENT, lim.over_current, t_ms, lim.over_current)


def test_the_limits_are_the_published_config_values():
    lim = PackLimits(control_cfg(pack_voltage_max_v=800, pack_current_max_a=300))
    assert lim.v_max_dv == 8000 and lim.i_max_da == 3000 and lim.t_max_cdegc == 5500


def test_pack_over_voltage_trips_after_two_fast_samples_latched():
    ft, lim = _table(), PackLimits(control_cfg())
    assert lim.v_max_dv == 8760  # default 876 V: 240 LFP cells at their 3.65 V charge limit
    _fast(ft, lim, 0, 8760, 100)  # at the limit: fine
    assert not ft.is_active(FAULT_PACK_OVER_VOLTAGE)
    _fast(ft, lim, 10, 8770, 100)  # one sample above: a spike, not yet
    assert not ft.is_active(FAULT_PACK_OVER_VOLTAGE)
    _fast(ft, lim, 20, 8770, 100)
    assert ft.is_active(FAULT_PACK_OVER_VOLTAGE)
    assert ft.action_mask & ACTION_OPEN_CONTACTORS
    assert ft.severity(FAULT_PACK_OVER_VOLTAGE) == SEVERITY_FATAL
    assert ft.sub[FAULT_PACK_OVER_VOLTAGE] == SUB_LIMIT
    _fast(ft, lim, 30, 7000, 100)  # back in range: still latched until a reset
    assert ft.is_active(FAULT_PACK_OVER_VOLTAGE) and ft.reset_latched(40) == 1


def test_pack_over_current_either_direction_trips_after_100_ms():
    for i_da in (3010, -3010):
        ft, lim = _table(), PackLimits(control_cfg())
        for k in range(9):
            _fast(ft, lim, k * FAST_MS, 7000, i_da)
        assert not ft.is_active(FAULT_PACK_OVER_CURRENT)  # 90 ms: an inrush is tolerated
        _fast(ft, lim, 90, 7000, i_da)
        assert ft.is_active(FAULT_PACK_OVER_CURRENT), i_da
        assert ft.action_mask & ACTION_OPEN_CONTACTORS


def test_a_dead_current_sensor_reads_as_over_current():
    ft, lim = _table(), PackLimits(control_cfg())
    for k in range(10):
        _fast(ft, lim, k * FAST_MS, 7000, None)
    assert ft.is_active(FAULT_PACK_OVER_CURRENT) and ft.sub[FAULT_PACK_OVER_CURRENT] == SUB_SENSOR


def test_pack_over_temperature_and_an_open_ntc_trip_after_2_s():
    for t_cdegc, sub in ((5510, SUB_LIMIT), (None, SUB_SENSOR)):
        ft, lim = _table(), PackLimits(control_cfg())
        for t_ms in range(0, 2000, 100):
            lim.step_control(t_cdegc)
            ft.update(FAULT_PACK_OVER_TEMP, lim.over_temp, t_ms, lim.over_temp)
        assert not ft.is_active(FAULT_PACK_OVER_TEMP)
        lim.step_control(t_cdegc)
        ft.update(FAULT_PACK_OVER_TEMP, lim.over_temp, 2000, lim.over_temp)
        assert ft.is_active(FAULT_PACK_OVER_TEMP) and ft.sub[FAULT_PACK_OVER_TEMP] == sub
    lim.step_control(5000)
    assert lim.over_temp == 0


def test_supply_over_temperature_is_reported_by_cooling_and_trips_after_5_s():
    from control import cooling as cl
    from test_fw_ctl_cooling import make, run

    c, inp, h = make()
    inp.t_supply1_cdegc = inp.t_supply2_cdegc = inp.t_supply3_cdegc = 4600  # limit 45.0 degC
    ft = _table()
    raised = []

    def report(c, inp):
        ft.update(FAULT_SUPPLY_OVER_TEMP, c.supply_over_temp, h.t, c.supply_over_temp)
        if ft.is_active(FAULT_SUPPLY_OVER_TEMP) and not raised:
            raised.append(h.t)

    run(c, inp, h, 6000, report)
    assert raised == [5000]
    assert ft.action_mask & ACTION_OPEN_CONTACTORS
    assert ft.sub[FAULT_SUPPLY_OVER_TEMP] == 1
    c2, inp2, h2 = make()
    run(c2, inp2, h2, 1000)
    assert c2.supply_over_temp == 0  # 32 degC: fine
    assert isinstance(c2, cl.Cooling)
