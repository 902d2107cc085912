"""The host side of a config push's trial (firmware/app/config_trial.py): the candidate written
next to the config, and the wait for the board's verdict after the restart. Used by
device/config.py push()."""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

from .. import GridpodError
from .service import ServiceError
from .session import Device, DeviceError

# firmware/app/config_trial.py's files
CANDIDATE_PATH = "/config.json.new"
RESULT_PATH = "/config.result"
MARKER_PATHS = ("/config.trial", "/config.trial.tmp")
TRIAL_ROUNDS = 3  # firmware/app/housekeeping.py: housekeeping rounds before the verdict
BOOT_S = 30.0  # a boot until the application answers (as restart_app's banner wait)


class TrialError(GridpodError):
    """The candidate could not be written, or the board gave no verdict on it."""


def has_trial(dev: Device, app: dict[str, Any] | None) -> bool:
    """Does the board's firmware try a pushed config before it commits it? A running
    application says so in its status; a stopped one is asked at the raw REPL."""
    if app is not None:
        return "config_trial" in app
    try:
        dev.exec("import app.config_trial")
    except DeviceError:
        return False
    return True


def write_candidate(dev: Device, port: str, data: bytes) -> None:
    """/config.json.new, whole and checked, with no marker or outcome of an older push left:
    /config.json is not touched (a power loss here leaves the board on its config)."""
    tmp = CANDIDATE_PATH + ".tmp"
    dev.write_file(tmp, data)
    if dev.hashes([tmp])[tmp] != hashlib.sha256(data).hexdigest():
        raise TrialError(f"{port}: upload of {tmp} corrupted; /config.json left unchanged")
    stale = MARKER_PATHS + (RESULT_PATH,)
    dev.exec(f"import os\nfor p in {stale!r}:\n try: os.remove(p)\n except OSError: pass")
    dev.rename(tmp, CANDIDATE_PATH)


# What the firmware prints (app/config_trial.py): the commit, and the banner of the boot that
# restored the previous config (its config note).
COMMITTED = re.compile(rb"gridpod: config crc32 ([0-9a-f]{8}) committed")
NOT_KEPT = re.compile(rb"; the pushed config was not kept: ([^\r\n]*)[\r\n]")
QUIET_S = 1.0  # console quiet this long after a restoring boot's banner: its loop runs


def wait_trial(
    dev: Device, housekeeping_ms: int, boot_s: float = BOOT_S
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Restart the application and wait for the board's verdict on the candidate:
    ({"result": "committed"|"restored", ...}, the application's status then, None if it did not
    answer). Nothing is sent while a board boots (a request then lands in the first ticks of a
    module that may have no heap to spare): the console is read until the firmware says it
    committed the config, or until a boot that restored the previous config is up and quiet;
    then the service channel gives /config.result and the status. An application that stopped
    at the REPL (no trial handler reset it: an older firmware) is soft-reset once: its next boot
    restores."""
    dev.soft_restart()
    serial = dev.transport.serial
    serial.timeout = 0.05
    wait_s = 2 * boot_s + TRIAL_ROUNDS * housekeeping_ms / 1000
    deadline = time.monotonic() + wait_s
    seen = bytearray()
    last_rx = time.monotonic()
    kicked = False
    verdict: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        chunk = serial.read(serial.in_waiting or 1)
        if chunk:
            seen += chunk
            last_rx = time.monotonic()
        m = COMMITTED.search(seen)
        if m:
            verdict = {"result": "committed", "crc32": m.group(1).decode()}
            break
        m = NOT_KEPT.search(seen)
        if m and time.monotonic() - last_rx >= QUIET_S:
            verdict = {"result": "restored", "reason": m.group(1).decode(errors="replace")}
            break
        if not kicked and b"Traceback" in seen and seen.endswith(b">>> "):
            # it stopped at the REPL (no trial handler reset it: an older firmware)
            dev.soft_restart()
            serial.timeout = 0.05
            kicked = True
            seen.clear()
    if verdict is None:
        raise TrialError(
            f"{dev.port}: no verdict on the new config within {wait_s:.0f} s (the application "
            f"does not start): read its console with `mpremote connect {dev.port} repl`; at its "
            "next boot the board restores the previous config"
        )
    status = dev.probe()
    if status is not None:
        try:
            raw = dev.service.read_file(RESULT_PATH)
            verdict = json.loads(raw) if raw else verdict
        except (ServiceError, TimeoutError, ValueError):
            pass  # the console's verdict stands
    return verdict, status
