"""Guided steps of a FAT on a physical module (L4): prompted with a timeout, the answer recorded in
the certificate. The person is scripted here: a terminal fed through a pipe, and a script whose
answers do what a person would on a virtual module reached only through its ports (console and
RS-485, no plant access for the FAT: the serial bench), acting on its plant as hands on the skid.
"""

import io
import json
import os

import pytest
from gridpod.fat.guided import STEPS, Guide, ScriptedOperator, Step, TerminalOperator
from gridpod.fat.run import FatSession, run_fat
from gridpod.hil.bench import open_bench


def test_a_terminal_prompt_takes_the_answer_and_times_out_without_one():
    r, w = os.pipe()
    stdin, out = os.fdopen(r), io.StringIO()
    person = TerminalOperator(stdin=stdin, stdout=out, name="Ann")
    recorded = []
    guide = Guide(person, recorded.append)
    os.write(w, b"maybe\ndone pressed the red one\n")
    a = guide.action("estop_press")
    assert (a.answer, a.note, a.by) == ("done", "pressed the red one", "Ann")
    assert "Press the E-stop" in out.getvalue() and "please answer done/skip" in out.getvalue()
    quick = Step("question", "Does it turn?", timeout_s=0.3)
    assert person.ask("pump1_turns", quick, ("yes", "no")) == ("timeout", "")
    assert [x["answer"] for x in recorded] == ["done"]
    os.close(w)
    stdin.close()


def test_a_script_answers_in_advance_and_an_unscripted_step_times_out():
    guide = Guide(ScriptedOperator({"pump1_turns": "yes", "estop_press": lambda _s: "done"}),
                  lambda _a: None)  # fmt: skip
    assert guide.question("pump1_turns").answer == "yes"
    assert guide.action("estop_press").answer == "done"
    assert guide.question("pump2_turns").answer == "timeout"
    assert all(s.prompt and s.timeout_s > 0 for s in STEPS.values())


@pytest.fixture(scope="module")
def module():
    """A deployed virtual module; the FAT reaches it only through its console and RS-485."""
    b = open_bench("virtual")
    yield b
    b.close()


def _hands(module):
    """A person on the skid, scripted: each action done on the plant (in its thread)."""
    plant = module.plant.plant

    def act(fault=None, clear=None, **params):
        def answer(_step):
            module.plant_call(lambda: plant.faults.inject(fault, **params) if fault else
                              plant.faults.clear(clear))  # fmt: skip
            return "done"

        return answer

    def look(check):
        return lambda _step: "yes" if check() else "no"

    return {
        "estop_press": act("interlock_open"),
        "estop_release": act(clear="interlock_open"),
        "leak_zone1_wet": act("leak", zone=1),
        "leak_zone1_dry": act(clear="leak"),
        "zone1_valve_closed": look(lambda: plant.coolant.zones[0].position <= 0.02),
        "pump1_turns": look(lambda: plant.coolant.pumps[0].speed_frac > 0.1),
        "pump2_turns": look(lambda: plant.coolant.pumps[1].speed_frac > 0.1),
    }


def _run(module, tmp_path, answers, select="guided"):
    session = FatSession(operator=ScriptedOperator(answers), people={"operator": "script"})
    # pytest in pytest: the inner run must not arm its own SIGALRM over this test's timeout
    extra = [f"--bench-modbus={module.modbus.port}", "-p", "no:timeout"]
    return run_fat(f"serial:{module.console.port}", tmp_path, None, extra, select=select,
                   session=session)  # fmt: skip


def test_guided_steps_on_a_module_reached_only_through_its_ports(module, tmp_path):
    s = _run(module, tmp_path / "a", _hands(module))
    guided = [t for t in s["tests"] if t["section"] == "Guided steps"]
    assert [t["outcome"] for t in guided] == ["passed"] * 3, [t["message"] for t in guided]
    answers = [a for t in guided for a in t["guided"]]
    assert {a["step"] for a in answers} == set(STEPS)
    assert all(a["by"] == "script" and a["answer"] in ("done", "yes") for a in answers), answers
    page = (tmp_path / "a" / "fat.html").read_text()
    assert "Press the E-stop" in page and "answered by" in page
    assert s["verdict"] == "INCOMPLETE"  # a partial run (-k guided) is never a PASS
    reqs = {r["id"]: r["verdict"] for r in s["requirements"]}
    assert reqs["REQ-L4-001"] == reqs["REQ-L4-002"] == reqs["REQ-L4-003"] == "PASS"


def test_a_step_nobody_confirms_is_skipped_and_a_no_is_a_fail(module, tmp_path):
    hands = _hands(module)
    hands.pop("estop_press")  # the person never answers: timeout
    hands["pump2_turns"] = lambda _step: "no"  # the person sees pump 2 standing still
    s = _run(module, tmp_path / "b", hands)
    out = {t["test"]: t for t in s["tests"] if t["section"] == "Guided steps"}
    assert out["test_the_e_stop_opens_the_battery"]["outcome"] == "skipped"
    assert "not done (timeout)" in out["test_the_e_stop_opens_the_battery"]["message"]
    assert out["test_each_pump_turns_when_it_leads"]["outcome"] == "failed"
    assert s["verdict"] == "FAIL"
    recorded = json.dumps([a for t in out.values() for a in t["guided"]])
    assert '"answer": "timeout"' in recorded and '"answer": "no"' in recorded
