"""I/O checkout: how each role of a board file is stimulated (or commanded) and read back.

ROLE_CHECKS maps every role a module's board file may have to (requirement id, how it is
checked). The FAT's I/O section runs one test per role of the bench's board file; a role this
table does not know fails its test (a new role needs a checkout step, never silence).

  analog    the input forced to points across its range (the plant's own transfer function:
            what a calibrator on the terminals gives); the unit's register must read each point
            within the tolerance
  threshold an input with no register of its own (filter DP): below and above the unit's alarm
            threshold, the alarm must follow
  safety    a safety input forced to its unsafe level (also what a broken wire reads): the unit's
            documented reaction must be seen (Modbus), then the input released
  feedback  an output commanded through the module's function (pumps, valves, coils, PCS) and
            its feedback seen (tach, limit switches, aux contacts, power)
  indicator an output whose effect is the plant's reading of the pin (heartbeat, healthy relay,
            fault lamp)
Points keep clear of every trip threshold, and each is held ANALOG_SETTLE_S: the control tick
reads the inputs every 100 ms, the temperature loop every second.
"""

ANALOG_SETTLE_S = 1.6

# role: (register, points in the register's unit, tolerance, unit, requirement,
#        plant value per register unit: the plant takes bar where the register says kPa)
ANALOG = {
    "T_SUPPLY1": ("supply_temp1_c", (20.0, 30.0, 40.0), 0.5, "degC", "REQ-IO-010", 1.0),
    "T_SUPPLY2": ("supply_temp2_c", (20.0, 30.0, 40.0), 0.5, "degC", "REQ-IO-010", 1.0),
    "T_SUPPLY3": ("supply_temp3_c", (20.0, 30.0, 40.0), 0.5, "degC", "REQ-IO-010", 1.0),
    "T_RETURN": ("return_temp_c", (25.0, 35.0, 45.0), 0.5, "degC", "REQ-IO-010", 1.0),
    "T_BATTERY": ("battery_temp_c", (20.0, 30.0, 40.0), 0.5, "degC", "REQ-IO-010", 1.0),
    "DEW_POINT": ("dew_point_c", (5.0, 12.0, 20.0), 0.5, "degC", "REQ-IO-010", 1.0),
    "P_SUPPLY": ("supply_pressure_kpa", (150.0, 300.0, 450.0), 10.0, "kPa", "REQ-IO-011", 0.01),
    "P_RETURN": ("return_pressure_kpa", (100.0, 150.0, 200.0), 10.0, "kPa", "REQ-IO-011", 0.01),
    "V_PACK": ("pack_voltage_v", (700.0, 780.0, 850.0), 2.0, "V", "REQ-IO-012", 1.0),
    "V_LINK": ("link_voltage_v", (0.0, 200.0, 400.0), 2.0, "V", "REQ-IO-012", 1.0),
    "I_PACK": ("pack_current_a", (-100.0, 0.0, 100.0), 2.0, "A", "REQ-IO-012", 1.0),
    "IT_KW": ("it_load_kw", (20.0, 60.0, 100.0), 1.0, "kW", "REQ-IO-013", 1.0),
    "GRID_KW": ("grid_import_kw", (20.0, 60.0, 100.0), 1.0, "kW", "REQ-IO-013", 1.0),
    "MIX_VALVE_FB": ("mix_valve_pct", (20.0, 50.0, 80.0), 2.0, "%", "REQ-IO-013", 1.0),
}
# roles of one kind whose registers must not move when a sibling is stimulated (miswiring)
SIBLINGS = {
    "degC": ("supply_temp1_c", "supply_temp2_c", "supply_temp3_c", "return_temp_c"),
    "kPa": ("supply_pressure_kpa", "return_pressure_kpa"),
    "V": ("pack_voltage_v", "link_voltage_v"),
    # not kW: IT load and grid import move together with the real load (grid = IT + cooling)
}

ROLE_CHECKS = {
    **{role: (spec[4], "analog") for role, spec in ANALOG.items()},
    "FILTER_DP": ("REQ-IO-013", "threshold"),
    "PUMP1_TACH": ("REQ-IO-014", "pulse"),
    "PUMP2_TACH": ("REQ-IO-014", "pulse"),
    "FLOW_PULSE": ("REQ-IO-014", "pulse"),
    "LEVEL_OK": ("REQ-IO-015", "safety"),
    "INTERLOCK_LOOP": ("REQ-IO-015", "safety"),
    "LEAK_ZONE1": ("REQ-IO-015", "safety"),
    "LEAK_ZONE2": ("REQ-IO-015", "safety"),
    "SAFE_MODE_BUTTON": ("REQ-IO-015", "safety"),
    "ZONE1_VALVE": ("REQ-IO-016", "feedback"),
    "ZONE2_VALVE": ("REQ-IO-016", "feedback"),
    "ZONE1_VALVE_OPEN_LS": ("REQ-IO-016", "feedback"),
    "ZONE1_VALVE_CLOSED_LS": ("REQ-IO-016", "feedback"),
    "ZONE2_VALVE_OPEN_LS": ("REQ-IO-016", "feedback"),
    "ZONE2_VALVE_CLOSED_LS": ("REQ-IO-016", "feedback"),
    "PUMP1_PWM": ("REQ-IO-016", "feedback"),
    "PUMP2_PWM": ("REQ-IO-016", "feedback"),
    "MIX_VALVE_PWM": ("REQ-IO-016", "feedback"),
    "K_NEG_COIL": ("REQ-IO-017", "feedback"),
    "K_PRE_COIL": ("REQ-IO-017", "feedback"),
    "K_POS_COIL": ("REQ-IO-017", "feedback"),
    "K_NEG_AUX": ("REQ-IO-017", "feedback"),
    "K_PRE_AUX": ("REQ-IO-017", "feedback"),
    "K_POS_AUX": ("REQ-IO-017", "feedback"),
    "PCS_ENABLE": ("REQ-IO-017", "feedback"),
    "PCS_PWM": ("REQ-IO-017", "feedback"),
    "STATUS_LED": ("REQ-IO-001", "indicator"),
    "HEALTHY_RELAY": ("REQ-IO-018", "indicator"),
    "FAULT_LAMP": ("REQ-IO-018", "indicator"),
}


def counts_for(plant, role: str, value: float) -> int:
    """ADC counts the board reads for `value` (the plant's physical unit) on role."""
    return plant.plant.sensors.clean_counts(role, value)
