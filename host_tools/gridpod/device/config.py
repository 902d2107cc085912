"""`gridpod config validate|push|pull|diff`: the module config, checked by the FIRMWARE's own code.

The schema, canonical JSON, CRC32 and validation are firmware/app/config.py and config_schema.py,
imported here on CPython (with the `micropython` shim of firmware/tests/shim), never re-written.

Files on the host: either the values object {"module_id": ..., ...} (what `pull` and `init` write,
easy to edit) or the device's document {"config": {...}, "crc32": N, "version": 1} (CRC checked).
In the values object a tuning vector may be written by element name, {"precharge_tau_ms": 470,
...} (every element, any order): the host turns it into the board's list before the firmware's
validator sees it, so the board keeps its compact vectors (the names cost heap there).
On the device a push is a trial (firmware/app/config_trial.py): the file goes to
/config.json.new (written as .tmp, hashed, then renamed), a soft reset starts the application
with it, and the board commits it (/config.json, the previous one kept as /config.json.prev) only
once the application ran healthy with it; otherwise the next boot restores the previous config
and says why in /config.result. The push waits for that outcome, reading the console while the
board boots (sending nothing), then asks the service channel; it fails (non-zero exit) with the
board's reason when the previous config was restored.
A firmware older than the trial gets the file as before: /config.json.tmp renamed over
/config.json, read back, and the boot banner's CRC checked.
pull, diff and the read before a push go through the running application's service channel (it
keeps running); a push that writes stops the application (it says so and asks first), and the
soft reset that applies the new config starts it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import GridpodError
from ..build.tree import import_firmware
from ..userfiles import PathError, check_output_file, read_bytes, write_bytes, write_text
from .config_trial import CANDIDATE_PATH, has_trial, wait_trial, write_candidate
from .session import Device

DEVICE_PATH = "/config.json"


class ConfigError(GridpodError):
    """A config file or device config was rejected; nothing was written."""


def firmware_config() -> ModuleType:
    """The firmware's app.config module, importable on CPython."""
    return import_firmware("app.config")


def units() -> dict[str, str]:
    return {row[0]: row[2] for row in firmware_config().rows()}


def tuning_keys() -> list[str]:
    """The config keys that are tuning vectors (type v), in schema order."""
    return [row[0] for row in firmware_config().rows() if row[1] == "v"]


def vectors_from_names(doc: dict[str, Any]) -> list[str]:
    """Turn every tuning vector written by element name ({"name": value}) into the board's list,
    in place; returns the unknown and missing names (with unit and range). A missing element is
    filled with its default only so that the firmware's validator can still report every other
    problem of the file at once; the file stays rejected."""
    cfg = firmware_config()
    errors = []
    for key in tuning_keys():
        named = doc.get(key)
        if not isinstance(named, dict):
            continue
        elements = list(cfg.tuning_rows(key))
        names = [e[0] for e in elements]
        for name in sorted(set(named) - set(names)):
            errors.append(f"{key}.{name}: unknown element (known: {' '.join(names)})")
        for name, unit, lo, hi, _default in elements:
            if name not in named:
                errors.append(f"{key}.{name}: missing [{unit}, {lo}..{hi}]")
        doc[key] = [named.get(name, default) for name, _u, _lo, _hi, default in elements]
    return errors


def with_names(values: dict[str, Any]) -> dict[str, Any]:
    """A copy of `values` with each tuning vector as {element name: value}, in element order."""
    cfg = firmware_config()
    out = dict(values)
    for key in tuning_keys():
        vector = values.get(key)
        names = [e[0] for e in cfg.tuning_rows(key)]
        if isinstance(vector, list) and len(vector) == len(names):
            out[key] = dict(zip(names, vector, strict=True))
    return out


def parse_bytes(data: bytes, what: str) -> tuple[dict[str, Any] | None, list[str]]:
    """(values, errors) of a config file's bytes, by the firmware's rules."""
    cfg = firmware_config()
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeError) as exc:
        return None, [f"{what}: not valid JSON ({exc})"]
    if isinstance(doc, dict) and "config" in doc:
        import io

        return cfg.parse(io.StringIO(data.decode()))
    named_errors = vectors_from_names(doc) if isinstance(doc, dict) else []
    errors = named_errors + cfg.validate(doc)
    return (doc if isinstance(doc, dict) else None), errors


def validate_file(path: Path) -> dict[str, Any]:
    """The file's values; ConfigError listing every problem (key and unit) otherwise."""
    try:
        data = read_bytes(path, "config file")
    except PathError as exc:
        raise ConfigError(str(exc)) from None
    values, errors = parse_bytes(data, str(path))
    if errors:
        raise ConfigError(
            f"{path}: {len(errors)} error(s), nothing written:\n  " + "\n  ".join(errors)
        )
    assert values is not None
    return values


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """One line per changed key: key: old -> new [unit]; a tuning vector one line per changed
    element, by name: key[i] name: old -> new [unit]."""
    cfg = firmware_config()
    unit = units()
    old = old or {}
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if a == b:
            continue
        elements = list(cfg.tuning_rows(key))
        if elements and isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (name, u, *_rest) in enumerate(elements):
                if i < len(a) and a[i] != b[i]:
                    lines.append(f"{key}[{i}] {name}: {a[i]} -> {b[i]} [{u}]")
            continue
        lines.append(f"{key}: {json.dumps(a)} -> {json.dumps(b)} [{unit.get(key, '?')}]")
    return lines


def read_device(dev: Device) -> tuple[dict[str, Any] | None, list[str], bytes | None]:
    """(values, errors, raw bytes) of the device's /config.json; (None, [], None) when absent."""
    raw = dev.read_file(DEVICE_PATH)
    if raw is None:
        return None, [], None
    values, errors = parse_bytes(raw, DEVICE_PATH)
    return values, errors, raw


def running_values(
    values: dict[str, Any] | None, errors: list[str], raw: bytes | None
) -> tuple[dict[str, Any], str]:
    """(the values the application runs with, a note saying where they come from) for what
    read_device() found: with no /config.json, or a rejected one (maintenance mode), the app
    runs on the schema defaults (app/config.py ConfigStore.load)."""
    if raw is None:
        return firmware_config().defaults(), f"no {DEVICE_PATH}: the board runs on schema defaults"
    if errors or values is None:
        return firmware_config().defaults(), (
            f"{DEVICE_PATH} rejected ({len(errors)} error(s), first: {errors[0] if errors else '?'})"
            ": the board runs on schema defaults in maintenance mode"
        )
    return values, f"{DEVICE_PATH} crc32 {firmware_config().config_crc(values):08x}"


def pull(
    port: str, out: Path, log: Callable[[str], None] = print, names: bool = False
) -> dict[str, Any]:
    """Save the values the board runs with as an editable values file (`names`: tuning vectors
    by element name). A board without /config.json gives its schema defaults. A running
    application is asked on its service channel and keeps running."""
    check_output_file(out, "output file")  # before the board is touched
    with Device(port, log=log, read_only=True) as dev:
        dev.probe()
        values, errors, raw = read_device(dev)
    if errors:
        copy = Path(str(out) + ".device")
        write_bytes(copy, raw or b"", "raw copy")
        raise ConfigError(
            f"{port}: device config invalid ({'; '.join(errors)}); raw copy in {copy}"
        )
    running, note = running_values(values, errors, raw)
    if raw is None:
        log(f"{port}: {note}; writing them")
    if names:  # for people: schema order, tuning by element name
        order = [row[0] for row in firmware_config().rows()]
        running = {key: running[key] for key in order if key in running}
    shown = with_names(running) if names else running
    write_text(out, json.dumps(shown, indent=2, sort_keys=not names) + "\n", "output file")
    crc = firmware_config().config_crc(running)
    what = "the schema defaults" if raw is None else "the config"
    return {
        "port": port,
        "crc": f"{crc:08x}",
        "summary": f"pulled {what} (crc32 {crc:08x}) to {out}",
    }


def diff_device(port: str, path: Path, log: Callable[[str], None] = print) -> list[str]:
    """The file against the values the board runs with (the schema defaults when it has no
    /config.json or rejected it: the board says which)."""
    new = validate_file(path)
    with Device(port, log=log, read_only=True) as dev:
        dev.probe()
        found = read_device(dev)
    old, note = running_values(*found)
    log(f"{port}: compared with what runs: {note}")
    return diff(old, new)


def push(
    port: str,
    path: Path,
    yes: bool = False,
    ask: Callable[[str], str] = input,
    log: Callable[[str], None] = print,
    restart: bool = True,
) -> dict[str, Any]:
    """Validate, show the diff, confirm, write the candidate, restart and wait for the board's
    verdict: committed, or the previous config restored (ConfigError with the board's reason)."""
    cfg = firmware_config()
    values = validate_file(path)  # rejected files never reach the device
    data = cfg.encode(values)
    crc = cfg.config_crc(values)
    with Device(port, log=log) as dev:
        app = dev.probe()
        live = app is not None
        old, errors, raw = read_device(dev)
        running, note = running_values(old, errors, raw)
        changes = diff(running, values)
        if raw == data:
            log(f"{port}: device already holds this config (crc32 {crc:08x}), nothing written")
            return {"port": port, "crc": f"{crc:08x}", "summary": f"unchanged, crc32 {crc:08x}"}
        if live and not restart:
            raise ConfigError(
                f"{port}: the application is running: writing the config stops it and the "
                "restart that applies it starts it again; drop --no-restart (nothing written)"
            )
        log(f"{port}: compared with what runs: {note}")
        same = (
            "(the same values as the schema defaults it runs on: writing them as its config)"
            if raw is None
            else "(same values, file bytes differ: rewriting canonical form)"
        )
        for line in changes or [same]:
            log("  " + line)
        stops = (
            " This stops the application (outputs safe, contactors open) and restarts it with"
            " the new config."
            if live
            else ""
        )
        if yes:
            if stops:
                log(f"{port}:{stops}")
        elif ask(f"write {len(changes)} change(s) to {port}?{stops} [y/N] ").strip() not in (
            "y",
            "yes",
        ):
            runs_on = ", the application runs on" if live else ""
            raise ConfigError("not confirmed: nothing written" + runs_on)
        if live:
            dev.stop_app()
        result = {"port": port, "crc": f"{crc:08x}", "changes": changes}
        if not has_trial(dev, app):
            return _push_direct(dev, port, data, crc, restart, log, result)
        write_candidate(dev, port, data)
        log(f"{port}: written as the candidate {CANDIDATE_PATH} (crc32 {crc:08x}), read back")
        if not restart:
            result["summary"] = (
                f"{len(changes)} change(s), crc32 {crc:08x} written as the candidate: the "
                "application tries it at its next start and keeps it only if it runs healthy"
            )
            return result
        log(f"{port}: restarting; the board keeps it once the application runs healthy with it")
        verdict, status = wait_trial(dev, values["housekeeping_ms"])
        if verdict.get("result") != "committed":
            raise ConfigError(
                f"{port}: the module did not start with the new config; the previous config "
                f"was restored: {verdict.get('reason', '?')}"
            )
        runs = (status or {}).get("config_crc32")
        if verdict.get("crc32") != f"{crc:08x}" or runs != f"{crc:08x}":
            raise ConfigError(
                f"{port}: the board committed crc32 {verdict.get('crc32')} and runs "
                f"{runs}, not crc32 {crc:08x}: push again"
            )
        log(f"{port}: committed: the application runs healthy with it (boot #{status['boot']})")
        result["summary"] = f"{len(changes)} change(s), crc32 {crc:08x} committed"
        return result


def _push_direct(
    dev: Device,
    port: str,
    data: bytes,
    crc: int,
    restart: bool,
    log: Callable[[str], None],
    result: dict[str, Any],
) -> dict[str, Any]:
    """A firmware without the trial: /config.json replaced atomically, read back, and the
    restarted application's banner must report its CRC (no rollback: deploy a newer firmware)."""
    cfg = firmware_config()
    log(f"{port}: this firmware has no config trial: writing {DEVICE_PATH} directly")
    tmp = DEVICE_PATH + ".tmp"
    dev.write_file(tmp, data)
    if dev.hashes([tmp])[tmp] != hashlib.sha256(data).hexdigest():
        raise ConfigError(f"{port}: upload of {tmp} corrupted; {DEVICE_PATH} left unchanged")
    dev.rename(tmp, DEVICE_PATH)
    back, errors, _ = read_device(dev)
    if errors or back is None or cfg.config_crc(back) != crc:
        raise ConfigError(f"{port}: read-back of {DEVICE_PATH} does not match: {errors}")
    log(f"{port}: written and read back, crc32 {crc:08x}")
    if restart:
        banner = dev.restart_app()
        if f"crc32 {crc:08x}" not in banner["note"]:
            raise ConfigError(
                f"{port}: app restarted but reports '{banner['note']}', not crc32 {crc:08x}"
            )
        log(f"{port}: app restarted with it ({banner['note']})")
    result["summary"] = f"{len(result['changes'])} change(s), crc32 {crc:08x} verified"
    return result
