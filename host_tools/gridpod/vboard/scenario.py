"""Fault specs typed by people, for `gridpod vboard --fault` and `gridpod vboard-fault`.

    leak:zone=1@60          leak in zone 1 from t = 60 s (simulated) to the end
    leak:zone=1@60-90       the same, cleared again at t = 90 s
    pump_seized:pump=2      from t = 0 (--fault) or now (vboard-fault inject)
    sensor_drift:role=T_SUPPLY1,offset=-1.5@30

NAME is a key of gridpod.plant.faults.CATALOGUE; k=v are its parameters (integers, decimals or
words, e.g. role=T_SUPPLY2, valve=ZONE1); T and T2 are simulated seconds since the board's
first power-on. A spec is checked on a scratch plant before it reaches the running one, so a
typo is a one-line error at once, never an exception inside the board at time T.

Faults the virtual board from the command line cannot carry are refused with the reason: the
RS-485 link faults (the board's Modbus pty carries the master's bytes unchanged) and the bench
faults other than brown_out (power lost at T; the board boots again at once).
"""

import difflib
import inspect
import re

from .. import GridpodError
from ..plant import Plant
from ..plant.faults import CATALOGUE

# Bench faults gridpod vboard has a hook for, with the hook's parameters (see control.py).
CLI_BENCH_FAULTS = {"brown_out": {}}
REQUIRED = inspect.Parameter.empty
_NAME = re.compile(r"^[a-z0-9_]+$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FaultSpecError(GridpodError):
    """A fault spec that cannot be injected: unknown name, bad parameter or bad time."""


class FaultSpec:
    def __init__(self, name: str, params: dict, at_s: float | None, clear_at_s: float | None):
        self.name, self.params, self.at_s, self.clear_at_s = name, params, at_s, clear_at_s

    def __str__(self):
        text = format_fault(self.name, self.params)
        if self.at_s is not None:
            text += f"@{self.at_s:g}"
            if self.clear_at_s is not None:
                text += f"-{self.clear_at_s:g}"
        return text


def format_fault(name: str, params: dict) -> str:
    """leak:zone=1 (parameters sorted), the form a spec is typed in."""
    if not params:
        return name
    return name + ":" + ",".join(f"{k}={params[k]}" for k in sorted(params))


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _seconds(text: str, spec: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultSpecError(
            f"fault {spec!r}: {what} {text!r} is not a number of simulated seconds"
        ) from None
    if not value >= 0 or value == float("inf"):
        raise FaultSpecError(f"fault {spec!r}: {what} {text!r} must be 0 or more seconds")
    return value


def parse_fault_spec(spec: str, timed: bool = True) -> FaultSpec:
    """NAME[:k=v,...][@T[-T2]] -> FaultSpec, checked (FaultSpecError with one line otherwise).

    timed=False (a clear request, or inject-now): no @ part allowed."""
    text = spec.strip()
    at_s = clear_at_s = None
    if "@" in text:
        if not timed:
            raise FaultSpecError(f"fault {spec!r}: no @time here")
        text, when = text.rsplit("@", 1)
        start, dash, end = when.partition("-")
        if not start.strip():
            raise FaultSpecError(f"fault {spec!r}: no time after @ (e.g. @60 or @60-90)")
        at_s = _seconds(start.strip(), spec, "time")
        if dash:
            clear_at_s = _seconds(end.strip(), spec, "clear time")
            if clear_at_s <= at_s:
                raise FaultSpecError(
                    f"fault {spec!r}: clear time {clear_at_s:g} s is not after {at_s:g} s"
                )
    name, _colon, rest = text.partition(":")
    name = name.strip()
    if not name:
        raise FaultSpecError(f"fault {spec!r}: no fault name (e.g. leak:zone=1@60)")
    params = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not value or not _KEY.match(key):
            raise FaultSpecError(f"fault {spec!r}: parameter {item!r} is not key=value")
        if key in params:
            raise FaultSpecError(f"fault {spec!r}: parameter {key!r} given twice")
        params[key] = _value(value)
    check_name(name, spec)
    return FaultSpec(name, params, at_s, clear_at_s)


def check_name(name: str, spec: str | None = None) -> None:
    """FaultSpecError unless name is a catalogue fault gridpod vboard can inject."""
    spec = name if spec is None else spec
    if not _NAME.match(name) or name not in CATALOGUE:
        close = difflib.get_close_matches(name, CATALOGUE, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise FaultSpecError(
            f"fault {spec!r}: unknown fault {name!r}{hint}; `gridpod vboard-fault --list` "
            "lists them"
        )
    domain = CATALOGUE[name][0]
    if domain == "link":
        raise FaultSpecError(
            f"fault {spec!r}: {name} is an RS-485 link fault, which gridpod vboard does not "
            "apply (its Modbus pty carries the bytes unchanged)"
        )
    if domain == "bench" and name not in CLI_BENCH_FAULTS:
        raise FaultSpecError(
            f"fault {spec!r}: {name} needs a bench hook gridpod vboard does not have "
            f"(it has {', '.join(CLI_BENCH_FAULTS)})"
        )


def _signature_params(fn, skip_first: bool = True) -> dict:
    params = list(inspect.signature(fn).parameters.values())[1 if skip_first else 0 :]
    return {p.name: p.default for p in params if p.kind is not p.VAR_KEYWORD}


def fault_parameters(name: str) -> dict:
    """{parameter: default (REQUIRED when it has none)} of a catalogue fault, read from its
    apply function (for the catalogue's attribute setters, from the object getter they close
    over and their value key), so that a misspelt parameter is refused, not silently dropped."""
    domain, _what, apply, _clear = CATALOGUE[name]
    if domain == "bench":
        return dict(CLI_BENCH_FAULTS.get(name, {}))
    closure = [c.cell_contents for c in apply.__closure__ or ()]
    cells = dict(zip(apply.__code__.co_freevars, closure, strict=True))
    if "get_obj" not in cells:
        return _signature_params(apply)
    params = _signature_params(cells["get_obj"])
    if cells.get("value_key"):
        params[cells["value_key"]] = cells["default"]
    return params


def _usage(name: str) -> str:
    params = fault_parameters(name)
    if not params:
        return "takes no parameters"
    shown = [k if v is REQUIRED else f"{k}={v}" for k, v in params.items()]
    return "takes " + ", ".join(shown)


def _check_type(name: str, key: str, value, default, spec: str) -> None:
    """Words where the default is a word (or the parameter is required: a role), finite numbers
    elsewhere: a word where a number belongs would fail only later, inside the plant's physics."""
    wants_word = default is REQUIRED or isinstance(default, str)
    is_number = isinstance(value, (int, float)) and abs(value) != float("inf") and value == value
    if wants_word and not isinstance(value, str):
        raise FaultSpecError(f"fault {spec!r}: {key}={value} must be a name; {name} {_usage(name)}")
    if not wants_word and not is_number:
        raise FaultSpecError(
            f"fault {spec!r}: {key}={value} must be a number; {name} {_usage(name)}"
        )


def check_params(fault: FaultSpec, spec: str) -> None:
    """Apply and clear the fault on a scratch plant: a wrong or missing parameter, or a value out
    of its range, is reported now rather than when the fault falls due inside the board."""
    accepted = fault_parameters(fault.name)
    unknown = sorted(set(fault.params) - set(accepted))
    missing = [k for k, v in accepted.items() if v is REQUIRED and k not in fault.params]
    if unknown or missing:
        what = f"unknown parameter {unknown[0]!r}" if unknown else f"needs {missing[0]}=..."
        raise FaultSpecError(f"fault {spec!r}: {what}; {fault.name} {_usage(fault.name)}")
    for key, value in fault.params.items():
        _check_type(fault.name, key, value, accepted[key], spec)
    scratch = Plant(seed=0, profile="idle", noise=False)
    for hook in CLI_BENCH_FAULTS:
        scratch.bench_hooks[hook] = lambda on, **p: None
    _domain, _what, apply, clear = CATALOGUE[fault.name]
    try:
        apply(scratch, **fault.params)
        clear(scratch, **fault.params)
    except GridpodError as e:
        raise FaultSpecError(f"fault {spec!r}: {e}") from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
        raise FaultSpecError(
            f"fault {spec!r}: a parameter has the wrong type ({e}); "
            f"{fault.name} {_usage(fault.name)}"
        ) from None


def fault_spec(spec: str, timed: bool = True) -> FaultSpec:
    """parse_fault_spec plus the parameter check: what both commands accept."""
    fault = parse_fault_spec(spec, timed)
    check_params(fault, spec)
    return fault


def catalogue_lines() -> list[str]:
    """One line per fault gridpod vboard can inject: name, what it is, its parameters."""
    lines = []
    for name, (domain, what, *_fns) in CATALOGUE.items():
        if domain == "link" or (domain == "bench" and name not in CLI_BENCH_FAULTS):
            continue
        lines.append(f"{name:<31} {what:<44} {_usage(name)}")
    return lines
