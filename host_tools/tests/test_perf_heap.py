"""gridpod.perf.heap runs end to end: the full module's heap figures in the ROMFS layout come from
a real boot and scan loop (the 40 % goal is make bench's report, not asserted here)."""

from gridpod.perf.heap import measure


def test_heap_figures_of_the_full_module_in_the_romfs_layout():
    r = measure(110000, "romfs")
    assert r["layout"] == "romfs" and r["heap_budget"] == 110000
    assert 0 < r["low_water_board"] < 110000 and r["free_pct"] == round(
        100.0 * r["low_water_board"] / 110000, 1
    )
    assert r["qstrs"] > 1000 and r["qstr_pools"] >= 6
    assert r["violations"] == []
