"""Read a module's event log (/events.bin) on the host, with the firmware's own reader."""

import tempfile
from pathlib import Path

from ..build.tree import import_firmware


def event_names() -> dict[int, str]:
    mod = import_firmware("app.eventlog")
    return {getattr(mod, n): n[3:].lower() for n in dir(mod) if n.startswith("EV_")}


def read_events(data: bytes) -> list[dict]:
    """Records oldest first: seq, uptime_ms, boot, event, arg1, arg2. Torn records are skipped.
    Fault records also carry fault (its name), and a raise its severity and sub-code (which
    sensor, pump, zone: firmware/control/fault_rows.py); a config_restored record its reason
    (refused, crashed, reset, unhealthy: firmware/app/config_trial.py)."""
    from ..modbus.faults import SEVERITIES, fault_name

    mod = import_firmware("app.eventlog")
    names = event_names()
    trial = import_firmware("app.config_trial")
    reasons = {getattr(trial, n): n[9:].lower() for n in dir(trial) if n.startswith("RESTORED_")}
    slots = len(data) // mod.RECORD_BYTES
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.bin"
        path.write_bytes(data)
        log = mod.EventLog(str(path), slots)
        log.open()
        records = log.read()
    keys = ("seq", "uptime_ms", "boot", "code", "arg1", "arg2")
    out = []
    for rec in records:
        d = dict(zip(keys, rec, strict=True))
        d["event"] = names.get(d["code"], f"code {d['code']}")
        if d["event"] in ("fault_raised", "fault_cleared"):
            d["fault"] = fault_name(d["arg1"])
        if d["event"] == "fault_raised":
            d["severity"] = SEVERITIES.get(d["arg2"] & 0xFF, str(d["arg2"] & 0xFF))
            d["sub"] = d["arg2"] >> 8
        if d["event"] == "config_restored":
            d["reason"] = reasons.get(d["arg1"], f"code {d['arg1']}")
        out.append(d)
    return out


def read_device_events(port: str) -> list[dict]:
    """The event log of the board on port: from the running application's service channel
    (it keeps running), or through the raw REPL when no application answers."""
    from .session import Device

    with Device(port, log=lambda _line: None, read_only=True) as dev:
        dev.probe()
        data = dev.read_file("/events.bin")
    return read_events(data) if data else []
