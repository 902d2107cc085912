"""FAT section 10: guided steps, done by a person on a physical module (L4): press the E-stop, wet
a leak rope, look at the pumps. Each is prompted with a timeout and its answer recorded in the
certificate (gridpod.fat.guided); the unit's reaction is read over Modbus, as it is the only view
of a real module. On the virtual module the plant model does the action and answers from its
state. A step nobody confirms is skipped: the FAT then ends INCOMPLETE.
"""

import pytest

SECTION = "Guided steps"
pytestmark = pytest.mark.needs("modbus")
INTERLOCK_OPEN, LEAK = 14, 24  # control/fault_rows.py
REACTION_S = 2.0  # the unit reports a fast-tick trip at once; polling over Modbus takes its time


def _confirmed(answer) -> None:
    if answer.answer != "done":
        pytest.skip(f"step {answer.step} not done ({answer.answer}): the FAT is incomplete")


@pytest.mark.req("REQ-L4-001")
def test_the_e_stop_opens_the_battery(ready, measure, guide):
    unit = ready
    unit.close_battery()
    _confirmed(guide.action("estop_press"))
    t = unit.now_s()
    unit.wait_until("the unit reports the loop open", lambda: unit.fault_active(INTERLOCK_OPEN),
                    REACTION_S + 30)  # fmt: skip
    measure("REQ-L4-001", "interlock fault reported after the E-stop was pressed", unit.now_s() - t,
            "s", high=REACTION_S)  # fmt: skip
    unit.wait_until("contactors open", lambda: unit.read("contactor_state") == unit.states.OPEN,
                    REACTION_S + 30)  # fmt: skip
    measure("REQ-L4-001", "contactors open after the E-stop was pressed", unit.now_s() - t, "s",
            high=REACTION_S)  # fmt: skip
    _confirmed(guide.action("estop_release"))
    unit.wait(1.0)
    measure("REQ-L4-001", "still latched after the release", int(unit.latched() >> INTERLOCK_OPEN & 1),
            equals=1)  # fmt: skip
    unit.fault_reset()
    unit.wait(1.0)
    measure("REQ-L4-001", "latched faults after the operator reset", unit.latched(), equals=0)


@pytest.mark.req("REQ-L4-002")
def test_a_wet_leak_rope_closes_its_zone(ready, measure, guide):
    unit = ready
    _confirmed(guide.action("leak_zone1_wet"))
    t = unit.now_s()
    unit.wait_until("the unit reports the leak", lambda: unit.fault_active(LEAK), REACTION_S + 30)
    measure("REQ-L4-002", "leak fault reported after the rope got wet", unit.now_s() - t, "s",
            high=REACTION_S)  # fmt: skip
    state = unit.wait_until("zone 1 valve at its closed limit switch", lambda: (
        unit.read("zone1_valve_state") & unit.states.VALVE_AT_CLOSED), 20.0)  # fmt: skip
    measure("REQ-L4-002", "zone 1 closed limit switch", int(bool(state)), equals=1)
    answer = guide.question("zone1_valve_closed")
    measure("REQ-L4-002", "zone 1 valve seen closed", answer.answer, equals="yes")
    _confirmed(guide.action("leak_zone1_dry"))
    unit.wait(1.0)
    unit.fault_reset()


@pytest.mark.req("REQ-L4-003")
def test_each_pump_turns_when_it_leads(ready, measure, guide):
    unit = ready
    lead = 1 if (unit.read("pump1_speed_pct") or 0) > 0 else 2
    for k in (lead, 3 - lead):
        if k != lead:
            unit.pulse("pump_rotation_request")
            unit.wait_until(f"pump {k} commanded", lambda k=k: (unit.read(f"pump{k}_speed_pct") or 0) > 0,
                            15.0)  # fmt: skip
            unit.wait(5.0)
        answer = guide.question(f"pump{k}_turns")
        measure("REQ-L4-003", f"pump {k} seen turning", answer.answer, equals="yes")
        measure("REQ-L4-003", f"pump {k} tach", unit.read(f"pump{k}_tach_rpm"), "rpm", low=100)
