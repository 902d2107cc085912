"""The curated mutants of `make mutate`: one-line changes that each remove or weaken one safety
function of the firmware. Each must be killed (made to fail) by the tests named with it; a mutant
that survives is a safety function no test proves (ARCHITECTURE.md "Safety case").

A mutant: (id, safety function, firmware file, the exact original text, its replacement, the
pytest selection that should kill it). The original text must occur exactly once in the file.
"""

FW = "firmware/"
L0_GRID = "firmware/tests/test_fw_ctl_grid.py"
L0_COOLING = "firmware/tests/test_fw_ctl_cooling.py"
L0_CONTACTORS = "firmware/tests/test_fw_ctl_contactors.py"
L0_POINTS = "firmware/tests/test_fw_modbus_points.py"
L0_CONFIG = "firmware/tests/test_fw_config.py"
L1_LOOP = "host_tools/tests/test_control_closed_loop.py"
L1_POWER = "host_tools/tests/test_l1_power_faults.py"
L1_PLATFORM = "host_tools/tests/test_l1_comms_platform_faults.py"
HAL_MCU = "host_tools/tests/test_mcu_hal.py"
L1_GRID = "host_tools/tests/test_grid_scenario.py"
L1_COOLING = "host_tools/tests/test_l1_cooling_faults.py"
L0_SERVICE = "firmware/tests/test_fw_service.py"
L1_LIVE_READS = "host_tools/tests/test_l1_live_reads.py"
L1_MAINTENANCE = "host_tools/tests/test_vboard_maintenance.py"
L0_TRIAL = "firmware/tests/test_fw_config_trial.py"
L1_CONFIG = "host_tools/tests/test_config_tool.py"
L0_RS485 = "firmware/tests/test_fw_rs485.py"
L0_SCHEDULER = "firmware/tests/test_fw_scheduler.py"

MUTANTS = (
    # ---- interlocks: the battery closes only with the loop closed and coolant flow proven ----
    (
        "M01",
        "permit needs proven coolant flow",
        FW + "control/interlocks.py",
        "self.permit = bool(close_permitted and loop_closed and not lost)",
        "self.permit = bool(close_permitted and loop_closed)",
        [L1_LOOP + "::test_a_close_before_coolant_flow_is_proven_is_refused"],
    ),
    (
        "M02",
        "permit needs the interlock loop closed",
        FW + "control/interlocks.py",
        "self.permit = bool(close_permitted and loop_closed and not lost)",
        "self.permit = bool(close_permitted and not lost)",
        [L0_GRID],
    ),
    (
        "M03",
        "an open interlock loop is a fault",
        FW + "control/interlocks.py",
        "self.causes = 0 if loop_closed else 1 << FAULT_INTERLOCK_OPEN",
        "self.causes = 0",
        [L1_POWER, "-k", "interlock"],
    ),
    (
        "M04",
        "degraded cooling derates the battery",
        FW + "control/interlocks.py",
        "self.power_limit_pct = self.derate_pct",
        "self.power_limit_pct = 100",
        [L0_GRID],
    ),
    # ---- contactors: precharge, opening order, break current ---------------------------------
    (
        "M05",
        "K_POS closes only after precharge",
        FW + "control/contactors.py",
        "            if self._done_samples >= 2 and ticks_diff(now_ms, self._done_from_ms) >= _DONE_HOLD_MS:",
        "            if True:",
        [L0_CONTACTORS],
    ),
    (
        "M06",
        "precharge faster than the RC allows is a fault",
        FW + "control/contactors.py",
        "if el < self.tau_ms and not self._residual:",
        "if False:",
        [L0_CONTACTORS],
    ),
    (
        "M07",
        "mains wait below the break-current rating",
        FW + "control/contactors.py",
        "            if i_abs > self.break_da and self.cmd & _MAINS == _MAINS:",
        "            if False:",
        [L0_CONTACTORS],
    ),
    (
        "M08",
        "precharge opens first",
        FW + "control/contactors.py",
        "self.cmd &= ~PRE  # precharge first, always",
        "pass",
        [L0_CONTACTORS],
    ),
    (
        "M32",
        "the break-current alert can be acknowledged once open",
        FW + "control/contactors.py",
        "if self.state == OPEN and self.causes & alert:",
        "if False:",
        [L0_CONTACTORS],
    ),
    (
        "M45",
        "the link rising while only K_NEG is closed is a weld (a single pole with a dead aux)",
        FW + "control/contactors.py",
        "            if self._link_rose(v_pack_dv, v_link_dv):",
        "            if False:",
        [
            L0_CONTACTORS
            + "::test_a_single_welded_pole_with_a_dead_aux_is_caught_when_k_neg_closes",
            L1_POWER + "::test_a_welded_k_pos_with_a_dead_aux_never_sees_a_second_close",
        ],
    ),
    (
        "M46",
        "a single welded pole the open poles hide stays latched",
        FW + "control/contactors.py",
        "if aux & _ALL or tracks or self._pole_welded:",
        "if aux & _ALL or tracks:",
        [
            L0_CONTACTORS
            + "::test_a_single_welded_pole_with_a_dead_aux_is_caught_when_k_neg_closes",
            L1_POWER + "::test_a_welded_k_pos_with_a_dead_aux_never_sees_a_second_close",
        ],
    ),
    (
        "M47",
        "a current still flowing in the pole gap is a weld",
        FW + "control/contactors.py",
        "if el >= _OPEN_MS and i_da is not None and _abs(i_da) > self.done_i_da:",
        "if False:",
        [L0_CONTACTORS + "::test_a_welded_k_pos_under_load_is_caught_in_the_pole_gap"],
    ),
    (
        "M48",
        "a fault that opened the mains runs the weld check before a reset",
        FW + "control/contactors.py",
        "        self._weld_check = True",
        "        self._weld_check = False",
        [L0_CONTACTORS + "::test_a_dropout_runs_the_weld_check"],
    ),
    (
        "M49",
        "the too-fast exemption of a small starting gap is bounded",
        FW + "control/contactors.py",
        "and _abs(v_pack_dv - v_link_dv) <= _RC_GAP_BANDS * _band_dv(v_pack_dv)",
        "and True",
        [L0_CONTACTORS + "::test_a_link_jumping_from_a_moderate_gap_is_still_too_fast"],
    ),
    (
        "M91",
        "the precharge done check spans more than one noise draw of the dividers",
        FW + "control/contactors.py",
        "and ticks_diff(now_ms, self._done_from_ms) >= _DONE_HOLD_MS:",
        "and True:",
        [
            L0_CONTACTORS
            + "::test_a_divider_error_lasting_a_noise_draw_does_not_close_k_pos_outside_the_band",
            L1_POWER
            + "::test_a_divider_error_lasting_a_noise_draw_does_not_close_k_pos_outside_the_band",
        ],
    ),
    (
        "M57",
        "the second pole opens a pole gap after the first",
        FW + "control/contactors.py",
        "if el >= self.pole_gap_ms:",
        "if el >= self.pole_gap_ms // 2:",
        [L1_POWER, "-k", "fatal_table_fault and leak"],
    ),
    (
        "M59",
        "the mains wait the full break-current time (operator open, permit trip)",
        FW + "control/contactors.py",
        "                if el < self.break_wait_ms:",
        "                if el < self.break_wait_ms // 3:",
        [L1_POWER, "-k", "trip_above_break_current and operator_open"],
    ),
    # ---- cooling: leaks, dry run, pressure, flow proof ----------------------------------------
    (
        "M09",
        "a wet leak rope closes its zone",
        FW + "control/cooling.py",
        "        self.zone_close = self.leak_mask\n        return self.zone_close",
        "        self.zone_close = 0\n        return self.zone_close",
        [L0_COOLING],
    ),
    (
        "M10",
        "a low reservoir stops the pumps",
        FW + "control/cooling.py",
        "run = inp.level_ok and not self.level_trip and not self.pressure_trip",
        "run = not self.level_trip and not self.pressure_trip",
        [L0_COOLING],
    ),
    (
        "M62",
        "a level lost while the pumps run latches (no restart dry)",
        FW + "control/cooling.py",
        "        if self._was_running:\n            self.level_trip = True",
        "        if False:\n            self.level_trip = True",
        [L1_COOLING + "::test_reservoir_low_while_running_pumps_stopped_within_one_control_tick"],
    ),
    (
        "M64",
        "a fill that has not made the level switch within 3 min latches",
        FW + "control/cooling.py",
        "elif ticks_diff(now_ms, self._fill_ms) >= self.fill_max_ms:",
        "elif False:",
        [L0_COOLING],
    ),
    (
        "M60",
        "the supply setpoint is raised above the dew point",
        FW + "control/cooling.py",
        "            sp = dew + self.dew_margin_cdegc  # raise the setpoint when the dew point rises",
        "            pass",
        [L1_COOLING + "::test_condensation_risk_alarm_and_setpoint_above_dew_point"],
    ),
    (
        "M63",
        "a failed dew-point transmitter is a sensor fault",
        FW + "control/cooling.py",
        "or (self.has_dew_point and inp.dew_point_cdegc is None)",
        "or False",
        [
            L1_COOLING
            + "::test_failed_dew_point_transmitter_is_a_sensor_fault_and_holds_the_raised_setpoint"
        ],
    ),
    (
        "M11",
        "supply over-pressure trips",
        FW + "control/cooling.py",
        "if p_sup is not None and p_sup > self.p_sup_max_mbar:",
        "if False:",
        [L0_COOLING],
    ),
    (
        "M12",
        "flow is judged against the setpoint",
        FW + "control/cooling.py",
        "and flow * 100 >= self.flow_sp_dlpm * p.fail_flow_pct",
        "and True",
        [L0_COOLING],
    ),
    (
        "M13",
        "a leak is a fault (alarm, contactors open)",
        FW + "app/subsystems/cooling.py",
        "faults.update(FAULT_LEAK, c.leak_mask != 0, now_ms, c.leak_mask)",
        "faults.update(FAULT_LEAK, False, now_ms, c.leak_mask)",
        [L1_LOOP + "::test_leak_zone1_isolated_within_200ms_zone2_kept_cooled_latched"],
    ),
    (
        "M14",
        "Modbus setpoints stay in the safe band",
        FW + "app/subsystems/cooling.py",
        "_clamp(bank.get(_R_FLOW_SETPOINT_LPM), self.flow_sp_min_lpm, 1000)",
        "_clamp(bank.get(_R_FLOW_SETPOINT_LPM), 0, 1000)",
        ["host_tools/tests/test_l1_setpoints.py"],
    ),
    # ---- platform: faults, outputs, scheduler --------------------------------------------------
    (
        "M15",
        "a latched fault stays until reset",
        FW + "control/faults.py",
        "        if self._latching[fault_id]:\n            st |= _ST_LATCHED",
        "        if False:\n            st |= _ST_LATCHED",
        ["firmware/tests/test_fw_faults.py"],
    ),
    (
        "M16",
        "an active open-contactors action forbids a close",
        FW + "app/state.py",
        "return ft is None or not ft.action_mask & ACTION_OPEN_CONTACTORS",
        "return True",
        ["firmware/tests/test_fw_modes.py"],
    ),
    (
        "M61",
        "maintenance mode alone forbids a close",
        FW + "app/state.py",
        "def close_permitted():\n    if not is_normal():",
        "def close_permitted():\n    if False:",
        [L1_PLATFORM + "::test_maintenance_mode_alone_refuses_a_close_of_the_composed_battery"],
    ),
    (
        "M17",
        "a dead sequencer's coils open within a tick",
        FW + "app/outputs.py",
        "        elif not self._alive:",
        "        elif False:",
        ["firmware/tests/test_fw_outputs.py"],
    ),
    (
        "M18",
        "a fatal fault raises the alarm",
        FW + "app/outputs.py",
        "alarm = not state.is_normal() or (faults is not None and faults.action_mask & ACTION_ALARM)",
        "alarm = not state.is_normal()",
        [L1_POWER, "-k", "interlock"],
    ),
    (
        "M19",
        "a task that raises is a fatal fault",
        FW + "app/scheduler.py",
        "            self._faults.update(self._task_error_fault, True, now_ms)",
        "            pass",
        ["firmware/tests/test_fw_scheduler.py"],
    ),
    (
        "M20",
        "a fatal record is never flushed inside the fast slot",
        FW + "app/app.py",
        "                self.log.urgent = True",
        "                self.log.flush()",
        ["firmware/tests/test_fw_app.py"],
    ),
    (
        "M55",
        "the fault lamp shows a fatal fault",
        FW + "app/outputs.py",
        "self.lamp.value(1 if fatal else 0)",
        "self.lamp.value(0)",
        ["firmware/tests/test_fw_outputs.py"],
    ),
    (
        "M58",
        "the battery permit follows the fault table (firmware-only fatal faults open)",
        FW + "app/subsystems/battery.py",
        "            state.close_permitted(),",
        "            True,",
        [L1_PLATFORM + "::test_tick_overrun_opens_the_contactors_within_a_tick_and_latches"],
    ),
    # ---- grid: the PCS discharges only from a connected battery -------------------------------
    (
        "M56",
        "the PCS is enabled only with the contactors closed",
        FW + "control/peak_shaver.py",
        "            contactors_closed\n            and load_w is not None",
        "            load_w is not None",
        [L1_GRID + "::test_lease_expiry_ramps_the_pcs_to_zero_and_reports_it"],
    ),
    # ---- Modbus: access, commands ---------------------------------------------------------------
    (
        "M21",
        "writes need the operator level",
        FW + "app/modbus_points.py",
        "return 0 if self.level >= LEVEL_OPERATOR else REASON_ACCESS",
        "return 0",
        [L0_POINTS],
    ),
    (
        "M22",
        "close and reset act on a rising edge",
        FW + "app/modbus_points.py",
        "rising = not self._held & held_bit",
        "rising = True",
        [L0_POINTS],
    ),
    (
        "M23",
        "broadcast never closes or resets",
        FW + "app/modbus_points.py",
        "if self.bank.broadcast and bit:",
        "if False:",
        [L0_POINTS],
    ),
    (
        "M24",
        "wrong PINs slow down exponentially",
        FW + "app/access.py",
        "lock_ms = min(_LOCKOUT_MS << doublings, _LOCKOUT_MAX_MS)",
        "lock_ms = _LOCKOUT_MS",
        [L0_POINTS],
    ),
    (
        "M25",
        "resets are rate limited",
        FW + "app/modbus_points.py",
        "            self.resets_locked = True\n            return False",
        "            return True",
        [L0_POINTS],
    ),
    # ---- config, deploy, inputs -----------------------------------------------------------------
    (
        "M26",
        "a battery without cooling is refused",
        FW + "app/config_rules.py",
        'if values["battery_enabled"] and not values["has_cooling"]:',
        "if False:",
        [L0_CONFIG],
    ),
    (
        "M27",
        "a flow setpoint of 0 is refused",
        FW + "app/config_rules.py",
        '("flow_setpoint_lpm", 10, None,',
        '("flow_setpoint_lpm", 0, None,',
        [L0_CONFIG],
    ),
    (
        "M28",
        "a deploy switch checks the manifest before moving anything",
        FW + "app/deploy_switch.py",
        "    _verify(root, stage, files)",
        "    pass",
        ["firmware/tests/test_fw_deploy_switch.py"],
    ),
    (
        "M29",
        "an incomplete deploy switch never starts the app",
        FW + "app/startup.py",
        "if fsutil.exists(root + DEPLOY_PENDING):",
        "if False:",
        ["firmware/tests/test_fw_deploy_switch.py"],
    ),
    (
        "M30",
        "safety inputs on an expander read unsafe when their line is released",
        FW + "hal/mcu.py",
        'return _ActiveLow(line) if spec.get("active_low") else line',
        "return line",
        ["host_tools/tests/test_mcu_hal.py"],
    ),
    # ---- analog inputs: no waiting in the fast tick, never a plausible wrong value -------------
    (
        "M50",
        "an ADS1115 result is taken only once its OS bit says the conversion is done",
        FW + "hal/mcu.py",
        "                if not word & _ADS_OS:",
        "                if False:",
        [HAL_MCU + "::test_ads_slow_chip_never_hands_one_channel_the_result_of_another"],
    ),
    (
        "M51",
        "an ADS1115 bus error makes every channel of the chip read out of band",
        FW + "hal/mcu.py",
        "            u16[i] = 0",
        "            pass",
        [HAL_MCU + "::test_ads_bus_error_reads_out_of_band_until_a_fresh_conversion"],
    ),
    (
        "M52",
        "an ADS1115 channel reads out of band before its first conversion",
        FW + "hal/mcu.py",
        "self._u16 = [0] * _ADS_CHANNELS",
        "self._u16 = [32768] * _ADS_CHANNELS",
        [HAL_MCU + "::test_ads_first_reads_after_boot_are_out_of_band"],
    ),
    (
        "M53",
        "two supply sensors left that disagree fail to the higher reading",
        FW + "control/voter.py",
        "self.disagree = hi - lo > lim",
        "self.disagree = False",
        [L0_COOLING],
    ),
    (
        "M54",
        "ADS1115 conversions progress in the idle wait (bounded age whichever tick reads)",
        FW + "hal/mcu.py",
        "            dev.service()",
        "            pass",
        [HAL_MCU + "::test_ads_values_converge_to_their_own_channel"],
    ),
    (
        "M31",
        "energy counters survive a reboot",
        FW + "app/subsystems/grid.py",
        "restored = counters.restore(self._counters_path, self.energy)",
        "restored = False",
        [L1_LOOP + "::test_energy_counters_survive_a_power_cycle"],
    ),
    # ---- battery and supply limits are trips (safety review M3) -------------------------------
    (
        "M33",
        "pack over-voltage trips",
        FW + "control/pack_limits.py",
        "self.over_voltage = SUB_LIMIT if v_pack_dv > self.v_max_dv else 0",
        "self.over_voltage = 0",
        ["firmware/tests/test_fw_pack_limits.py"],
    ),
    (
        "M34",
        "pack over-current trips, either direction",
        FW + "control/pack_limits.py",
        "elif i_da > self.i_max_da or -i_da > self.i_max_da:",
        "elif i_da > self.i_max_da:",
        ["firmware/tests/test_fw_pack_limits.py"],
    ),
    (
        "M35",
        "pack over-temperature trips",
        FW + "control/pack_limits.py",
        "self.over_temp = SUB_LIMIT if t_cdegc > self.t_max_cdegc else 0",
        "self.over_temp = 0",
        [L1_POWER, "-k", "pack_over_temperature"],
    ),
    (
        "M36",
        "supply over-temperature trips",
        FW + "app/subsystems/cooling.py",
        "faults.update(FAULT_SUPPLY_OVER_TEMP, sot, now_ms, sot)",
        "faults.update(FAULT_SUPPLY_OVER_TEMP, 0, now_ms, sot)",
        [L1_POWER, "-k", "supply_over_temperature"],
    ),
    (
        "M37",
        "a pack over-current trip opens the contactors",
        FW + "control/fault_rows.py",
        '(FAULT_PACK_OVER_CURRENT,   "pack_over_current",  10,  0, SEVERITY_FATAL,   True,  _OPEN),',
        '(FAULT_PACK_OVER_CURRENT,   "pack_over_current",  10,  0, SEVERITY_FATAL,   True,  ACTION_ALARM),',
        [L1_POWER, "-k", "pack_limit or break_current"],
    ),
    # ---- grid: manual PCS requests (safety review m7) ------------------------------------------
    (
        "M38",
        "a manual charge stays under the grid import limit",
        FW + "control/peak_shaver.py",
        "                elif -target > head:",
        "                elif False:",
        [L0_GRID],
    ),
    (
        "M39",
        "a PCS request is leased for at most 60 s",
        FW + "app/modbus_points.py",
        "if r == _R_PCS_POWER_REQUEST_KW and lease_ms > _PCS_LEASE_MAX_MS:",
        "if False:",
        [L0_POINTS],
    ),
    # ---- platform: what must be seen is a fault (safety review C1, m8) -------------------------
    (
        "M65",
        "a brown-out reboot is a latched alarm",
        FW + "app/compose.py",
        "        app.faults.update(FAULT_BROWN_OUT, True, now_ms)  # latched until reset_faults()",
        "        pass",
        ["firmware/tests/test_fw_app.py"],
    ),
    (
        "M66",
        "a failed I2C transaction raises IO_BUS",
        FW + "app/housekeeping.py",
        "self.faults.update(FAULT_IO_BUS, new > 0, now_ms",
        "self.faults.update(FAULT_IO_BUS, False, now_ms",
        ["firmware/tests/test_fw_app.py"],
    ),
    # ---- without the application: healthy relay, supervisor (safety review M8) ---------------
    (
        "M40",
        "the healthy relay is energised only while healthy (de-energised = alarm)",
        FW + "app/outputs.py",
        "self.healthy.value(0 if alarm else 1)  # energised = healthy",
        "self.healthy.value(1 if alarm else 0)  # energised = healthy",
        ["firmware/tests/test_fw_outputs.py"],
    ),
    (
        "M41",
        "leaving the loop de-energises the healthy relay",
        FW + "app/outputs.py",
        "self.healthy.value(0)  # de-energised = alarm",
        "self.healthy.value(1)  # de-energised = alarm",
        ["firmware/tests/test_fw_app.py", "-k", "ctrl_c or leaving"],
    ),
    (
        "M42",
        "maintenance mode supervises the pumps and leaks",
        FW + "app/compose.py",
        'app.supervisor = Supervisor(platform, board.get("pins", {}))',
        "app.supervisor = None",
        [L1_PLATFORM + "::test_corrupted_config_full_module_never_closes"],
    ),
    (
        "M43",
        "without the application a wet rope closes its zone, latched",
        FW + "app/supervisor.py",
        "                self.isolated |= 1 << i",
        "                pass",
        ["firmware/tests/test_fw_modes.py", "-k", "maintenance"],
    ),
    (
        "M44",
        "a safe boot runs the supervision instead of nothing",
        FW + "app/startup.py",
        "        _safe_boot_supervision(platform, board)\n        return None",
        "        return None",
        ["firmware/tests/test_fw_app.py", "-k", "safe_boot"],
    ),
    (
        "M67",
        "each contactor opening is logged with the current it broke (wear)",
        FW + "app/subsystems/battery.py",
        "            self.log.append(EV_CONTACTOR_OP, k.operations, k.open_i_last_da, now_ms)",
        "            pass",
        [L1_POWER, "-k", "trip_above_break_current"],
    ),
    (
        "M68",
        "an event log of another size is kept, not wiped",
        FW + "app/eventlog.py",
        '            fsutil.replace(self.path, self.path + ".old")',
        "            pass",
        ["firmware/tests/test_fw_eventlog.py"],
    ),
    # ---- a live module is never disturbed by a read; a stopped one comes back (issue 13) -----
    (
        "M70",
        "the running application answers host tools on its service channel",
        FW + "app/service.py",
        '_PRE_IN = b"#GP>"',
        '_PRE_IN = b"#GQ>"',
        [L0_SERVICE, L1_LIVE_READS],
    ),
    (
        "M71",
        "a stop for a host tool opens the maintenance window",
        FW + "app/app.py",
        "window_ms = self.platform.maintenance(True)",
        "window_ms = 0",
        [L0_SERVICE, L1_MAINTENANCE],
    ),
    (
        "M72",
        "every boot opens the maintenance window (the watchdog survives a soft reset)",
        FW + "boot.py",
        "        hal.window.boot()",
        "        pass",
        [L1_MAINTENANCE],
    ),
    # ---- a pushed config is committed only once the application ran healthy with it -------------
    (
        "M80",
        "a boot that raises while a pushed config is on trial resets into the previous config",
        FW + "app/startup.py",
        "                _trial_platform.reset()",
        "                pass",
        [
            L0_TRIAL
            + "::test_a_boot_that_raises_with_the_candidate_resets_and_the_next_boot_restores",
            L1_CONFIG
            + "::test_a_config_the_module_cannot_start_with_is_rolled_back_and_a_good_one_committed",
        ],
    ),
    (
        "M81",
        "a trial commits only when the scan loop ran healthy",
        FW + "app/config_trial.py",
        "    if s.task_errors or s.overruns:",
        "    if False:",
        [L0_TRIAL, "-k", "unhealthy"],
    ),
    (
        "M82",
        "a boot after an unfinished trial restores the previous config",
        FW + "app/config_trial.py",
        "        restored = restore(root, marker, reset_cause, rename)",
        "        restored = None",
        [L0_TRIAL, "-k", "reset_during or unhealthy"],
    ),
    (
        "M83",
        "the commit is marked before config.json is replaced (a power loss rolls it forward)",
        FW + "app/config_trial.py",
        '        _mark(root, "commit " + crc_hex, rename)',
        "        pass",
        [L0_TRIAL, "-k", "power_loss"],
    ),
    (
        "M84",
        "a candidate refused by validation is never run",
        FW + "app/startup.py",
        "    if config.invalid:",
        "    if False:",
        [L0_TRIAL, "-k", "refused"],
    ),
    # ---- Modbus on a real chip: never TICK_OVERRUN, never a collision (docs/chip-time.md) -----
    (
        "M85",
        "an RS-485 reply never waits for the wire inside a slot",
        FW + "hal/rs485.py",
        "        n = self._uart.write(buf) or 0",
        "        n = self._uart.write(buf) or 0\n        self._uart.flush()",
        [L0_RS485 + "::test_a_reply_is_queued_and_write_returns_at_once"],
    ),
    (
        "M86",
        "DE drops only after the reply's last stop bit",
        FW + "hal/rs485.py",
        "        if self.sending and self._uart.txdone():",
        "        if self.sending:",
        [L0_RS485 + "::test_de_drops_only_after_the_last_stop_bit", HAL_MCU, "-k", "rs485"],
    ),
    (
        "M87",
        "DE drops at the end of a reply that ends inside a long frame (no collision)",
        FW + "hal/rs485.py",
        "        if self._alarm is not None:",
        "        if False:",
        [L0_RS485 + "::test_the_alarm_drops_de_at_an_end_inside_a_long_frames_work"],
    ),
    (
        "M88",
        "Modbus requests are answered in the control slot, never in the fast slot",
        FW + "app/compose.py",
        "        app.modbus.deferred = True",
        "        app.modbus.deferred = False",
        [
            "firmware/tests/test_fw_app.py::"
            "test_modbus_requests_are_framed_in_the_fast_slot_and_answered_in_the_control_slot"
        ],
    ),
    # ---- control phases: the control slot spread over its period (docs/chip-time.md) ----
    (
        "M89",
        "a control slot over its period split over phases still counts as an overrun",
        FW + "app/scheduler.py",
        "            self._ctl_work_us += work_us",
        "            self._ctl_work_us = work_us",
        [L0_SCHEDULER + "::test_control_slot_work_is_the_sum_over_its_phases"],
    ),
    (
        "M90",
        "no control phase runs in the housekeeping frame (GC, flash, telemetry)",
        FW + "app/scheduler.py",
        "    frame = phase + 1 if phase >= hk else phase",
        "    frame = phase",
        [
            L0_SCHEDULER + "::test_control_phases_never_share_the_housekeeping_frame",
            L0_SCHEDULER
            + "::test_each_control_task_runs_once_per_period_at_its_phase_in_data_flow_order",
        ],
    ),
)
