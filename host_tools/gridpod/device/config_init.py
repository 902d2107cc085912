"""`gridpod config init`: a complete, valid starting config file and its key reference.

The firmware refuses a config with a missing or unknown key (so no comment key either), so the
explanations go into a companion text file beside the JSON: every key with its unit, range and
default, the tuning elements by name, and the safety floors. All of it is read from the firmware's
own tables (app/config.py SCHEMA and TUNING, app/config_rules.py), never written twice. The JSON
writes the tuning vectors by element name, which validate and push accept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..boards.check import load_board
from ..build.tree import import_firmware
from ..userfiles import check_output_file, write_text
from .config import ConfigError, firmware_config, with_names

TYPE_WORDS = {"i": "integer", "b": "true|false", "s": "text", "p": "PIN hash", "v": "tuning"}


def reference_path(config_path: Path) -> Path:
    """pod.json -> pod.keys.txt (beside it)."""
    return config_path.with_name(config_path.stem + ".keys.txt")


def _count_roles(pins: dict[str, Any], pattern: str, most: int) -> int:
    return sum(1 for n in range(1, most + 1) if pattern.format(n) in pins)


def board_values(board_name: str | None) -> dict[str, Any]:
    """The schema defaults, fitted to a board file when one is named: the pumps, leak zones and
    supply sensors its pin roles provide, the subsystems it can drive, and a watchdog timeout its
    chip can hold. The result passes the firmware's validator."""
    cfg = firmware_config()
    values = cfg.defaults()
    if board_name is None:
        return values
    board = load_board(board_name)
    pins = board.get("pins", {})
    rows = {row[0]: row for row in cfg.rows()}
    values["pump_count"] = _count_roles(pins, "PUMP{}_PWM", rows["pump_count"][4])
    values["leak_zone_count"] = _count_roles(pins, "LEAK_ZONE{}", rows["leak_zone_count"][4])
    values["supply_temp_sensor_count"] = _count_roles(
        pins, "T_SUPPLY{}", rows["supply_temp_sensor_count"][4]
    )
    values["has_cooling"] = values["pump_count"] > 0
    values["has_battery"] = all(f"K_{p}_COIL" in pins for p in ("NEG", "PRE", "POS"))
    values["has_grid"] = "PCS_ENABLE" in pins
    wdt_max_ms = board.get("wdt_max_ms")
    if wdt_max_ms:
        values["watchdog_timeout_ms"] = min(values["watchdog_timeout_ms"], wdt_max_ms)
    errors = cfg.validate(dict(values))
    if errors:  # a board file this template cannot serve: say so rather than write a bad file
        raise ConfigError(f"board {board_name}: no valid default config ({'; '.join(errors)})")
    return values


def _floors() -> dict[str, str]:
    """key or element -> the safety floor note of app/config_rules.py."""
    rules = import_firmware("app.config_rules")
    notes = {}
    for key, lo, hi, why in getattr(rules, "_SAFETY_FLOORS", ()):
        bound = " and ".join(
            b
            for b in (f">= {lo}" if lo is not None else "", f"<= {hi}" if hi is not None else "")
            if b
        )
        notes[key] = f"safety floor: {bound} ({why})"
    return notes


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (bool, str)) else str(value)


def key_reference(values: dict[str, Any], board_name: str | None, config_name: str) -> str:
    """The companion text: one line per key (and per tuning element) with unit, range, default,
    and the safety floor where the firmware has one."""
    cfg = firmware_config()
    floors = _floors()
    lines = [
        f"Keys of {config_name} (gridpod config init"
        + (f" --board {board_name}" if board_name else "")
        + f"; config version {cfg.CONFIG_VERSION}).",
        "Every key must be present; the firmware refuses unknown keys, so notes live here.",
        "Values are integers in the unit shown (0.1degC = tenths of a degree C, 0.1A = tenths",
        "of an ampere); flags are true or false. Tuning vectors are written by element name",
        "(or as a list in the order below). After editing:",
        f"  gridpod config validate {config_name}",
        f"  gridpod config diff {config_name} --port PORT    (what would change on the board)",
        f"  gridpod config push {config_name} --port PORT",
        "Cross-key rules (tick multiples, watchdog >= 2 x housekeeping, enabled needs has_...) are",
        "checked by validate too.",
        "",
        f"{'key':<28} {'unit':<9} {'allowed':<20} {'this file':<14} note",
    ]
    for key, typ, unit, lo, hi, default, _since in cfg.rows():
        if typ == "v":
            lines.append(f"{key:<28} {'-':<9} see its elements below")
            continue
        if typ == "b":
            allowed = "true|false"
        elif typ == "s":
            allowed = unit if "|" in unit else f"{lo}..{hi} characters"
        elif typ == "p":
            allowed = '"" or a PIN hash'
        else:
            allowed = f"{lo}..{hi}"
        note = floors.get(key, "")
        if values[key] != default:
            note = (f"default {_show(default)}; " + note).strip("; ")
        lines.append(f"{key:<28} {unit:<9} {allowed:<20} {_show(values[key]):<14} {note}".rstrip())
    for key in [row[0] for row in cfg.rows() if row[1] == "v"]:
        lines += ["", f"{key} elements, in order:"]
        for i, (name, unit, lo, hi, _default) in enumerate(cfg.tuning_rows(key)):
            allowed = f"{lo}..{hi}"
            note = floors.get(name, "")
            lines.append(
                f"  [{i:>2}] {name:<22} {unit:<9} {allowed:<20} {values[key][i]:<14} {note}".rstrip()
            )
    return "\n".join(lines) + "\n"


def init(out: Path, board_name: str | None = None, force: bool = False) -> dict[str, Any]:
    """Write a complete config file at `out` and its key reference beside it; refuses to replace
    either unless force. Returns what was written (paths, crc)."""
    out = Path(out)
    ref = reference_path(out)
    values = board_values(board_name)  # board typos are refused before a file is touched
    for path, what in ((out, "config file"), (ref, "key reference")):
        check_output_file(path, what)  # a folder, a missing folder, no write permission
        if not force and (path.exists() or path.is_symlink()):
            raise ConfigError(
                f"{path} exists: choose another name, or pass --force to replace {out.name} "
                f"and {ref.name}"
            )
    write_text(out, json.dumps(with_names(values), indent=2) + "\n", "config file", force)
    write_text(ref, key_reference(values, board_name, out.name), "key reference", force)
    crc = firmware_config().config_crc(values)
    return {"config": out, "reference": ref, "keys": len(values), "crc": f"{crc:08x}"}
