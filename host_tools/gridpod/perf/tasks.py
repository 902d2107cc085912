"""`make bench`, where the VM's time goes: the full module's scheduler tasks and each subsystem's
slot work, timed inside the VM on the unix port (ticks_us around every call), per simulated 10 ms
tick. Prints, never asserts.

Each measured call goes through a small wrapper; what a wrapper costs is measured the same way
around an empty task and taken off every wrapped call (and off a parent's time for each wrapped
call inside it), so the rows add up to the work itself. The VM's whole CPU time per tick (the
soak's figure: scheduler, HAL and harness exchanges included) is printed beside it.
"""

import ast
import sys
import tempfile
import time

from ..hil.monitors import MonitoredPlant
from ..hil.operator import OPERATOR_MAIN, module_board, module_flash
from ..plant import Plant

SIM_S = 300.0
CLOSE_AT_MS = 15000  # the operator closes the battery: the contactor sequencer's closed state
FAST_TICK_MS = 10

PROFILE_MAIN = OPERATOR_MAIN.replace(
    "app.run()",
    """
import time as _time
_tu = _time.ticks_us
_td = _time.ticks_diff
ACC = {}  # name -> [us, calls, parent name or None]


def wrap1(name, fn, parent=None):
    a = ACC[name] = [0, 0, parent]

    def w(x):
        t0 = _tu()
        r = fn(x)
        a[0] += _td(_tu(), t0)
        a[1] += 1
        return r

    return w


def wrap2(name, fn, parent=None):
    a = ACC[name] = [0, 0, parent]

    def w(x, y):
        t0 = _tu()
        r = fn(x, y)
        a[0] += _td(_tu(), t0)
        a[1] += 1
        return r

    return w


class Empty:
    def tick(self, now_ms):
        return True


NAMES = ('fast', 'control', 'housekeeping')
_empty = Empty()
app.scheduler.add(_empty, 0)
for si, slot in enumerate(app.scheduler.slots):
    for t in slot.tasks:
        name = NAMES[si] + ' ' + type(t).__name__
        if t is _empty:
            name = 'wrapper'
        elif type(t).__name__ == '_Task':  # app/module.py: the subsystems' slot work
            name = NAMES[si] + ' Module'
        t.tick = wrap1(name, t.tick)
m = app.module
for s in m.parts:
    n = type(s).__name__.replace('Subsystem', '').lower()
    s.fast = wrap1('  ' + n + ' fast', s.fast, 'fast Module')
    s.commands = wrap2('  ' + n + ' commands', s.commands, 'control Module')
    s.step = wrap2('  ' + n + ' step', s.step, 'control Module')
    s.publish = wrap1('  ' + n + ' publish', s.publish, 'control Module')


class Dump:
    def __init__(self):
        self.done = False

    def tick(self, now_ms):
        if not self.done and now_ms >= DUMP_AT_MS:
            self.done = True
            for k in ACC:
                v = ACC[k]
                print('PROF', repr(k), v[0], v[1], repr(v[2]))
            print('PROF_END')
        return True


DUMP_AT_MS = 0  # set by profile_tasks()
app.scheduler.add(Dump(), SLOT_CONTROL)
app.run()
""",
)


def profile_tasks(sim_s: float = SIM_S) -> dict:
    """Run the full module sim_s simulated seconds; per-task work in us per simulated tick."""
    main = PROFILE_MAIN.replace("DUMP_AT_MS = 0 ", f"DUMP_AT_MS = {int(sim_s * 1000)} ")
    with tempfile.TemporaryDirectory() as tmp:
        flash = module_flash(tmp, main_source=main % ((CLOSE_AT_MS,), ()))
        plant = MonitoredPlant(Plant(seed=1, profile="training"))
        with module_board(flash, plant, None) as vb:
            vm0 = vb.vm_cpu_s()
            t0 = time.monotonic()
            vb.run_until(sim_s + 1.0)
            wall_s = time.monotonic() - t0
            vm_s = vb.vm_cpu_s() - vm0
            log = bytes(vb.console_log).decode(errors="replace")
    rows = {}
    for line in log.splitlines():
        if line.startswith("PROF "):
            _, rest = line.split(" ", 1)
            name, rest = _split_repr(rest)
            us, calls, parent = rest.split(" ", 2)
            rows[name] = {"us": int(us), "calls": int(calls), "parent": ast.literal_eval(parent)}
    if "wrapper" not in rows:
        raise RuntimeError("the profiled module printed no figures:\n" + log[-800:])
    ticks = (sim_s + 1.0) * 1000 / FAST_TICK_MS
    ovh = rows.pop("wrapper")
    per_call = ovh["us"] / max(ovh["calls"], 1)
    for name, r in rows.items():
        inner = sum(c["calls"] for c in rows.values() if c["parent"] == name)
        r["work_us"] = max(r["us"] - per_call * (r["calls"] + inner), 0.0)
        r["us_per_tick"] = r["work_us"] / ticks
    return {
        "rows": rows,
        "wrapper_us": per_call,
        "vm_us_per_tick": vm_s * 1e6 / ticks,
        "ratio": (sim_s + 1.0) / wall_s,
    }


def _split_repr(text: str) -> tuple[str, str]:
    """'name' rest -> (name, rest): the task name is printed as a repr (it has spaces)."""
    quote = text[0]
    end = text.index(quote, 1)
    return text[1:end], text[end + 2 :]


def main() -> int:
    print(
        "gridpod bench: where the VM's time goes (full module, training load, battery closed, "
        f"{SIM_S:.0f} sim s, ticks_us around each call on the unix port)"
    )
    d = profile_tasks()
    total = sum(r["us_per_tick"] for r in d["rows"].values() if r["parent"] is None)
    print(f"{'task (slot, then subsystems inside it)':44s} {'us/tick':>8s} {'share':>6s}")
    rows = d["rows"]
    slots = ("fast", "control", "housekeeping")
    tops = sorted((n for n, r in rows.items() if r["parent"] is None),
                  key=lambda n: (slots.index(n.split()[0]), -rows[n]["us_per_tick"]))  # fmt: skip
    for top in tops:
        kids = sorted((n for n, r in rows.items() if r["parent"] == top),
                      key=lambda n: -rows[n]["us_per_tick"])  # fmt: skip
        for name in (top, *kids):
            r = rows[name]
            share = 100 * r["us_per_tick"] / total if total else 0.0
            print(f"{name:44s} {r['us_per_tick']:8.2f} {share:5.1f}%")
    print(
        f"tasks' work {total:.1f} us per 10 ms tick; the VM's whole CPU time {d['vm_us_per_tick']:.1f} "
        f"us per tick (the rest: scheduler, HAL, harness exchanges, GC); wrapper cost "
        f"{d['wrapper_us']:.2f} us a call, taken off; profiled run {d['ratio']:.0f}x real time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
