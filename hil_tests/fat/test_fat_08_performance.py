"""FAT section 8: the performance run. Thirty simulated minutes of the training load (72 kW steady,
a checkpoint dip), the battery closed and peak shaving on with the grid limit under the load:
coolant flow, supply temperature and grid import held in their bands, no reset, no tick overrun,
no fault, every invariant monitor quiet.
"""

import pytest
from gridpod.fat.measure import frozen, trace_series
from gridpod.fat.production import tuning
from gridpod.hil.signals import fraction_within

SECTION = "Performance run"
pytestmark = pytest.mark.needs("plant", "modbus", "power")
RUN_S = 30 * 60
WARM_UP_S = 5 * 60  # the temperature loop settles after a reboot (overshoot, then the band)
LIMIT_UNDER_LOAD_KW = 4  # the grid limit, under the steady load: the battery shaves it


@pytest.mark.req("REQ-PERF-001", "REQ-COOL-008", "REQ-PLAT-001")
@pytest.mark.trace_period(5.0)
def test_thirty_minutes_of_training_load(ready, measure, trace):
    unit = ready
    unit.close_battery()
    unit.write("setpoint_lease_s", 3600)  # the master's leases last the whole run
    limit = int(unit.plant.grid_import_kw) - LIMIT_UNDER_LOAD_KW
    unit.write("grid_import_limit_kw", limit)
    unit.write("peak_shaving_enable", 1)
    unit.plant.plant.grid_limit_kw = limit
    before = unit.bench.stats()
    regs0 = unit.read_many(["tick_overruns", "boot_count"])
    t0 = unit.now_s()
    try:
        unit.wait(RUN_S)
        after = unit.bench.stats()
        regs1 = unit.read_many(["tick_overruns", "boot_count", "faults_active", "faults_active_hi"])
    finally:
        unit.write("peak_shaving_enable", 0)
        unit.write("grid_import_limit_kw", unit.values["grid_import_limit_kw"])
        unit.write("setpoint_lease_s", 30)
        unit.plant.plant.grid_limit_kw = unit.values["grid_import_limit_kw"]
    tr = frozen(trace)
    end = unit.now_s()
    sp_flow = unit.values["flow_setpoint_lpm"]
    low_pct = tuning(unit.values, "cooling_tuning")["low_flow_pct"]
    sp_t = unit.values["supply_temp_setpoint_ddegc"] / 10
    tol = tuning(unit.values, "grid_tuning")["grid_tolerance_kw"]
    window = {"from_s": t0, "to_s": end}
    measure("REQ-PERF-001", "time with flow at >= 90 % of its setpoint",
            100 * fraction_within(tr, "flow_lpm", low_pct / 100 * sp_flow, 10 * sp_flow, **window),
            "%", low=100)  # fmt: skip
    measure("REQ-PERF-001", "time with the grid import at most limit + tolerance",
            100 * fraction_within(tr, "grid_import_kw", -1e9, limit + tol, **window), "%", low=99)  # fmt: skip
    measure("REQ-PERF-001", "IT load steady part (training)", max(tr.column("it_kw")), "kW", low=70)
    measure("REQ-COOL-008", "time within 1 K of the supply setpoint (after 5 min)",
            100 * fraction_within(tr, "t_supply_c", sp_t - 1, sp_t + 1, from_s=t0 + WARM_UP_S,
                                  to_s=end), "%", low=95)  # fmt: skip
    measure("REQ-PLAT-001", "resets during the run", after["resets"] - before["resets"], high=0)
    measure(
        "REQ-PLAT-001", "boots during the run", regs1["boot_count"] - regs0["boot_count"], high=0
    )
    measure("REQ-PLAT-001", "tick overruns during the run", regs1["tick_overruns"] - regs0["tick_overruns"],
            high=0)  # fmt: skip
    measure(
        "REQ-PLAT-001", "fast ticks run", after["ticks"] - before["ticks"], low=RUN_S * 100 - 10
    )
    measure("REQ-PLAT-001", "faults active at the end",
            (regs1["faults_active"] or 0) | (regs1["faults_active_hi"] or 0), equals=0)  # fmt: skip
    t = t0 - 10
    measure.plot("Thirty minutes of training load", [
        {"unit": "L/min", "series": [trace_series(tr, "flow_lpm", "flow", t)],
         "bands": [{"low": low_pct / 100 * sp_flow, "high": None, "label": "low-flow limit"}]},
        {"unit": "degC", "series": [trace_series(tr, "t_supply_c", "supply", t),
                                    trace_series(tr, "t_return_c", "return", t)],
         "bands": [{"low": sp_t - 1, "high": sp_t + 1, "label": "setpoint +- 1 K"}]},
        {"unit": "kW", "series": [trace_series(tr, "grid_import_kw", "grid import", t),
                                  trace_series(tr, "it_kw", "IT load", t),
                                  trace_series(tr, "pcs_kw", "PCS (discharge +)", t)],
         "bands": [{"low": None, "high": limit + tol, "label": "grid limit + tolerance"}]},
    ], x_label="simulated time (s)")  # fmt: skip
