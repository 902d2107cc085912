"""Factory acceptance over RS-485: the product's Modbus client (gridpod.modbus.client) against the
bench's Modbus port. Identity block, live telemetry and status, and a setpoint write refused
without the operator access level."""

import pytest
from gridpod.hil.strategy import boot_banners
from gridpod.modbus.client import DeviceRefusedError
from gridpod.modbus.register_map import MAP_CRC, MAP_VERSION, REGISTERS

pytestmark = pytest.mark.needs("modbus")


def last_banner(bench) -> str:
    """The application's latest boot banner, after 'gridpod: module ' (bench with a console log)."""
    return boot_banners(bench.console_log.text_since(0))[-1]


@pytest.fixture(scope="module")
def modbus(bench):
    # Module scope runs before the autouse capability check: skip here on a bench without RS-485.
    if bench.modbus is None:
        pytest.skip(f"bench '{bench.name}' lacks modbus")
    # One open port for the module: re-opening a pty right after a close can fail in tcsetattr.
    client = bench.modbus.open()
    yield client
    client.close()


@pytest.mark.req("REQ-MB-001")
def test_identity_block(bench, modbus):
    ident = modbus.read_identity()  # raises MapMismatchError on a foreign magic / map
    assert ident["magic"] == 0x4750
    assert (ident["map_version"], ident["map_crc"]) == (MAP_VERSION, MAP_CRC)
    assert ident["modbus_unit"] == 1
    assert ident["firmware_version"] not in (None, 0)
    if bench.console_log is not None:
        # the same module id and config the console announced at boot
        banner = last_banner(bench)
        assert ident["module_id"] == banner.split()[0], banner
        from gridpod.device.config import firmware_config

        cfg = firmware_config()
        if "no /config.json" in banner:
            assert ident["config_crc"] == cfg.config_crc(cfg.defaults())
        else:
            assert f"crc32 {ident['config_crc']:08x}" in banner, banner


@pytest.mark.req("REQ-MB-002")
def test_status_and_telemetry_read(bench, modbus):
    names = ["uptime_s", "boot_count", "reset_cause", "tick_overruns", "heap_free_bytes"]
    before = modbus.read_many(names + ["maintenance_mode", "safe_mode"])
    assert before["maintenance_mode"] == 0 and before["safe_mode"] == 0
    assert before["heap_free_bytes"] > 0
    assert before["tick_overruns"] == 0
    if bench.console_log is not None:
        banner = last_banner(bench)  # "... boot #N reset cause C; ..."
        words = banner.split()
        assert before["boot_count"] == int(words[words.index("boot") + 1].lstrip("#")), banner
        assert before["reset_cause"] == int(words[words.index("cause") + 1].rstrip(";")), banner
    if bench.plant is not None:
        bench.run_for(5.0)
        after = modbus.read_many(names)
        # uptime follows the module's clock (5 s of simulated time, +-1 s of housekeeping tick)
        assert 4 <= after["uptime_s"] - before["uptime_s"] <= 6, (before, after)
        assert after["boot_count"] == before["boot_count"]
        assert after["tick_overruns"] == before["tick_overruns"]


@pytest.mark.req("REQ-MB-003")
def test_setpoint_write_refused_without_access(modbus):
    assert modbus.read("access_unlocked") == 0
    reg = REGISTERS["flow_setpoint_lpm"]
    before = modbus.read("flow_setpoint_lpm")
    wanted = before + 10 if before + 10 <= reg.max else before - 10
    with pytest.raises(DeviceRefusedError):
        modbus.write("flow_setpoint_lpm", wanted)
    assert modbus.read("flow_setpoint_lpm") == before  # refused means never applied
