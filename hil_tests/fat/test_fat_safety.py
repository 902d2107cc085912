"""Factory acceptance of the safety reactions the platform firmware has today: a corrupt
configuration puts the module in maintenance mode (contactor coils never energised, the healthy
relay de-energised: alarm) and a healthy boot energises it again. The board is given back as found."""

import pytest
from gridpod.device.session import Device

pytestmark = pytest.mark.needs("console", "console_log", "plant", "power")

COILS = ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL")
CORRUPT = b'{"config": {"module_id": "GRIDPOD-0000", "modbus_unit": 900}, "crc32": 1, "version": 1'


def banner_lines(bench, since: int) -> list[str]:
    text = bench.console_log.text_since(since)
    # a line may start with what the REPL printed before the reset: keep from "gridpod:" on
    return [
        line[line.index("gridpod:") :].strip() for line in text.splitlines() if "gridpod:" in line
    ]


def write_or_remove_config(bench, data: bytes | None) -> None:
    with Device(bench.console.port, log=lambda _line: None) as dev:
        if data is None:
            dev.exec("import os\ntry:\n    os.remove('/config.json')\nexcept OSError:\n    pass")
        else:
            dev.write_file("/config.json", data)


@pytest.mark.req("REQ-SAFE-001")
def test_corrupt_config_gives_maintenance_mode(bench):
    plant = bench.plant
    bench.run_for(1.0)
    assert plant.outputs.get("HEALTHY_RELAY") == 1, "healthy relay not energised before the fault"
    write_or_remove_config(bench, CORRUPT)
    try:
        since = bench.console_log.mark()
        boot_ms = round(bench.sim_s * 1000)
        bench.strategy.reset()
        bench.run_for(3.0)
        lines = banner_lines(bench, since)
        assert any("MAINTENANCE MODE" in line for line in lines), lines
        assert plant.outputs.get("HEALTHY_RELAY") == 0  # de-energised: alarm
        for role in COILS:
            assert plant.outputs.get(role) == 0, role
            assert [v for t, v in plant.edges.get(role, []) if t >= boot_ms] in ([], [0]), role
        alarm = [(t, v) for t, v in plant.edges["HEALTHY_RELAY"] if t >= boot_ms]
        assert alarm and alarm[-1][1] == 0 and alarm[0][0] - boot_ms < 1000, alarm
    finally:
        write_or_remove_config(bench, None)
        since = bench.console_log.mark()
        bench.strategy.reset()
    bench.run_for(1.0)
    assert not any("MAINTENANCE" in line for line in banner_lines(bench, since))
    assert "no /config.json: using defaults" in bench.console_log.text_since(since)
    assert plant.outputs.get("HEALTHY_RELAY") == 1, "alarm stays on after a healthy boot"
