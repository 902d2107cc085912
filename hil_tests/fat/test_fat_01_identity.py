"""FAT section 1: the production config and the unit's identity, as the unit reports them.

The session pushed the unit's production config with `gridpod config push` before any test
(conftest.py); these steps check that push and then identify the unit from what it says: the
deploy id of the firmware on its flash (what `gridpod doctor` prints), every file of that firmware
against its manifest, the config CRC it runs with, MicroPython, board, unique id and module id.
Reading the unit never stops it: its application answers on the console's service channel
(docs/service-channel.md); the one step here that must stop it (the REPL check) gives it back.
"""

import json
import re

import pytest
from gridpod.device.config import firmware_config, pull
from gridpod.device.doctor import probe as doctor_probe
from gridpod.device.session import Device, DeviceError
from gridpod.fat.identity import expected_firmware_hash, read_unit_identity
from gridpod.hil.strategy import boot_banners

SECTION = "Identity and configuration"
pytestmark = pytest.mark.needs("console")


def _crc(unit) -> str:
    return f"{firmware_config().config_crc(unit.values):08x}"


@pytest.mark.req("REQ-CFG-002")
@pytest.mark.needs("console_log")
def test_production_config_pushed_and_applied(unit, measure, tmp_path):
    crc = _crc(unit)
    measure("REQ-CFG-002", "CRC written and read back by config push", unit.push_result["crc"],
            equals=crc)  # fmt: skip
    banner = boot_banners(unit.bench.console_log.text_since(0))[-1]
    reported = re.search(r"crc32 ([0-9a-f]{8})", banner)
    measure("REQ-CFG-002", "CRC the application reports at boot",
            reported.group(1) if reported else banner, equals=crc)  # fmt: skip
    measure("REQ-CFG-002", "module id at boot", banner.split()[0],
            equals=unit.values["module_id"])  # fmt: skip
    out = tmp_path / "pulled.json"
    pulled = pull(unit.bench.console.port, out, log=lambda _line: None)
    measure("REQ-CFG-002", "CRC of the config pulled back", pulled["crc"], equals=crc)
    measure("REQ-CFG-002", "keys pulled back that differ", sum(
        1 for k, v in json.loads(out.read_text()).items() if unit.values.get(k) != v), high=0)  # fmt: skip


@pytest.mark.req("REQ-ID-001")
def test_firmware_hash_read_from_the_unit(unit, measure):
    ident = unit.identity
    fw_dir = unit.bench.firmware_dir
    expected = expected_firmware_hash(ident["board"], ident.get("mpy_arch"), fw_dir)
    measure("REQ-ID-001", "firmware hash (deploy id on the unit)", ident["firmware_hash"],
            equals=expected)  # fmt: skip


@pytest.mark.req("REQ-ID-002")
def test_every_firmware_file_matches_its_manifest(unit, measure):
    # the running application hashes its files itself (the service channel's deploy check) and
    # keeps running; the raw REPL (then a restart) only where no application answers
    with Device(unit.bench.console.port, log=lambda _line: None, read_only=True) as dev:
        check = dev.service.verify_deploy() if dev.probe() is not None else None
        if check is None:
            files = (dev.read_json("/manifest.json") or {}).get("files", {})
            live = dev.hashes(sorted(files))
            wrong = sorted(p for p, h in files.items() if live.get(p) != h)
            check = {"files": len(files), "bad": len(wrong), "first": ", ".join(wrong[:3])}
    unit.restart_app()  # nothing to do unless the raw REPL stopped it
    measure("REQ-ID-002", "files in the unit's manifest", check["files"], low=1)
    measure("REQ-ID-002", "files that differ from the manifest", check["bad"], high=0,
            note=check.get("first") or "")  # fmt: skip


@pytest.mark.req("REQ-ID-008")
def test_reading_the_unit_leaves_it_running(unit, measure, tmp_path):
    # What a technician's tools read over the console while the module runs (doctor, config
    # pull, identity, event log, firmware check): the application answers them from its scan
    # loop and runs on; a read-only session may not enter the raw REPL (Ctrl-C) meanwhile.
    port = unit.bench.console.port
    t = unit.now_ms()
    with Device(port, log=lambda _line: None, read_only=True) as dev:
        before = dev.probe() or {}
    doctor_probe(port)
    pull(port, tmp_path / "pulled.json", log=lambda _line: None)
    read_unit_identity(port, log=lambda _line: None)
    with Device(port, log=lambda _line: None, read_only=True) as dev:
        dev.probe()
        # the event log's first chunk (its size comes with it): one request, as a bench at the
        # real tick rate pays 0.1 s per chunk (unit.events() reads the whole log elsewhere)
        head = dev.service.request("R", bytes(4) + (256).to_bytes(2, "big") + b"/events.bin")
        dev.service.verify_deploy()
        try:
            dev.exec("pass")
            refused = 0
        except DeviceError:
            refused = 1
        after = dev.probe() or {}
    measure("REQ-ID-008", "event log size read while running", int.from_bytes(head[:4], "big"),
            "B", low=1, note=f"first {len(head) - 4} B read")  # fmt: skip
    measure("REQ-ID-008", "raw REPL refused to a read-only session", refused, equals=1)
    measure("REQ-ID-008", "boot number after the reads", after.get("boot"),
            equals=before.get("boot", "a running application"))  # fmt: skip
    measure("REQ-ID-008", "run mode after the reads", after.get("mode"), equals="normal")
    if unit.plant is not None:
        drops = [ms for ms, v in unit.edges("HEALTHY_RELAY", after_ms=t) if v == 0]
        measure("REQ-ID-008", "healthy relay drops during the reads", len(drops), high=0)


@pytest.mark.req("REQ-ID-003")
def test_micropython_runs_the_firmware_s_bytecode(unit, measure):
    from gridpod.build.tree import mpy_cross_version

    ident = unit.identity
    major, minor = (int(x) for x in ident["micropython_version"].split(".")[:2])
    measure("REQ-ID-003", "MicroPython version (major.minor)", major + minor / 100, low=1.25,
            note=f"{ident['micropython']}; ROMFS (the full module's layout) needs 1.25")  # fmt: skip
    compiler = re.search(r"mpy v(\d+\.\d+)", mpy_cross_version())
    running = re.search(r"mpy v(\d+\.\d+)", ident["micropython"])
    measure("REQ-ID-003", "bytecode (mpy) version of the unit", running.group(1),
            equals=compiler.group(1) if compiler else "no mpy-cross")  # fmt: skip


@pytest.mark.req("REQ-ID-004")
def test_board_file_and_board_id(unit, measure):
    from gridpod.modbus.register_map import fw

    ident = unit.identity
    measure("REQ-ID-004", "board file on the unit", ident["board"], equals=unit.bench.board_name
            or ident["board"])  # fmt: skip
    if ident.get("board_id") is not None:
        name = ident["board"].encode()
        measure("REQ-ID-004", "board id register", ident["board_id"], equals=fw.crc16(name))


@pytest.mark.req("REQ-ID-005")
def test_unique_id_is_read(unit, measure):
    uid = unit.identity.get("unique_id") or ""
    plausible = bool(re.fullmatch(r"[0-9a-f]{8,32}", uid)) and len(set(uid)) > 1
    measure("REQ-ID-005", "unique id (hex, 8-32 digits, not blank)", uid,
            equals=uid if plausible else "a unique id")  # fmt: skip


@pytest.mark.req("REQ-ID-006", "REQ-ID-007")
@pytest.mark.needs("modbus")
def test_module_id_and_config_crc_over_modbus(unit, measure):
    ident = unit.identity
    measure("REQ-ID-006", "module id register", ident["module_id"], equals=unit.values["module_id"])
    measure("REQ-ID-007", "config CRC register", ident["config_crc"], equals=_crc(unit))


@pytest.mark.req("REQ-BOOT-001")
@pytest.mark.needs("console_log")
def test_boot_banner_names_module_and_board(unit, measure):
    banner = boot_banners(unit.bench.console_log.text_since(0))[-1]
    measure("REQ-BOOT-001", "module id in the boot banner", banner.split()[0],
            equals=unit.values["module_id"])  # fmt: skip
    board = re.search(r" board (\S+) ", banner)
    measure("REQ-BOOT-001", "board in the boot banner", board.group(1) if board else banner,
            equals=unit.identity["board"])  # fmt: skip


@pytest.mark.req("REQ-BOOT-002")
def test_console_repl_answers(unit, measure):
    # The one step of this section that must stop the application: mpremote reaches the REPL
    # through Ctrl-C. The step gives the application back and sees it answer again.
    out = unit.bench.console.exec("import sys; print(sys.implementation.name)")
    measure("REQ-BOOT-002", "sys.implementation.name", out.strip(), equals="micropython")
    unit.restart_app()
    with Device(unit.bench.console.port, log=lambda _line: None, read_only=True) as dev:
        app = dev.probe() or {}
    measure("REQ-BOOT-002", "application running again after the REPL session (mode)",
            app.get("mode", "not answering"), equals="normal")  # fmt: skip
