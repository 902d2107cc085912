"""FAT section 9: the platform's own safety: what a bad config, a stopped application, a brown-out
and a cyclic reset do. Each step gives the unit back with its production config, running.

A config the unit must refuse (a corrupt file, or a valid one that switches a protection off)
boots into maintenance mode: coils never energised, the healthy relay released (alarm). Stopping
the application (Ctrl-C, as a tool on the console does) releases the healthy relay and opens the
maintenance window (docs/service-channel.md), announced with its length. A brown-out
reboot never re-closes the battery and leaves a latched alarm. Fault resets are rate limited: a
fourth within 10 minutes is refused and locks resets until a reboot.
"""

import re

import pytest
from gridpod.device.config import firmware_config
from gridpod.device.session import Device
from gridpod.hil.strategy import BOOT_BANNER
from gridpod.modbus.client import DeviceRefusedError

SECTION = "Platform safety"
pytestmark = pytest.mark.needs("console", "console_log", "plant", "power", "modbus")
COILS = ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL")
BROWN_OUT = 34  # app/platform_faults.py


def _lines(unit, since: int) -> list[str]:
    text = unit.bench.console_log.text_since(since)
    return [
        line[line.index("gridpod:") :].strip() for line in text.splitlines() if "gridpod:" in line
    ]


def _write_config(unit, data: bytes) -> None:
    """A config written as a technician's tool writes it: the application is stopped first (the
    raw REPL); the step's power cycle then boots it with that config."""
    with Device(unit.bench.console.port, log=lambda _line: None) as dev:
        dev.stop_app()
        dev.write_file("/config.json", data)


def _encode(values) -> bytes:
    data = firmware_config().encode(values)
    return data if isinstance(data, bytes) else data.encode()


def _refused_configs(unit) -> dict:
    corrupt = b'{"config": {"module_id": "X", "modbus_unit": 900}, "crc32": 1, "version": 1'
    off = dict(unit.values, has_cooling=False)  # a battery with no coolant proof
    return {"corrupt": (corrupt, "REQ-SAFE-001"), "protection_off": (_encode(off), "REQ-SAFE-002")}


@pytest.mark.req("REQ-SAFE-001", "REQ-SAFE-002")
@pytest.mark.parametrize("config", ["corrupt", "protection_off"])
def test_a_config_the_unit_must_refuse_boots_maintenance_mode(ready, measure, request, config):
    unit = ready
    data, req = _refused_configs(unit)[config]
    request.node.user_properties[:] = [
        p for p in request.node.user_properties if p[0] != "requirement" or p[1] == req
    ]
    measure.reqs = {req}
    production = _encode(unit.values)
    _write_config(unit, data)
    try:
        since = unit.bench.console_log.mark()
        unit.power_cycle()
        boot = unit.bench.harness.boot.boot_sim_ms
        unit.wait(5.0)
        lines = _lines(unit, since)
        measure(req, "maintenance mode announced at boot", int(any("MAINTENANCE" in x for x in lines)),
                equals=1)  # fmt: skip
        on = sum(1 for r in COILS for _t, v in unit.edges(r, after_ms=boot) if v == 1)
        measure(req, "coils energised in maintenance mode", on, high=0)
        running = [k for k in (1, 2) if unit.plant.outputs.get(f"PUMP{k}_PWM") != 65535]
        measure(req, "pumps running in maintenance mode", len(running), high=0)
        measure(
            req, "healthy relay (0 = alarm)", unit.plant.outputs.get("HEALTHY_RELAY", 0), equals=0
        )
    finally:
        _write_config(unit, production)
        unit.power_cycle()
    banner = [x for x in _lines(unit, since) if x.startswith(BOOT_BANNER.strip())][-1]
    crc = f"crc32 {firmware_config().config_crc(unit.values):08x}"
    measure(req, "production config back after the step", int(crc in banner), equals=1, note=banner)


@pytest.mark.req("REQ-SAFE-003")
def test_the_healthy_relay_drops_when_the_application_stops(ready, measure):
    unit = ready
    measure("REQ-SAFE-003", "healthy relay while running", unit.plant.outputs.get("HEALTHY_RELAY", 0),
            equals=1)  # fmt: skip
    t, since = unit.now_ms(), unit.bench.console_log.mark()
    with Device(unit.bench.console.port, log=lambda _line: None) as dev:
        dev.stop_app()  # Ctrl-C: the application stops (as a tool on the console does)
        # (the simulated clock stands still at the REPL: the outputs it left are what counts)
        off = unit.first("HEALTHY_RELAY", 0, after_ms=t)
        measure(
            "REQ-SAFE-003", "healthy relay released by the stop", int(off is not None), equals=1
        )
        measure("REQ-SAFE-003", "coils while stopped", sum(unit.plant.outputs.get(r, 0) for r in COILS),
                high=0)  # fmt: skip
    # the window the board feeds its watchdog for before it resets into the application (its
    # end is the L1 test's: the virtual module's clock stands still at the REPL in lockstep)
    window = re.search(r"maintenance window (\d+) s", unit.bench.console_log.text_since(since))
    measure("REQ-SAFE-003", "maintenance window announced by the stop", int(window.group(1))
            if window else 0, "s", low=1, high=300)  # fmt: skip
    unit.power_cycle()  # the step gives the application back at once


@pytest.mark.req("REQ-SAFE-004")
def test_a_brown_out_reboot_never_recloses_and_leaves_an_alarm(ready, measure):
    unit = ready
    unit.close_battery()
    since = unit.bench.console_log.mark()
    at = unit.now_s() + 1.0
    unit.bench.power.brown_out(at)
    unit.wait_until("boot banner after the brown-out",
                    lambda: BOOT_BANNER in unit.bench.console_log.text_since(since), 30)  # fmt: skip
    unit.wait(10.0)
    boot = unit.bench.harness.boot.boot_sim_ms
    measure("REQ-SAFE-004", "reset cause after the brown-out", unit.read("reset_cause"), equals=6)
    on = sum(1 for r in COILS for _t, v in unit.edges(r, after_ms=boot) if v == 1)
    measure("REQ-SAFE-004", "coils energised again after the reboot", on, high=0)
    measure(
        "REQ-SAFE-004", "brown-out latched (alarm)", int(unit.latched() >> BROWN_OUT & 1), equals=1
    )
    measure("REQ-SAFE-004", "healthy relay (0 = alarm)", unit.plant.outputs.get("HEALTHY_RELAY", 0),
            equals=0)  # fmt: skip


@pytest.mark.req("REQ-SAFE-005")
def test_a_fourth_reset_within_ten_minutes_is_refused(ready, measure):
    unit = ready
    unit.power_cycle()  # a boot of its own: its reset budget unspent
    accepted = 0
    for _ in range(3):
        unit.pulse("fault_reset")
        accepted += 1
    refused = 0
    try:
        unit.pulse("fault_reset")
    except DeviceRefusedError:
        refused = 1
    measure("REQ-SAFE-005", "resets accepted", accepted, equals=3)
    measure("REQ-SAFE-005", "fourth reset refused", refused, equals=1)
    locked = unit.read("status_flags") & unit.states.RESET_LOCKOUT
    measure("REQ-SAFE-005", "resets locked until a reboot", int(bool(locked)), equals=1)
    unit.power_cycle()
    measure("REQ-SAFE-005", "resets locked after the reboot",
            int(bool(unit.read("status_flags") & unit.states.RESET_LOCKOUT)), equals=0)  # fmt: skip
