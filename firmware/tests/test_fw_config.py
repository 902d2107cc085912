"""Config store: defaults when missing, round trip, every corruption => all errors named by key,
atomic write survives a crash before the rename, PIN hashes."""

from app import config
from app.access import check_pin, hash_pin
from app.config import (
    CONFIG_DEFAULTS,
    CONFIG_INVALID,
    CONFIG_OK,
    CONFIG_VERSION,
    ConfigStore,
    canonical_json,
    config_crc,
    defaults,
    encode,
    validate,
)
from support import exists, read_bytes, tmp_dir, write_bytes


class PowerLoss(BaseException):
    pass


def _store():
    return ConfigStore(tmp_dir() + "config.json")


def _write_doc(store, values, version=CONFIG_VERSION, crc=None):
    doc = {"config": values, "version": version}
    doc["crc32"] = config_crc(values, version) if crc is None else crc
    write_bytes(store.path, canonical_json(doc).encode())


def _has_error(errors, key):
    for e in errors:
        if e.startswith(key + ":"):
            return True
    return False


def test_defaults_are_valid():
    assert validate(defaults()) == []


def test_missing_file_uses_defaults_and_says_so():
    s = _store()
    assert s.load() == CONFIG_DEFAULTS
    assert s.values == defaults()
    assert "defaults" in s.note
    assert s.errors == []


def test_round_trip():
    s = _store()
    v = defaults()
    v["module_id"] = "SKID-42"
    v["modbus_unit"] = 17
    v["modbus_parity"] = "N"
    v["modbus_stop_bits"] = 2
    v["pin_service"] = hash_pin("4711")
    assert s.save(v) == []
    s2 = ConfigStore(s.path)
    assert s2.load() == CONFIG_OK
    assert s2.values == v
    assert s2.crc == config_crc(v)
    assert check_pin(s2.get("pin_service"), "4711")
    assert not check_pin(s2.get("pin_service"), "4712")


def test_file_is_canonical_and_crc_is_zlib_crc32():
    s = _store()
    s.save(defaults())
    data = read_bytes(s.path)
    assert data == encode(defaults())
    import json

    doc = json.loads(data)
    body = canonical_json({"config": doc["config"], "version": doc["version"]}).encode()
    from binascii import crc32

    assert doc["crc32"] == crc32(body) & 0xFFFFFFFF
    assert b" " not in data.split(b'"module_id"')[0]


def test_bad_crc_rejected():
    s = _store()
    _write_doc(s, defaults(), crc=12345)
    assert s.load() == CONFIG_INVALID
    assert _has_error(s.errors, "crc32")
    assert s.values == defaults()


def test_flipped_value_breaks_crc():
    s = _store()
    s.save(defaults())
    data = read_bytes(s.path).replace(b'"modbus_unit":1,', b'"modbus_unit":2,')
    write_bytes(s.path, data)
    assert ConfigStore(s.path).load() == CONFIG_INVALID


def test_bad_json_rejected():
    s = _store()
    write_bytes(s.path, b'{"config": {"module_id": "x"')
    assert s.load() == CONFIG_INVALID
    assert _has_error(s.errors, "file")


def test_out_of_range_value_rejected_with_key_and_unit():
    s = _store()
    v = defaults()
    v["modbus_unit"] = 248
    _write_doc(s, v)
    assert s.load() == CONFIG_INVALID
    assert len(s.errors) == 1
    assert s.errors[0].startswith("modbus_unit:") and "1..247" in s.errors[0]
    assert "[address]" in s.errors[0]


def test_unknown_key_rejected():
    s = _store()
    v = defaults()
    v["turbo_mode"] = True
    _write_doc(s, v)
    assert s.load() == CONFIG_INVALID
    assert _has_error(s.errors, "turbo_mode")


def test_wrong_version_rejected():
    s = _store()
    _write_doc(s, defaults(), version=CONFIG_VERSION + 1)
    assert s.load() == CONFIG_INVALID
    assert _has_error(s.errors, "version")


def test_version_2_file_is_read_with_the_new_tuning_vectors_at_their_defaults():
    s = _store()
    old = defaults()
    for key in ("contactor_tuning", "cooling_tuning", "grid_tuning"):
        del old[key]
    _write_doc(s, old, version=2)
    assert s.load() == CONFIG_OK, s.errors  # a firmware upgrade never means maintenance mode
    assert s.values["contactor_tuning"] == defaults()["contactor_tuning"]
    _write_doc(s, old, version=CONFIG_VERSION)  # the same keys missing in a current file: errors
    assert s.load() == CONFIG_INVALID and _has_error(s.errors, "grid_tuning")


def test_version_3_file_is_read_with_the_renamed_keys():
    """Version 4 renamed the 0.1 degC keys *_dc -> *_ddegc; a version 3 file keeps its values."""
    s = _store()
    old = defaults()
    old["supply_temp_max_dc"] = old.pop("supply_temp_max_ddegc")
    old["supply_temp_setpoint_dc"] = old.pop("supply_temp_setpoint_ddegc") + 10
    _write_doc(s, old, version=3)
    assert s.load() == CONFIG_OK, s.errors
    assert s.values["supply_temp_setpoint_ddegc"] == defaults()["supply_temp_setpoint_ddegc"] + 10
    assert "supply_temp_setpoint_dc" not in s.values
    old = defaults()
    old["supply_temp_max_dc"] = old.pop("supply_temp_max_ddegc")
    _write_doc(s, old, version=CONFIG_VERSION)  # the old name in a current file: an error
    assert s.load() == CONFIG_INVALID and _has_error(s.errors, "supply_temp_max_dc")


def test_tuning_vector_elements_are_checked_by_name():
    values = defaults()
    vector = list(values["contactor_tuning"])
    vector[3] = 100  # precharge_retry_ms below DOMAIN.md's 3 s
    values["contactor_tuning"] = vector
    assert validate(values) == [
        "contactor_tuning[3] precharge_retry_ms: 100 outside 3000..600000 [ms]"
    ]
    values["contactor_tuning"] = vector[:5]
    errors = validate(values)
    assert len(errors) == 1 and "not a list of 17 integers" in errors[0]
    assert "precharge_tau_ms" in errors[0]  # the message names the elements in order


def test_control_objects_read_their_tuning_from_the_config():
    """Defaults live once, in the schema: a control object built from the config's defaults has
    them, one without the keys cannot be built (no second default in control/)."""
    from control.contactors import Contactors
    from control.cooling import Cooling
    from control.interlocks import Interlocks
    from control.peak_shaver import PeakShaver
    from control.soc import Soc

    tuned = config.expand_tuning(defaults())
    assert tuned["precharge_tau_ms"] == 470 and tuned["battery_capacity_ah"] == 100
    tuned.update(defaults())
    for make in (Contactors, Interlocks, PeakShaver, Soc, lambda c: Cooling(c, 2, 2)):
        make(tuned)
        try:
            make({})
        except KeyError:
            pass
        else:
            raise AssertionError("%r built without its config" % make)
    changed = dict(tuned, precharge_tau_ms=600)
    assert Contactors(changed).tau_ms == 600  # a tuning value reaches its control object


def test_all_errors_listed_at_once():
    v = defaults()
    v["modbus_unit"] = 0
    v["modbus_baud"] = 12345
    v["modbus_parity"] = "O"
    v["fast_tick_ms"] = "10"
    v["has_battery"] = 1
    del v["pump_count"]
    v["extra"] = 1
    errors = validate(v)
    for key in ("modbus_unit", "modbus_baud", "modbus_parity", "fast_tick_ms", "has_battery"):
        assert _has_error(errors, key), key
    assert _has_error(errors, "pump_count") and _has_error(errors, "extra")
    assert len(errors) == 7


def test_cross_key_rules():
    v = defaults()
    v["control_tick_ms"] = 95
    v["modbus_stop_bits"] = 2  # with parity E
    errors = validate(v)
    assert _has_error(errors, "control_tick_ms") and _has_error(errors, "modbus_stop_bits")


def test_save_refuses_invalid_values():
    s = _store()
    s.save(defaults())
    before = read_bytes(s.path)
    v = defaults()
    v["flow_setpoint_lpm"] = -1
    errors = s.save(v)
    assert _has_error(errors, "flow_setpoint_lpm")
    assert read_bytes(s.path) == before


def test_crash_before_rename_keeps_old_file():
    s = _store()
    s.save(defaults())
    old = read_bytes(s.path)

    def crash(a, b):
        raise PowerLoss()

    v = defaults()
    v["module_id"] = "NEW"
    s.rename = crash
    crashed = False
    try:
        s.save(v)
    except PowerLoss:
        crashed = True
    assert crashed
    assert exists(s.path + ".tmp")
    s2 = ConfigStore(s.path)
    assert s2.load() == CONFIG_OK
    assert s2.values["module_id"] == "GRIDPOD-0000"
    assert read_bytes(s.path) == old
    assert not exists(s.path + ".tmp")  # the unfinished save is discarded


def test_torn_tmp_does_not_matter():
    s = _store()
    s.save(defaults())
    write_bytes(s.path + ".tmp", encode(defaults())[:40])
    assert ConfigStore(s.path).load() == CONFIG_OK


def test_rename_refusing_existing_target_is_handled():
    s = _store()
    s.save(defaults())
    import os

    def fat_rename(a, b):
        if exists(b):
            raise OSError(17)  # EEXIST, like FAT
        os.rename(a, b)

    v = defaults()
    v["module_id"] = "FAT"
    s.rename = fat_rename
    assert s.save(v) == []
    s2 = ConfigStore(s.path)
    assert s2.load() == CONFIG_OK and s2.values["module_id"] == "FAT"


def test_power_loss_between_remove_and_rename_recovers_from_tmp():
    s = _store()
    s.save(defaults())
    import os

    def fat_rename_then_die(a, b):
        if exists(b):
            raise OSError(17)
        raise PowerLoss()  # old already removed, new still in .tmp

    v = defaults()
    v["module_id"] = "NEWER"
    s.rename = fat_rename_then_die
    try:
        s.save(v)
    except PowerLoss:
        pass
    assert not exists(s.path)
    s2 = ConfigStore(s.path)
    assert s2.load() == CONFIG_OK
    assert s2.values["module_id"] == "NEWER"
    assert exists(s.path) and not exists(s.path + ".tmp")
    os.remove(s.path)


def test_canonical_json_matches_cpython_json_dumps():
    doc = {
        "b": [1, True, None, -7],
        "a": 'q"\\\n\t\x01\x7f',
        "c": "\u00e9\u20ac",
        "d": {"y": 1, "x": ""},
    }
    expected = '{"a":"q\\"\\\\\\n\\t\\u0001\\u007f","b":[1,true,null,-7],"c":"\\u00e9\\u20ac","d":{"x":"","y":1}}'
    assert canonical_json(doc) == expected
    assert config.canonical_json({"z": 1, "a": 2}) == '{"a":2,"z":1}'
    import json

    try:
        reference = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    except TypeError:
        return  # MicroPython's json has no sort_keys: the literal above is the reference there
    assert canonical_json(doc) == reference


def test_values_that_switch_a_protection_off_are_refused():
    """Safety review M4: each of these passed the range checks and defeated a protection."""
    assert validate(defaults()) == []
    cases = (
        ("flow_setpoint_lpm", 0, "flow_setpoint_lpm: 0 below the safety floor 10"),
        ("pump_fallback_speed_pct", 20, "pump_fallback_speed_pct: 20 below the safety floor 50"),
        ("return_pressure_min_kpa", 0, "return_pressure_min_kpa: 0 below the safety floor 10"),
        ("watchdog_timeout_ms", 8388, "watchdog_timeout_ms: 8388 above the safety limit 2000"),
    )
    for key, value, message in cases:
        values = defaults()
        values[key] = value
        errors = validate(values)
        assert len(errors) == 1 and errors[0].startswith(message), (key, errors)
    names = [e[0] for e in config.tuning_rows("cooling_tuning")]
    values = defaults()
    vector = list(values["cooling_tuning"])
    vector[names.index("pump_fail_flow_pct")] = 0
    values["cooling_tuning"] = vector
    assert validate(values)[0].startswith("pump_fail_flow_pct: 0 below the safety floor 20")
    names = [e[0] for e in config.tuning_rows("contactor_tuning")]
    for element, value in (("break_wait_ms", 60000), ("derate_pct", 100), ("toggle_lockout_ms", 0)):
        values = defaults()
        vector = list(values["contactor_tuning"])
        vector[names.index(element)] = value
        values["contactor_tuning"] = vector
        errors = validate(values)
        assert len(errors) == 1 and errors[0].startswith(element + ": %d " % value), errors
    values = dict(defaults(), battery_enabled=True, has_cooling=False)
    assert validate(values) == [
        "has_cooling: 0 with battery_enabled: the battery would close with no coolant proof"
    ]
