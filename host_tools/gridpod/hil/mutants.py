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
L1_GRID = "host_tools/tests/test_grid_scenario.py"

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
        "            if self._done_samples >= 2:",
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
        "run = inp.level_ok and not self.pressure_trip",
        "run = not self.pressure_trip",
        [L0_COOLING],
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
        "faults.update(FAULT_LEAK, c.leak_mask != 0, now_ms)",
        "faults.update(FAULT_LEAK, False, now_ms)",
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
        "        if self._latching & bit:\n            self.latched |= bit",
        "        if False:\n            self.latched |= bit",
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
    (
        "M31",
        "energy counters survive a reboot",
        FW + "app/subsystems/grid.py",
        "restored = counters.restore(self._counters_path, self.energy)",
        "restored = False",
        [L1_LOOP + "::test_energy_counters_survive_a_power_cycle"],
    ),
)
