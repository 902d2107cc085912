"""Every fault of the DOMAIN.md catalogue (gridpod.plant.faults.CATALOGUE) names the closed-loop
test(s) on the virtual module that inject it and check its safe reaction, or is a declared gap
whose test is a strict xfail stating what is missing (a board input that does not exist).

A new catalogue entry without a test, a renamed test, or a gap whose test stopped being an xfail
fails here. `pytest -rA host_tools/tests/test_fault_catalogue_coverage.py` prints the table.
"""

import ast
from pathlib import Path

import pytest
from gridpod.plant.faults import CATALOGUE

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parents[1]
COOL = "host_tools/tests/test_l1_cooling_faults.py"
POWER = "host_tools/tests/test_l1_power_faults.py"
PLATFORM = "host_tools/tests/test_l1_comms_platform_faults.py"
LOOP = "host_tools/tests/test_control_closed_loop.py"
MODBUS = "host_tools/tests/test_modbus_conformance.py"
FUZZ = "host_tools/tests/test_modbus_fuzz.py"
VPOWER = "host_tools/tests/test_vboard_power.py"
ONBOARD = "host_tools/tests/test_firmware_on_vboard.py"
GRID = "host_tools/tests/test_grid_scenario.py"

COVERAGE = {
    # sensors
    "ntc_open": [f"{COOL}::test_fault_raised_in_time[ntc_open]"],
    "ntc_short": [f"{COOL}::test_fault_raised_in_time[ntc_short]"],
    "sensor_stuck": [
        f"{COOL}::test_stuck_supply_sensor_dropped_then_the_two_left_disagreeing_read_the_higher"
    ],
    "sensor_drift": [
        f"{COOL}::test_fault_raised_in_time[redundant_sensors_disagree]",
        f"{COOL}::test_stuck_supply_sensor_dropped_then_the_two_left_disagreeing_read_the_higher",
    ],
    "transmitter_out_of_band": [
        f"{COOL}::test_fault_raised_in_time[4_20mA_below_3.6mA]",
        f"{COOL}::test_fault_raised_in_time[4_20mA_above_21mA]",
    ],
    "stale_sample": [f"{COOL}::test_stale_pressure_sample_is_a_sensor_fault_not_a_value"],
    # pumps
    "pump_seized": [
        f"{LOOP}::test_seized_lead_pump_standby_within_250ms_flow_proven_within_5s",
        f"{COOL}::test_one_pump_seized_with_battery_closed_derates_not_trips",
    ],
    "tach_wire_broken": [f"{COOL}::test_fault_raised_in_time[tach_wire_broken_warn_only]"],
    "pwm_wire_broken": [f"{COOL}::test_pwm_wire_broken_pump_runs_full_and_alarms"],
    "air_lock": [f"{COOL}::test_air_lock_severe_lead_failed_standby_within_250ms_flow_proven"],
    "both_pumps_failed": [f"{COOL}::test_both_pumps_failed_cooling_lost_alarm_and_contactors_open"],
    "pump_no_flow": [f"{COOL}::test_rotation_proof_test"],
    "pump_overspeed": [f"{COOL}::test_pump_overspeed_above_its_curve_alarms"],
    # hydraulics
    "low_flow": [f"{COOL}::test_low_flow_warning_after_100s_below_90pct"],
    "filter_clogged": [f"{COOL}::test_filter_clogged_dp_alarm"],
    "reservoir_low": [
        f"{COOL}::test_reservoir_low_at_power_up_no_pump_ever_starts_no_close",
        f"{COOL}::test_reservoir_low_while_running_pumps_stopped_within_one_control_tick",
    ],
    "system_pressure_loss": [f"{COOL}::test_system_pressure_loss_make_ups_then_trip_below_0_5bar"],
    "over_pressure": [f"{COOL}::test_over_pressure_stops_pumps_and_opens_contactors"],
    "leak": [f"{LOOP}::test_leak_zone1_isolated_within_200ms_zone2_kept_cooled_latched"],
    "leak_cable_broken": [f"{COOL}::test_leak_cable_broken_is_a_sensor_fault_not_a_leak_trip"],
    "condensation_risk": [f"{COOL}::test_condensation_risk_alarm_and_setpoint_above_dew_point"],
    "coolant_over_temperature": [
        f"{COOL}::test_coolant_over_temperature_warning_held_2min_after_startup_inhibit"
    ],
    # valves
    "valve_stuck": [f"{COOL}::test_zone_valve_not_at_limit_within_1_5_strokes_is_stuck"],
    "valve_both_limit_switches": [f"{COOL}::test_fault_raised_in_time[valve_both_limit_switches]"],
    "mix_feedback_off": [f"{COOL}::test_mix_feedback_off_fault_and_fail_position_full_cooling"],
    "valve_command_lost": [
        f"{COOL}::test_zone_valve_not_at_limit_within_1_5_strokes_is_stuck",
        f"{COOL}::test_mix_valve_command_lost_feedback_disagrees_fault",
    ],
    # contactors and bus
    "precharge_resistor_open": [
        f"{POWER}::test_precharge_timeout_three_tries_3s_apart_then_latched"
    ],
    "precharge_too_fast": [f"{POWER}::test_precharge_too_fast_aborts"],
    "precharge_current_not_decaying": [
        f"{POWER}::test_precharge_current_not_decaying_aborts_after_3_tau"
    ],
    "contactor_fails_to_close": [f"{POWER}::test_main_fails_to_close_within_500ms"],
    "contactor_welded": [
        f"{POWER}::test_main_welded_latches_and_forbids_any_close_even_after_reset"
    ],
    "aux_contact_disagree": [f"{POWER}::test_aux_contacts_disagree_fault_after_300ms"],
    "contactor_dropout": [f"{POWER}::test_unexpected_dropout_opens_all_and_never_recloses"],
    "pack_over_voltage": [
        f"{POWER}::test_a_pack_limit_trips_the_battery_open_latched[pack_over_voltage]"
    ],
    "pack_over_current": [
        f"{POWER}::test_a_pack_limit_trips_the_battery_open_latched[pack_over_current]",
        f"{POWER}::test_trip_above_break_current_waits_3s_then_alerts_and_opens",
    ],
    "pack_over_temperature": [
        f"{POWER}::test_a_pack_limit_trips_the_battery_open_latched[pack_over_temperature]"
    ],
    "trip_above_break_current": [
        f"{POWER}::test_trip_above_break_current_waits_3s_then_alerts_and_opens"
    ],
    "interlock_open": [f"{POWER}::test_interlock_loop_open_trips_and_forbids_close"],
    "coil_supply_lost": [
        f"{POWER}::test_coil_supply_lost_opens_latches_no_reclose_when_it_returns"
    ],
    "insulation_fault": [f"{POWER}::test_insulation_fault_opens_contactors_and_alarms"],
    # comms
    "master_silent": [
        f"{MODBUS}::test_lease_expiry_reverts_the_setpoint",
        f"{GRID}::test_lease_expiry_ramps_the_pcs_to_zero_and_reports_it",
    ],
    "modbus_noise": [
        f"{MODBUS}::test_bad_crc_and_other_unit_are_silent_and_counted",
        f"{FUZZ}::test_fuzz_valid_requests_with_one_byte_mutated",
    ],
    "split_frames": [f"{MODBUS}::test_split_frames_and_back_to_back"],
    "malformed_request": [
        f"{MODBUS}::test_exceptions_and_order",
        f"{FUZZ}::test_fuzz_random_bytes",
    ],
    "two_masters": [f"{PLATFORM}::test_two_masters_writing_collide_safely"],
    # platform
    "brown_out": [
        f"{POWER}::test_brown_out_reboot_never_recloses",
        f"{VPOWER}::test_brown_out_at_simulated_time_reboots_with_cause",
    ],
    "watchdog_reset": [
        f"{ONBOARD}::test_task_that_stops_checking_in_causes_watchdog_reset",
        f"{PLATFORM}::test_repeated_watchdog_resets_enter_safe_mode",
    ],
    "tick_overrun": [
        f"{PLATFORM}::test_tick_overrun_opens_the_contactors_within_a_tick_and_latches"
    ],
    "corrupted_config": [
        f"{ONBOARD}::test_corrupt_config_boots_maintenance_mode",
        f"{PLATFORM}::test_corrupted_config_full_module_never_closes",
    ],
    "power_loss_during_write": [
        f"{ONBOARD}::test_brown_out_during_config_write_keeps_old_or_new",
        f"{VPOWER}::test_brown_out_during_write_then_rename_never_tears",
    ],
}

# Catalogue entries the firmware cannot see on any board yet: their test is a strict xfail.
GAPS = {}


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _split(node_id: str) -> tuple[Path, str, str | None]:
    path, name = node_id.split("::")
    param = None
    if "[" in name:
        name, param = name[:-1].split("[")
    return ROOT / path, name, param


def test_every_catalogue_fault_has_a_closed_loop_test():
    assert set(COVERAGE) == set(CATALOGUE), (
        f"without a test: {sorted(set(CATALOGUE) - set(COVERAGE))}; "
        f"not in the catalogue: {sorted(set(COVERAGE) - set(CATALOGUE))}"
    )


@pytest.mark.parametrize("fault", sorted(COVERAGE))
def test_the_named_tests_exist(fault):
    for node_id in COVERAGE[fault]:
        path, name, param = _split(node_id)
        functions = _functions(path)
        assert name in functions, f"{fault}: {node_id} does not exist"
        if param is not None:
            assert f'id="{param}"' in path.read_text(), f"{fault}: no parameter id {param!r}"
        xfail = any("xfail" in ast.unparse(d) for d in functions[name].decorator_list)
        if fault in GAPS:
            assert xfail, f"{fault} is a declared gap but {node_id} is no longer an xfail"
        else:
            assert not xfail, f"{fault}: {node_id} is an xfail, not a test of the reaction"
    print(f"{fault:32s} {CATALOGUE[fault][1]:45s} {GAPS.get(fault, 'covered')}")
