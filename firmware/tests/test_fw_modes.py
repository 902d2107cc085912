"""App modes on the fake HAL: maintenance mode for every config corruption, boot-loop safe mode."""

from app import state
from app.app import App
from app.config import canonical_json, config_crc, defaults, encode
from app.eventlog import EV_CONFIG_REJECTED, EV_SAFE_MODE, EV_SAFE_MODE_END
from app.platform_faults import FAULT_CONFIG_INVALID
from support import BOARD, IS_MICROPYTHON, fake_platform, tmp_dir, write_bytes


def _app(root, platform=None):
    return App(platform or fake_platform(), BOARD, root, log_slots=32)


def _codes(app):
    return [r[3] for r in app.log.read()]


def _corrupt_cases():
    v = defaults()
    bad_range = dict(v)
    bad_range["modbus_unit"] = 0
    unknown = dict(v)
    unknown["bogus_key"] = 1
    good = encode(v)
    return (
        ("crc32", good.replace(b'"crc32":', b'"crc32":1')),
        ("file", b'{"config":'),
        ("modbus_unit", encode(bad_range)),
        ("bogus_key", encode(unknown)),
        (
            "version",
            canonical_json({"config": v, "crc32": config_crc(v, 9), "version": 9}).encode(),
        ),
    )


def test_each_corrupt_config_enters_maintenance_mode_with_reason():
    for key, data in _corrupt_cases():
        root = tmp_dir()
        write_bytes(root + "config.json", data)
        p = fake_platform()
        app = _app(root, p)
        assert state.maintenance, key
        assert key + ":" in state.reason, (key, state.reason)
        assert not state.close_permitted()
        assert app.faults.is_active(FAULT_CONFIG_INVALID)
        assert EV_CONFIG_REJECTED in _codes(app)
        app.run(frames=20)
        relay = p.outputs["HEALTHY_RELAY"]
        assert relay.level == 0 and relay.changes == 0  # never healthy: alarm from boot
        for role in ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL"):
            assert p.outputs[role].level == 0 and p.outputs[role].changes == 0
        assert app.reset_faults() == 0  # cannot be reset away; needs a valid config and reboot
        assert not state.close_permitted()


def test_maintenance_mode_stops_the_pumps_and_closes_a_wet_zone():
    """Safety review M8: maintenance mode runs the defaults, which compose no cooling, so the
    pumps ran at full speed (inverted PWM: a pin never driven means full) with no leak isolation.
    Now the supervisor (app/supervisor.py) holds them stopped and closes a wet zone within a fast
    tick, latched; the healthy relay stays de-energised and the coils are never touched."""
    from drivers.transfer import PWM_FULL

    root = tmp_dir()
    write_bytes(root + "config.json", b'{"config":')
    p = fake_platform()
    app = _app(root, p)
    assert state.maintenance
    app.run(frames=10)
    assert p.pwms["PUMP1_PWM"].duty == PWM_FULL  # inverted PWM: full duty = stopped
    valve = p.outputs["ZONE1_VALVE"]
    assert valve.level == 0  # dry: open
    p.set_input("LEAK_ZONE1", 1)
    app.run(frames=1)
    assert valve.level == 1  # energised = closed, in the fast tick the rope read wet
    p.set_input("LEAK_ZONE1", 0)
    app.run(frames=100)
    assert valve.level == 1  # latched: a leak wants a person
    assert p.pwms["PUMP1_PWM"].duty == PWM_FULL
    assert p.outputs["HEALTHY_RELAY"].changes == 0  # alarm throughout
    if IS_MICROPYTHON:  # a fast-slot task: its tick allocates nothing
        import micropython

        micropython.heap_lock()
        try:
            app.supervisor.tick(0)
        finally:
            micropython.heap_unlock()
    for role in ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL"):
        assert p.outputs[role].changes == 0


def test_ten_bad_boots_safe_mode_for_five_minutes():
    root = tmp_dir()
    for _ in range(10):
        app = _app(root)
        assert not state.safe_mode
        app.run(frames=100)  # 1 s, then "power loss"
    p = fake_platform()
    app = _app(root, p)
    assert state.safe_mode and "boot-loop" in state.reason
    assert not state.close_permitted()
    assert EV_SAFE_MODE in _codes(app)
    app.run(frames=29990)  # 299.9 s
    assert state.safe_mode
    assert p.outputs["HEALTHY_RELAY"].level == 0  # de-energised = alarm
    app.run(frames=200)
    assert not state.safe_mode and state.reason == ""
    assert state.close_permitted()
    assert EV_SAFE_MODE_END in _codes(app)
    assert p.outputs["HEALTHY_RELAY"].level == 1  # healthy again: energised
    app2 = _app(root)
    assert not state.safe_mode and app2.guard.bad_boots == 0


def test_an_active_open_contactors_action_forbids_a_close():
    from app.platform_faults import FAULT_TICK_OVERRUN

    app = _app(tmp_dir())
    assert state.close_permitted()
    app.faults.update(FAULT_TICK_OVERRUN, True, 0)  # fatal: open contactors, latched
    assert not state.close_permitted()
