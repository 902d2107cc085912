"""`gridpod vboard-fault`: inject or clear a plant fault in a running `gridpod vboard`.

    gridpod vboard-fault --control PATH inject leak:zone=1        now
    gridpod vboard-fault --control PATH inject leak:zone=1@90-120 at t = 90 s, cleared at 120 s
    gridpod vboard-fault --control PATH clear leak                 every leak injected
    gridpod vboard-fault --control PATH status                     time, faults, violations
    gridpod vboard-fault --list                                    the faults and their parameters

PATH is the "control" socket named in vboard's JSON banner (or given with its --control).
"""

import json

from .. import GridpodError
from ..vboard.control import request
from ..vboard.scenario import catalogue_lines, fault_spec


def add_arguments(p) -> None:
    p.add_argument("action", nargs="?", choices=("inject", "clear", "status"))
    p.add_argument("spec", nargs="?", help="NAME[:K=V,...][@T[-T2]] (clear: NAME[:K=V] or all)")
    p.add_argument("--control", metavar="PATH", help="the running vboard's control socket")
    p.add_argument("--list", action="store_true", help="list the faults and their parameters")
    p.add_argument("--json", action="store_true", help="print the board's JSON reply")


def run(args) -> int:
    if args.list:
        print("\n".join(catalogue_lines()))
        return 0
    if args.action is None:
        raise GridpodError("say what to do: inject SPEC, clear SPEC|all, status (or --list)")
    if args.action in ("inject", "clear") and not args.spec:
        raise GridpodError(f"{args.action} needs a fault, e.g. {args.action} leak:zone=1")
    if args.action == "status" and args.spec:
        raise GridpodError("status takes no fault")
    if args.action == "inject":
        fault_spec(args.spec)  # checked here too: a typo never needs a running board
    if not args.control:
        raise GridpodError("--control PATH: the socket named in gridpod vboard's banner")
    line = args.action if args.action == "status" else f"{args.action} {args.spec}"
    reply = request(args.control, line)
    if not reply.get("ok"):
        raise GridpodError(reply.get("error") or "the board refused the request")
    print(json.dumps(reply) if args.json else _summary(args.action, reply))
    return 0


def _summary(action: str, reply: dict) -> str:
    t = f"t = {reply['t_s']:.3f} s"
    if action == "inject":
        until = "" if reply["clear_at_s"] is None else f", cleared at {reply['clear_at_s']:g} s"
        return f"{reply['fault']} injected at t = {reply['at_s']:.3f} s{until} (now {t})"
    if action == "clear":
        return f"cleared {' '.join(reply['cleared'])} at {t}"
    active = " ".join(reply["faults"]) or "none"
    line = f"{t}; faults: {active}"
    if reply["scheduled"]:
        line += f"; scheduled: {' '.join(reply['scheduled'])}"
    return line + f"; invariant violations: {len(reply['violations'])}"
