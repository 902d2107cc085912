"""Guided steps: what a person does or looks at on a physical module (L4), prompted and timed,
the answer recorded in the certificate.

    guide.action("estop_press")      # "Press the E-stop ..."  -> "done" | "skip" | "timeout"
    guide.question("pump1_turns")    # "Does pump 1 turn?"    -> "yes" | "no" | "timeout"

Who answers:
  TerminalOperator   a person at this terminal (`gridpod fat --guided`): the prompt on stderr,
                     the answer typed on stdin, within the step's timeout
  ScriptedOperator   answers given in advance ({step: answer or callable}), for rehearsals and
                     tests (`gridpod fat --answers FILE` with a JSON {step: answer})
  PlantOperator      the virtual module: the plant model performs an action (the catalogue fault
                     it stands for) and answers a question from its own state
An action not confirmed ("skip", "timeout") skips the step: the FAT ends INCOMPLETE, never PASS.
A question answered "no" is the measured value and fails its band ("yes").
"""

from __future__ import annotations

import datetime
import os
import select
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Step:
    kind: str  # "action" or "question"
    prompt: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    fault: tuple[str, dict] | None = None  # action: the plant fault it stands for (on, off)
    clears: str | None = None  # action: clears this fault
    observe: Callable | None = None  # question: plant -> bool


def _pump_turns(k: int):
    return lambda plant: plant.coolant.pumps[k - 1].speed_frac > 0.10


def _zone_closed(k: int):
    return lambda plant: plant.coolant.zones[k - 1].position <= 0.02


STEPS: dict[str, Step] = {
    "estop_press": Step(
        "action",
        "Press the E-stop (it opens the interlock loop), then answer 'done'.",
        fault=("interlock_open", {}),
    ),
    "estop_release": Step(
        "action", "Release the E-stop (the loop closes again), then answer 'done'.",
        clears="interlock_open",
    ),
    "leak_zone1_wet": Step(
        "action",
        "Wet the zone 1 leak rope (a damp cloth on its sensing cable), then answer 'done'.",
        fault=("leak", {"zone": 1}),
    ),
    "leak_zone1_dry": Step(
        "action", "Dry the zone 1 leak rope, then answer 'done'.", clears="leak"
    ),
    "zone1_valve_closed": Step(
        "question", "Is the zone 1 isolation valve closed (indicator at CLOSED)? yes/no",
        observe=_zone_closed(1),
    ),
    "pump1_turns": Step(
        "question", "Does pump 1 turn (shaft or fan moving)? yes/no", observe=_pump_turns(1)
    ),
    "pump2_turns": Step(
        "question", "Does pump 2 turn (shaft or fan moving)? yes/no", observe=_pump_turns(2)
    ),
}  # fmt: skip
ACTION_ANSWERS = ("done", "skip")
QUESTION_ANSWERS = ("yes", "no")


@dataclass
class Answer:
    step: str
    kind: str
    prompt: str
    answer: str  # done, skip, yes, no, timeout
    by: str  # "operator", "script", "plant model"
    asked_utc: str
    seconds: float  # how long the answer took (wall)
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class TerminalOperator:
    """A person at this terminal. pytest captures stdin/stdout, so the real ones are used."""

    by = "operator"

    def __init__(self, stdin=None, stdout=None, name: str = "operator"):
        self.stdin = stdin or sys.__stdin__
        self.stdout = stdout or sys.__stderr__
        self.by = name

    def ask(self, step_id: str, step: Step, choices: tuple[str, ...]) -> tuple[str, str]:
        out = self.stdout
        out.write(f"\n[FAT step {step_id}] {step.prompt}\n")
        out.write(f"  answer {'/'.join(choices)} within {step.timeout_s:g} s: ")
        out.flush()
        deadline = time.monotonic() + step.timeout_s
        fd, buf = self.stdin.fileno(), b""  # raw reads: a buffered readline hides a 2nd line
        while True:
            if b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                word, _, note = line.decode(errors="replace").strip().partition(" ")
                if word.lower() in choices:
                    return word.lower(), note.strip()
                out.write(f"  please answer {'/'.join(choices)}: ")
                out.flush()
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                out.write("\n  no answer: timeout\n")
                return "timeout", ""
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                data = os.read(fd, 1024)
                if not data:
                    return "timeout", "input closed"
                buf += data


class ScriptedOperator:
    """Answers given in advance: {step: "done" | "yes" | ... | callable(step_id) -> answer}.
    A step with no answer times out (as a person who walked away)."""

    by = "script"

    def __init__(self, answers: dict):
        self.answers = dict(answers)

    def ask(self, step_id: str, step: Step, choices: tuple[str, ...]) -> tuple[str, str]:
        answer = self.answers.get(step_id, "timeout")
        if callable(answer):
            answer = answer(step_id)
        answer = str(answer).lower()
        return (answer, "") if answer in choices else ("timeout", f"scripted {answer!r}")


class PlantOperator:
    """The virtual module's plant plays the person: it does the action (the fault it stands for,
    through the bench so it lands between two plant steps) and looks at the plant to answer."""

    by = "plant model"

    def __init__(self, unit):
        self.unit = unit

    def ask(self, step_id: str, step: Step, choices: tuple[str, ...]) -> tuple[str, str]:
        if step.kind == "question":
            return ("yes" if step.observe(self.unit.plant.plant) else "no"), ""
        if step.fault is not None:
            name, params = step.fault
            f = self.unit.inject(name, **params)
            return "done", f"plant fault {name} at {f.at_ms / 1000:.3f} s"
        self.unit.clear(step.clears)
        return "done", f"plant fault {step.clears} cleared at {self.unit.now_s():.3f} s"


class Guide:
    """The `guide` fixture: asks the operator, records every answer on the test."""

    def __init__(self, operator, record: Callable[[dict], None]):
        self.operator = operator
        self.record = record
        self.answers: list[Answer] = []

    def _ask(self, step_id: str, choices: tuple[str, ...]) -> Answer:
        step = STEPS[step_id]
        asked = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        t0 = time.monotonic()
        answer, note = self.operator.ask(step_id, step, choices)
        a = Answer(
            step_id, step.kind, step.prompt, answer, self.operator.by, asked,
            round(time.monotonic() - t0, 2), note,
        )  # fmt: skip
        self.answers.append(a)
        self.record(a.as_dict())
        return a

    def action(self, step_id: str) -> Answer:
        return self._ask(step_id, ACTION_ANSWERS)

    def question(self, step_id: str) -> Answer:
        return self._ask(step_id, QUESTION_ANSWERS)
