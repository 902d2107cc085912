"""Every register and config key is bound by name to the firmware code that uses it.

The firmware addresses registers as `_R_<NAME> = const(row)` beside their use (folded by mpy-cross,
no heap). This test reads the firmware sources and the register map and checks:
  - every `_R_<NAME>` const is the row of register `<name>` in comms/register_map.py;
  - every input register and discrete input has a producer (bank.set / put / set_bits / set_text
    with its row, directly or through a tuple of rows);
  - every writable register (access W1, L1, WA) has a consumer (bank.get of its row, or a hook
    comparing a written row with it), unless it is declared host-only below;
  - every config key and tuning element has a reader outside the schema text;
  - the published safety limits are enforced by control/ (a trip reads each of them).
Positional wiring (rows[27], s[22]) once hid setpoints that never reached the control and measured
values that were never published; this is the check that keeps it from coming back.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
SOURCES = {
    p.relative_to(FIRMWARE).as_posix(): p.read_text()
    for p in sorted(FIRMWARE.rglob("*.py"))
    if "tests" not in p.parts and "hal" not in p.parts
}
# Writable registers that no firmware code consumes on purpose (a host-only note, say): none yet.
HOST_ONLY: dict[str, str] = {}
# Published as safety limits (read-only registers with cfg: defaults) that are trips: each must be
# read by a protection in control/ (safety review M3 found three that nothing read).
TRIP_LIMITS = (
    "pack_voltage_max_v",
    "pack_current_max_a",
    "pack_temp_max_ddegc",
    "supply_temp_max_ddegc",
    "supply_pressure_max_kpa",
    "return_pressure_min_kpa",
)


def _map_rows():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_map", FIRMWARE / "comms/register_map.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return list(mod.rows())


ROWS = _map_rows()
INDEX = {r[2]: i for i, r in enumerate(ROWS)}
CONST = re.compile(r"^(_R_[A-Z0-9_]+) = const\((\d+)\)", re.M)


def _consts():
    """[(file, const name, row)] of every _R_ const in the firmware."""
    return [(f, m.group(1), int(m.group(2))) for f, t in SOURCES.items() for m in CONST.finditer(t)]


def _aliases(text: str, name: str) -> list[str]:
    """name plus every tuple constant and loop variable that carries it."""
    names = [name]
    for m in re.finditer(r"^(_[A-Z0-9_]+) = \(([^=]*?)\)\n", text, re.M | re.S):
        if re.search(rf"\b{name}\b", m.group(2)):
            names.append(m.group(1) + "[")
            for loop in re.finditer(rf"for (\w+)(?:, \w+)? in {m.group(1)}:", text):
                names.append(loop.group(1))
    return names


def _used(name: str, pattern: str) -> bool:
    for text in SOURCES.values():
        if not re.search(rf"\b{name}\b", text):
            continue
        for alias in _aliases(text, name):
            a = re.escape(alias) + (r"" if alias.endswith("[") else r"\b")
            if re.search(pattern.format(a=a), text):
                return True
    return False


def _const_for(register: str) -> str:
    return "_R_" + register.upper()


def test_every_row_const_names_its_register():
    consts = _consts()
    assert len(consts) > 60
    wrong = [
        f"{f}: {name} = const({row}) but row {row} is {ROWS[row][2] if row < len(ROWS) else '-'}"
        for f, name, row in consts
        if row >= len(ROWS) or ROWS[row][2] != name[3:].lower()
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("register", [r[2] for r in ROWS if r[0] in "ID"])
def test_every_input_register_has_a_producer(register):
    name = _const_for(register)
    assert _used(name, r"\.(set|put|set_bits|set_text|set_na)\(\s*{a}"), (
        f"input register {register}: no firmware code writes {name}"
    )


@pytest.mark.parametrize("register", [r[2] for r in ROWS if r[7] != "R"])
def test_every_writable_register_has_a_consumer(register):
    if register in HOST_ONLY:
        pytest.skip(HOST_ONLY[register])
    name = _const_for(register)
    assert _used(name, r"(\.get\(\s*{a}|== {a}|{a} ==)"), (
        f"writable register {register}: no firmware code reads {name} (or declare it host-only)"
    )


def _config_keys():
    text = SOURCES["app/config.py"]
    schema = re.search(r'SCHEMA = """(.*?)"""', text, re.S).group(1)
    tuning = re.search(r'TUNING = """(.*?)"""', text, re.S).group(1)
    keys = [line.split()[0] for line in schema.strip().splitlines() if line.split()[1] != "v"]
    elements = [line.split()[1] for line in tuning.strip().splitlines()]
    return keys + elements


@pytest.mark.parametrize("key", _config_keys())
def test_every_config_key_has_a_reader(key):
    readers = [f for f, t in SOURCES.items() if re.search(rf"[\[(,]\s*\"{key}\"", t)]
    assert readers, f"config key {key}: validated and stored, read by no firmware code"


def _enforced_in_control(key: str) -> bool:
    return any(re.search(rf"\"{key}\"", t) for f, t in SOURCES.items() if f.startswith("control/"))


@pytest.mark.parametrize("key", TRIP_LIMITS)
def test_published_safety_limit_is_enforced(key):
    assert _enforced_in_control(key), f"{key}: published as a safety limit, enforced nowhere"


def test_the_bindings_check_sees_a_dangling_register():
    """The check itself: a row const nobody writes is found."""
    assert not _used("_R_NO_SUCH_REGISTER", r"\.(set|put)\(\s*{a}")
    assert _used("_R_DEW_POINT_C", r"\.(set|put)\(\s*{a}")
