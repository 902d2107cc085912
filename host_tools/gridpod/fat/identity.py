"""The identity of a unit as the unit itself reports it, read through ONE function.

    ident = read_unit_identity(console_port, modbus)   # either may be None

A FAT certificate must name the unit it certifies from what the unit says, never from the host's
files: the deploy id of the firmware on its flash (what `gridpod doctor` prints as "deploy ..."),
the config CRC it runs with, its MicroPython, board file, chip unique id and module id.

Transports: the Modbus identity block (firmware version, board id, config CRC, module id, map
version and CRC) and the console. On the console the running application answers a status request
on its service channel (docs/service-channel.md: deploy id, board, MicroPython, unique id, config
CRC, module id): the module keeps running. Only a unit whose application does not answer (stopped,
or firmware older than the channel) is read through the raw REPL (/manifest.json, /board.json,
/config.json, sys.implementation, machine.unique_id), which stops it; this function then restarts
it before it returns.

Every field is a dict entry; a field the unit could not give is None and `sources` says which
transport gave each one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_UNIQUE_ID_PROBE = """
import json
uid = None
try:
    import machine
    uid = machine.unique_id()
except (ImportError, AttributeError):
    try:
        import _vboard
        uid = _vboard.hello.get('unique_id')
    except ImportError:
        pass
if isinstance(uid, (bytes, bytearray)):
    import binascii
    uid = binascii.hexlify(uid).decode()
print(json.dumps(uid))
"""

FIELDS = (
    "firmware_hash",  # deploy id of the firmware on the unit (/manifest.json "id")
    "firmware_version",  # app/version.py as the register map publishes it, "0.4"
    "config_crc",  # crc32 of the config the unit runs with, 8 hex digits
    "micropython",  # "1.29.0 (linux, mpy v6.3 x64)"
    "board",  # /board.json "board"
    "board_id",  # identity register board_id
    "unique_id",  # machine.unique_id() in hex
    "module_id",  # config module_id as the unit publishes it
    "map_version",
    "map_crc",
)


def read_unit_identity(
    console_port: str | None = None,
    modbus=None,
    log: Callable[[str], None] = lambda _line: None,
    restart: bool = True,
) -> dict[str, Any]:
    """{field: value} for FIELDS plus "sources" {field: "service channel" | "console" |
    "modbus"} ("console": the raw REPL, where no application answered). modbus: an open
    gridpod.modbus.client.GridpodModbus (its identity block is read again here). restart: give
    the application back after a raw REPL read (a soft reset, as `gridpod config push` does)."""
    ident: dict[str, Any] = dict.fromkeys(FIELDS)
    sources: dict[str, str] = {}
    if modbus is not None:
        block = modbus.read_identity()
        fw = block["firmware_version"]
        values = {
            "firmware_version": None if fw is None else f"{fw >> 8}.{fw & 0xFF}",
            "config_crc": None if block["config_crc"] is None else f"{block['config_crc']:08x}",
            "board_id": block["board_id"],
            "module_id": block["module_id"],
            "map_version": block["map_version"],
            "map_crc": block["map_crc"],
        }
        for key, value in values.items():
            ident[key] = value
            sources[key] = "modbus"
    if console_port is not None:
        values, via = _console_identity(console_port, log, restart)
        for key, value in values.items():
            if ident.get(key) is None:
                ident[key] = value
                sources[key] = via
    ident["sources"] = sources
    return ident


def _console_identity(port: str, log, restart: bool) -> tuple[dict[str, Any], str]:
    """(values, how they were read) from the console: the running application's status when it
    answers, else the raw REPL (the application restarted after it when restart is set)."""
    from ..device.session import Device

    # read_only: while an application answers, nothing here may enter the raw REPL
    with Device(port, log=log, read_only=True) as dev:
        app = dev.probe()
        impl = dev.implementation()
        if app is not None:
            return _status_identity(app, impl), "service channel"
        values = _repl_identity(dev, impl)
        if restart:
            dev.restart_app()
    return values, "console"


def _micropython(impl: dict[str, Any]) -> dict[str, Any]:
    return {
        "micropython": f"{impl['version']} ({impl['platform']}, mpy v{impl['mpy_version']}."
        f"{impl['mpy_sub_version']} {impl['mpy_arch']})",
        "micropython_version": impl["version"],
        "mpy_arch": impl["mpy_arch"],
    }


def _status_identity(app: dict[str, Any], impl: dict[str, Any]) -> dict[str, Any]:
    """The identity in the application's status (app/service_answers.py). A rejected config
    (maintenance mode on the defaults) has no CRC and no module id to name."""
    invalid = app.get("config_status") == "invalid"
    return {
        "firmware_hash": app.get("deploy"),
        **_micropython(impl),
        "board": app.get("board"),
        "unique_id": app.get("unique_id"),
        "config_crc": None if invalid else app.get("config_crc32"),
        "module_id": None if invalid else app.get("module_id"),
    }


def _repl_identity(dev, impl: dict[str, Any]) -> dict[str, Any]:
    """The identity read file by file through the raw REPL (no application answers)."""
    from ..device.config import firmware_config, read_device

    board = (dev.read_json("/board.json") or {}).get("board")
    manifest = dev.read_json("/manifest.json") or {}
    unique_id = dev.exec_json(_UNIQUE_ID_PROBE)
    values, errors, raw = read_device(dev)
    cfg = firmware_config()
    if raw is None:
        config_crc = f"{cfg.config_crc(cfg.defaults()):08x}"  # the schema defaults it runs on
    elif errors or values is None:
        config_crc = None  # rejected: maintenance mode on the defaults, no config to name
    else:
        config_crc = f"{cfg.config_crc(values):08x}"
    return {
        "firmware_hash": manifest.get("id"),
        **_micropython(impl),
        "board": board,
        "unique_id": unique_id,
        "config_crc": config_crc,
        "module_id": (values or {}).get("module_id"),
    }


def expected_firmware_hash(board: str, mpy_arch: str | None, firmware_dir=None) -> str:
    """The deploy id `gridpod deploy` gives this firmware tree for this board and arch: what the
    unit's firmware hash must equal when it runs that release."""
    from ..device.deploy import FIRMWARE_DIR, build

    _files, manifest = build(board, mpy_arch, firmware_dir or FIRMWARE_DIR)
    return manifest["id"]
