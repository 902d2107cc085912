"""The invariant monitors' bounds and fault sets (hil/monitors.py describes each invariant).

Every number is a DOMAIN.md rule or an app/config.py default (host_tools/tests/test_hil_monitors.py
compares them with the firmware's config defaults), plus the tolerances a plant-side observer
needs for what the firmware only estimates (sensor noise, SOC).
"""

LEAK_CLOSE_MS = 200
GRID_GRACE_MS = 2000
GRID_TOLERANCE_KW = 1.0
PUMP_TURNING_FRAC = 0.05
DRY_RUN_GRACE_MS = 300
FLOW_PROVEN_LPM = 20.0
FLOW_PROVE_MS = 3000
PRECHARGE_FAULTS = {
    "precharge_resistor_open",
    "precharge_too_fast",
    "precharge_current_not_decaying",
}
PRECHARGE_TRIES, PRECHARGE_RETRY_MS = 3, 3000
VISIBLE_BEFORE_CLOSE = {"interlock_open", "insulation_fault", "leak"}  # IMD: in the loop
TRIPPING_FAULTS = {
    "contactor_welded",
    "contactor_dropout",
    "aux_contact_disagree",
    "interlock_open",
    "coil_supply_lost",
    "precharge_too_fast",
    "precharge_resistor_open",
    "precharge_current_not_decaying",
    "trip_above_break_current",
    "insulation_fault",
    "leak",
    "both_pumps_failed",  # COOLING_LOST
    "over_pressure",  # PRESSURE
    "reservoir_low",  # RESERVOIR_LOW
}
COILS = ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL")
BREAKING_COILS = ("K_PRE_COIL", "K_POS_COIL")  # the positive pole: K_POS, or K_PRE in precharge
LAMP = "FAULT_LAMP"
HEALTHY_RELAY = "HEALTHY_RELAY"
HEALTHY_GRACE_MS = 200
# Coil-tripping faults the firmware sees within a fast tick or two of their onset while a coil is
# on (the loop input, the aux contacts dropping); leaks are judged by their input, coils or not.
ALARM_AT_ONCE = {"interlock_open", "insulation_fault", "contactor_dropout", "coil_supply_lost"}

# Firmware timing (app/config.py defaults; DOMAIN.md "Timing" and "Battery contactors")
FAST_TICK_MS = 10  # fast_tick_ms
CONTROL_TICK_MS = 100  # control_tick_ms
POLE_GAP_MS = 100  # contactor_pole_gap_ms: "one pole, then the other after 100 ms"
BREAK_WAIT_MS = 3000  # break_wait_ms: "wait up to 3 s for the fuse"
BREAK_RATING_A = 500.0  # break_current_a (the plant's contactors: power.BREAK_RATING_A)
I_TOLERANCE = 0.05  # shunt accuracy: above 105 % is "above", below 95 % may be read "below"
AUX_MISMATCH_MS = 300  # contactor_aux_ms
DROPOUT_MS = 10  # contactor_dropout_ms: a main's aux open on 2 samples 10 ms apart
CONTACT_OPEN_MS = 20  # a contact opens 15 ms after its coil loses power (plant, 10 ms steps)
PUMP_FAIL_TACH_MS = 2000  # pump_fail_tach_ms: tach 0 at >= min speed for 2 s
TACH_WINDOW_MS = 500  # drivers/pump.py: rpm refreshed once per window (up to 2 windows late)
STANDBY_MS = 250  # DOMAIN.md: standby pump commanded within 250 ms of a confirmed failure
SUPPLY_PRESSURE_MAX_BAR = 6.0  # supply_pressure_max_kpa 600: "stop above 6 bar supply"
PRESSURE_TOLERANCE_BAR = 0.05  # transmitter noise 0.005 bar (1 sigma): 10 sigma
OVER_PRESSURE_MS = 2 * CONTROL_TICK_MS
SOC_FLOOR = 0.20  # soc_floor_pct (plant power.SOC_FLOOR)
SOC_TOLERANCE = 0.02  # the firmware's SOC is an estimate (OCV at rest, then coulomb counting)
BATTERY_TEMP_RANGE_C = (5.0, 45.0)  # battery_temp_min_ddegc / battery_temp_max_ddegc
BATTERY_TEMP_TOLERANCE_K = 1.0
PCS_DISCHARGE_KW = 1.0  # PCS setpoint above this: discharging
PCS_GRACE_MS = 2 * CONTROL_TICK_MS

# failure_to_trip: the firmware's detection time of each coil-tripping plant fault, from the
# fault (or the battery's connection, whichever is later) to the fault maturing in its table.
# Each: the sampling tick of the input + the debounce DOMAIN.md / the config gives it.
TRIP_DETECT_MS = {
    # loop input read every fast tick, INTERLOCK_OPEN on 1 sample (the IMD contact is in the loop)
    "interlock_open": FAST_TICK_MS,
    "insulation_fault": FAST_TICK_MS,
    # the contacts drop (15 ms), a main's aux open on 2 samples 10 ms apart: DROPOUT
    "coil_supply_lost": CONTACT_OPEN_MS + FAST_TICK_MS + DROPOUT_MS,
    "contactor_dropout": CONTACT_OPEN_MS + FAST_TICK_MS + DROPOUT_MS,
    # commanded vs aux mismatch for 300 ms (a main's aux open while closed: DROPOUT, sooner)
    "aux_contact_disagree": FAST_TICK_MS + AUX_MISMATCH_MS,
    # leak rope read every fast tick, LEAK on 1 sample
    "leak": FAST_TICK_MS,
    # pressure and level read every control tick, PRESSURE / RESERVOIR_LOW on 1 sample
    "over_pressure": CONTROL_TICK_MS,
    "reservoir_low": CONTROL_TICK_MS,
    # lead: tach 0 for 2 s (+ up to 2 tach windows, a control tick); standby commanded within
    # 250 ms, then the same for it: both failed = COOLING_LOST
    "both_pumps_failed": 2 * (PUMP_FAIL_TACH_MS + 2 * TACH_WINDOW_MS + CONTROL_TICK_MS)
    + STANDBY_MS,
}
# from the fault maturing to every coil off: the breaking coil in the next fast tick, K_NEG a
# pole gap later (+ a tick of phase)
OPEN_MS = FAST_TICK_MS + POLE_GAP_MS + FAST_TICK_MS
