"""FAT section 6: grid and energy.

Peak shaving: with the battery closed and the grid import limit written under the present import,
the PCS discharges so that the grid import (1 s means, the plant's meter) settles at the limit
within the tolerance; a setpoint lease running out (the master stops rewriting) puts the default
back and ramps the PCS to zero; the PCS is never enabled with the contactors open; a manual charge
request is bounded by the headroom under the limit; the energy counters count the IT energy and
survive a power cut.
"""

import pytest
from gridpod.fat.measure import frozen, trace_series
from gridpod.fat.production import tuning

SECTION = "Grid and energy"
pytestmark = pytest.mark.needs("plant", "modbus", "power")
STEP_KW = 20  # the limit is written this far under the present import


def _tol(unit) -> float:
    return float(tuning(unit.values, "grid_tuning")["grid_tolerance_kw"])


def _means(trace, column, from_s, to_s, window_s=1.0):
    """1 s means (zero-order hold) of a trace column over [from_s, to_s]: (t_end, mean)."""
    t, y = trace.t_s, trace.column(column)
    out, start = [], from_s
    while start + window_s <= to_s:
        pts = [(ti, yi) for ti, yi in zip(t, y, strict=True) if start <= ti < start + window_s]
        if pts:
            out.append((start + window_s, sum(p[1] for p in pts) / len(pts)))
        start += window_s
    return out


def _shave(unit, limit_kw, monitored=True):
    unit.write("grid_import_limit_kw", limit_kw)
    unit.write("peak_shaving_enable", 1)
    if monitored:  # the grid_limit monitor judges the limit the master wrote
        unit.plant.plant.grid_limit_kw = limit_kw


def _stop_shaving(unit):
    unit.write("peak_shaving_enable", 0)
    unit.write("grid_import_limit_kw", unit.values["grid_import_limit_kw"])
    unit.plant.plant.grid_limit_kw = unit.values["grid_import_limit_kw"]


@pytest.mark.req("REQ-GRID-001")
@pytest.mark.trace_period(0.1)
def test_peak_shaving_holds_the_grid_at_its_limit(ready, measure, trace):
    unit = ready
    unit.close_battery()
    unit.wait(2.0)
    limit = int(unit.plant.grid_import_kw) - STEP_KW
    t0 = unit.now_s()
    _shave(unit, limit)
    unit.wait(20.0)
    tol = _tol(unit)
    means = _means(frozen(trace), "grid_import_kw", t0, unit.now_s())
    settled = next((t for t, m in means if m <= limit + tol), None)
    measure("REQ-GRID-001", "grid import at the limit (1 s mean) after the limit step",
            (settled - t0) if settled else 99.0, "s", high=5.0,
            note=f"limit {limit} kW, ramp {tuning(unit.values, 'grid_tuning')['pcs_ramp_kw_s']} kW/s")  # fmt: skip
    after = [m for t, m in means if t >= (settled or 0) + 2.0]
    measure("REQ-GRID-001", "highest 1 s mean once settled", max(after, default=999.0), "kW",
            high=limit + tol)  # fmt: skip
    measure("REQ-GRID-001", "lowest 1 s mean once settled (no over-discharge)",
            min(after, default=-999.0), "kW", low=limit - 2 * tol)  # fmt: skip
    measure(
        "REQ-GRID-001", "grid state", unit.read("grid_state"), equals=unit.states.GRID_DISCHARGING
    )
    _stop_shaving(unit)
    measure.plot("Peak shaving: limit step", [
        {"unit": "kW", "series": [trace_series(frozen(trace), "grid_import_kw", "grid import", t0 - 2),
                                  trace_series(frozen(trace), "it_kw", "IT load", t0 - 2),
                                  trace_series(frozen(trace), "pcs_kw", "PCS (discharge +)", t0 - 2)],
         "bands": [{"low": limit - 2 * tol, "high": limit + tol, "label": f"limit {limit} kW +tolerance"}],
         "events": [{"x": t0, "label": "limit written"}]},
    ])  # fmt: skip


@pytest.mark.req("REQ-GRID-002")
def test_a_lease_running_out_reverts_and_ramps_the_pcs_to_zero(ready, measure):
    unit = ready
    lease_s = 10
    unit.write("setpoint_lease_s", lease_s)
    try:
        unit.close_battery()
        # not monitored: when the lease runs out the limit reverts to the config's, on purpose
        _shave(unit, int(unit.plant.grid_import_kw) - STEP_KW, monitored=False)
        written = unit.now_ms()
        unit.wait_until("PCS discharging", lambda: unit.plant.power.pcs_kw > 5.0, 10.0)
        unit.wait(lease_s + 5.0)
        off = unit.first("PCS_ENABLE", 0, after_ms=written)
        measure("REQ-GRID-002", "PCS disabled after the last write", ((off or 10**7) - written) / 1000,
                "s", low=lease_s, high=lease_s + 3.0,
                note="a Modbus write takes ~0.3 s of simulated time")  # fmt: skip
        v = unit.read_many(["peak_shaving_enable", "lease_expired", "grid_state"])
        measure("REQ-GRID-002", "peak shaving enable after the lease", v["peak_shaving_enable"],
                equals=0)  # fmt: skip
        measure(
            "REQ-GRID-002", "lease expired bits reported", int(v["lease_expired"] != 0), equals=1
        )
        measure("REQ-GRID-002", "PCS power after the lease", unit.plant.power.pcs_kw, "kW",
                low=-0.5, high=0.5)  # fmt: skip
    finally:
        unit.write("setpoint_lease_s", 30)
        _stop_shaving(unit)


@pytest.mark.req("REQ-GRID-003")
def test_the_pcs_is_never_enabled_with_the_contactors_open(ready, measure):
    unit = ready
    t = unit.now_ms()
    _shave(unit, int(unit.plant.grid_import_kw) - STEP_KW)
    unit.wait(5.0)
    measure("REQ-GRID-003", "PCS enabled with the battery open",
            int(unit.first("PCS_ENABLE", 1, after_ms=t) is not None), equals=0)  # fmt: skip
    closed = unit.close_battery()
    unit.wait_until("PCS enabled once closed", lambda: unit.first("PCS_ENABLE", 1, after_ms=t), 5.0)
    on = unit.first("PCS_ENABLE", 1, after_ms=t)
    pos = unit.first("K_POS_COIL", 1, after_ms=closed)
    measure("REQ-GRID-003", "PCS enabled after K_POS closed", on - pos, "ms", low=0, high=2000)
    _stop_shaving(unit)


@pytest.mark.req("REQ-GRID-004")
@pytest.mark.trace_period(0.1)
def test_a_manual_charge_stays_under_the_grid_limit(ready, measure, trace):
    unit = ready
    unit.close_battery()
    headroom = 5
    limit = int(unit.plant.grid_import_kw) + headroom
    unit.write("grid_import_limit_kw", limit)
    unit.plant.plant.grid_limit_kw = limit
    unit.write("pcs_power_request_kw", -50.0)  # a charge far beyond the headroom
    t0 = unit.now_s()
    unit.wait(15.0)
    means = _means(frozen(trace), "grid_import_kw", t0 + 5, unit.now_s())
    measure("REQ-GRID-004", "highest 1 s grid import while charging", max(m for _t, m in means),
            "kW", high=limit + _tol(unit))  # fmt: skip
    measure("REQ-GRID-004", "PCS charging (negative)", unit.plant.power.pcs_kw, "kW", high=-0.5)
    unit.write("pcs_power_request_kw", 0)
    _stop_shaving(unit)


@pytest.mark.req("REQ-GRID-005")
def test_energy_counters_count_and_survive_a_power_cut(ready, measure, trace):
    unit = ready
    t0 = unit.now_s()
    e0 = unit.read("energy_it_kwh")
    unit.wait(130.0)  # two saves (once a minute)
    e1 = unit.read("energy_it_kwh")
    it = [
        y for t, y in zip(frozen(trace).t_s, frozen(trace).column("it_kw"), strict=True) if t >= t0
    ]
    truth = sum(it) / len(it) * (unit.now_s() - t0) / 3600
    measure("REQ-GRID-005", "IT energy counted over 130 s", e1 - e0, "kWh", low=truth * 0.97 - 0.1,
            high=truth * 1.03 + 0.1, note=f"plant {truth:.2f} kWh")  # fmt: skip
    unit.power_cycle()
    e2 = unit.read("energy_it_kwh")
    measure("REQ-GRID-005", "IT energy lost by the power cut (at most a minute's)", e1 - e2, "kWh",
            low=-0.1, high=max(it) / 60 + 0.1)  # fmt: skip
