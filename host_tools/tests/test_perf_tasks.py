"""The `make bench` task profile, shortened: every scheduler task of the full module and each
subsystem's slot work are timed inside the VM, and the rows add up to less than the VM's CPU."""

from gridpod.perf.tasks import profile_tasks


def test_task_profile_names_every_subsystem_slot_and_stays_inside_the_vm_time():
    d = profile_tasks(sim_s=20.0)
    rows = d["rows"]
    for part in ("cooling", "battery", "grid"):
        assert rows[f"  {part} fast"]["parent"] == "fast Module"
        assert rows[f"  {part} fast"]["calls"] >= 2000  # every fast tick of the 21 s
        assert rows[f"  {part} step"]["calls"] >= 200  # every control tick
    assert {"fast SafeOutputs", "fast ModbusSlave", "control ModbusPoints"} <= set(rows)
    work = sum(r["us_per_tick"] for r in rows.values() if r["parent"] is None)
    assert 0 < work < d["vm_us_per_tick"]  # the scheduler, HAL and exchanges are the rest
    # a subsystem's work lies inside its slot's Module row
    kids = sum(r["work_us"] for r in rows.values() if r["parent"] == "fast Module")
    assert kids <= rows["fast Module"]["us"]
