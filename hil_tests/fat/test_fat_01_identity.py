"""Factory acceptance of the configuration path with the product's own tool (gridpod.device.config):
push a changed module id, the app restarts and reports it, pull returns the same values and CRC.
The board is given back as found (no /config.json, power-cycled)."""

import json

import pytest
from gridpod.device.config import firmware_config, pull, push
from gridpod.device.session import Device
from gridpod.hil.strategy import boot_banners

pytestmark = [pytest.mark.needs("console", "console_log", "power")]

FAT_MODULE_ID = "FAT-RT-0042"


def banners(bench) -> list[str]:
    return boot_banners(bench.console_log.text_since(0))


def remove_config_and_power_cycle(bench) -> None:
    with Device(bench.console.port, log=lambda _line: None) as dev:
        dev.exec("import os\ntry:\n    os.remove('/config.json')\nexcept OSError:\n    pass")
    bench.strategy.reset()
    assert "no /config.json: using defaults" in banners(bench)[-1]


@pytest.mark.req("REQ-CFG-002")
def test_config_round_trip(bench, tmp_path):
    cfg = firmware_config()
    values = cfg.defaults()
    assert values["module_id"] != FAT_MODULE_ID
    values["module_id"] = FAT_MODULE_ID
    src = tmp_path / "push.json"
    src.write_text(json.dumps(values))
    seen = len(banners(bench))
    try:
        result = push(bench.console.port, src, yes=True, log=lambda _line: None)
        crc = cfg.config_crc(values)
        assert result["crc"] == f"{crc:08x}"
        assert any("module_id" in line for line in result["changes"]), result["changes"]
        # the app restarted (soft reset, cause 5) with the new id and reports the pushed CRC
        new = banners(bench)[seen:]
        assert new, "no boot banner after the push"
        assert new[-1].startswith(FAT_MODULE_ID + " board "), new[-1]
        assert "reset cause 5;" in new[-1] and f"crc32 {crc:08x}" in new[-1], new[-1]
        out = tmp_path / "pull.json"
        pulled = pull(bench.console.port, out, log=lambda _line: None)
        assert json.loads(out.read_text()) == values
        assert pulled["crc"] == result["crc"]
    finally:
        remove_config_and_power_cycle(bench)
    assert banners(bench)[-1].startswith("GRIDPOD-0000 board ")
