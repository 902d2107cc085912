"""The `make bench` module-day figure, shortened: 10 simulated minutes of the full firmware
with the plant under the training profile, no reset, no overrun, no invariant violated."""

from gridpod.hil.soak import module_day_benchmark


def test_module_day_benchmark_short_run():
    r = module_day_benchmark(sim_s=600)
    assert r["sim_s"] == 600 and r["resets"] == 0 and r["overruns"] == 0
    assert r["violations"] == []
    assert r["it_energy_kwh"] > 10  # ~72 kW for 10 min went into the coolant
    # no wall-clock floor: the ratio is a figure `make bench` prints, not a behaviour
