"""Sensor and actuator transfer functions: the ONE table firmware/drivers/transfer.py mirrors.

Every analog input is what MicroPython's ADC.read_u16() returns: 0..65535 for 0..ADC_VREF_V.
Every function here is pure; the plant adds noise and wiring faults around them.

  NTC          10 kOhm @ 25 degC, beta 3950, low side of a divider from 3.3 V through 10 kOhm
               (open NTC -> full scale, shorted NTC -> 0 counts)
  4-20 mA      transmitter current through a 150 Ohm shunt (20 mA -> 3.0 V); pressure 0..10 bar
  HV divider   pack and link voltage, 1000 V -> 3.0 V (ratio 1/333.3)
  current      bidirectional shunt amplifier, 1.65 V at 0 A, 3 mV/A (+-500 A), discharge positive
  valve fb     modulating valve position 0..100 % -> 0.3..3.0 V
  power 4-20   IT load and grid import power transducers, 4..20 mA for -200..+600 kW through the
               same 150 Ohm shunt (import / consumption positive)
  filter DP    4-20 mA differential-pressure transmitter across the filter, 0..2 bar
  dew point    4-20 mA dew-point transmitter (room air at the cold plates), -40..+60 degC
  PCS PWM      PCS power setpoint: duty 0..65535 -> -100..+100 kW (discharge positive), followed
               only while PCS_ENABLE is 1 (a dead controller or a broken enable wire -> 0 kW)
  tach         2 pulses per pump revolution, counted cumulatively
  flow meter   K-factor 10 pulses per litre
  PWM          pump speed and mixing-valve demand are INVERTED: duty 0 (or a broken wire) means
               full speed / full cooling, duty 65535 means stop / no cooling (DOMAIN.md: "a broken
               control wire means full speed")
  digital      1 = contact closed / condition true: K_*_AUX (contact closed), *_LS (at limit),
               LEVEL_OK (level above low switch), INTERLOCK_LOOP (loop closed), LEAK_ZONEk (leak)
  zone valves  ZONEk_VALVE = 1 energises to CLOSE (fail-open: a dead controller keeps cooling)
  indicators   STATUS_LED, HEALTHY_RELAY and FAULT_LAMP (front-panel lamp, 1 = a fatal fault is
               active) are plain outputs (model.INDICATORS): recorded, no physics
"""

import math

ADC_VREF_V = 3.3
ADC_FULL_SCALE = 65535

NTC_R25_OHM = 10_000.0
NTC_BETA_K = 3950.0
NTC_DIVIDER_OHM = 10_000.0
KELVIN = 273.15

TX_SHUNT_OHM = 150.0
TX_MIN_MA, TX_MAX_MA = 4.0, 20.0
TX_FAULT_LOW_MA, TX_FAULT_HIGH_MA = 3.6, 21.0
PRESSURE_RANGE_BAR = 10.0
POWER_MIN_KW, POWER_MAX_KW = -200.0, 600.0
FILTER_DP_RANGE_BAR = 2.0
DEW_MIN_C, DEW_MAX_C = -40.0, 60.0
PCS_FULL_SCALE_KW = 100.0

HV_VOLTS_PER_ADC_VOLT = 1000.0 / 3.0
I_OFFSET_V = 1.65
I_V_PER_A = 0.003

VALVE_FB_MIN_V, VALVE_FB_MAX_V = 0.3, 3.0

TACH_PULSES_PER_REV = 2
FLOW_PULSES_PER_L = 10.0

PWM_FULL = 65535

# One row per board role: (transfer, unit of the physical value). The firmware's drivers carry
# the same numbers; docs/plant-model.md prints this table.
TRANSFER_TABLE = {
    "T_SUPPLY1": ("ntc", "degC"),
    "T_SUPPLY2": ("ntc", "degC"),
    "T_SUPPLY3": ("ntc", "degC"),
    "T_RETURN": ("ntc", "degC"),
    "P_SUPPLY": ("pressure_4_20", "bar"),
    "P_RETURN": ("pressure_4_20", "bar"),
    "V_PACK": ("hv_divider", "V"),
    "V_LINK": ("hv_divider", "V"),
    "I_PACK": ("current_shunt", "A"),
    "MIX_VALVE_FB": ("valve_feedback", "%"),
    "T_BATTERY": ("ntc", "degC"),
    "IT_KW": ("power_4_20", "kW"),
    "GRID_KW": ("power_4_20", "kW"),
    "FILTER_DP": ("dp_4_20", "bar"),
    "DEW_POINT": ("dew_4_20", "degC"),
    "PUMP1_TACH": ("tach", "rev"),
    "PUMP2_TACH": ("tach", "rev"),
    "FLOW_PULSE": ("flow_meter", "L"),
}


def volts_to_counts(v: float) -> int:
    return max(0, min(ADC_FULL_SCALE, int(round(v / ADC_VREF_V * ADC_FULL_SCALE))))


def counts_to_volts(counts: int) -> float:
    return counts * ADC_VREF_V / ADC_FULL_SCALE


def ntc_ohm(temp_c: float) -> float:
    t_k = temp_c + KELVIN
    return NTC_R25_OHM * math.exp(NTC_BETA_K * (1.0 / t_k - 1.0 / (25.0 + KELVIN)))


def ntc_counts(temp_c: float) -> int:
    r = ntc_ohm(temp_c)
    return volts_to_counts(ADC_VREF_V * r / (NTC_DIVIDER_OHM + r))


def ntc_temp_c(counts: int) -> float | None:
    """Inverse (what the firmware computes); None for open or short (never a plausible value)."""
    if counts <= 0 or counts >= ADC_FULL_SCALE:
        return None
    r = NTC_DIVIDER_OHM * counts / (ADC_FULL_SCALE - counts)
    inv_t = 1.0 / (25.0 + KELVIN) + math.log(r / NTC_R25_OHM) / NTC_BETA_K
    return 1.0 / inv_t - KELVIN


def ma_counts(i_ma: float) -> int:
    return volts_to_counts(i_ma / 1000.0 * TX_SHUNT_OHM)


def counts_ma(counts: int) -> float:
    return counts_to_volts(counts) / TX_SHUNT_OHM * 1000.0


def pressure_ma(pressure_bar: float) -> float:
    frac = max(0.0, min(1.0, pressure_bar / PRESSURE_RANGE_BAR))
    return TX_MIN_MA + frac * (TX_MAX_MA - TX_MIN_MA)


def pressure_counts(pressure_bar: float) -> int:
    return ma_counts(pressure_ma(pressure_bar))


def counts_pressure_bar(counts: int) -> float | None:
    i_ma = counts_ma(counts)
    if i_ma < TX_FAULT_LOW_MA or i_ma > TX_FAULT_HIGH_MA:
        return None
    return (i_ma - TX_MIN_MA) / (TX_MAX_MA - TX_MIN_MA) * PRESSURE_RANGE_BAR


def span_counts(value: float, lo: float, hi: float) -> int:
    """A 4-20 mA transmitter for lo..hi (clamped to its range) on the shunt, in ADC counts."""
    frac = max(0.0, min(1.0, (value - lo) / (hi - lo)))
    return ma_counts(TX_MIN_MA + frac * (TX_MAX_MA - TX_MIN_MA))


def power_counts(kw: float) -> int:
    frac = max(0.0, min(1.0, (kw - POWER_MIN_KW) / (POWER_MAX_KW - POWER_MIN_KW)))
    return ma_counts(TX_MIN_MA + frac * (TX_MAX_MA - TX_MIN_MA))


def counts_power_kw(counts: int) -> float | None:
    i_ma = counts_ma(counts)
    if i_ma < TX_FAULT_LOW_MA or i_ma > TX_FAULT_HIGH_MA:
        return None
    frac = (i_ma - TX_MIN_MA) / (TX_MAX_MA - TX_MIN_MA)
    return POWER_MIN_KW + frac * (POWER_MAX_KW - POWER_MIN_KW)


def pcs_duty_kw(duty_u16: int | None) -> float:
    """PCS setpoint from its PWM duty (no signal -> 0 kW; the enable gates it anyway)."""
    if duty_u16 is None:
        return 0.0
    return (max(0, min(PWM_FULL, duty_u16)) * 2 - PWM_FULL) / PWM_FULL * PCS_FULL_SCALE_KW


def hv_counts(v: float) -> int:
    return volts_to_counts(v / HV_VOLTS_PER_ADC_VOLT)


def counts_hv_v(counts: int) -> float:
    return counts_to_volts(counts) * HV_VOLTS_PER_ADC_VOLT


def current_counts(i_a: float) -> int:
    return volts_to_counts(I_OFFSET_V + i_a * I_V_PER_A)


def counts_current_a(counts: int) -> float:
    return (counts_to_volts(counts) - I_OFFSET_V) / I_V_PER_A


def valve_fb_counts(position_pct: float) -> int:
    frac = max(0.0, min(1.0, position_pct / 100.0))
    return volts_to_counts(VALVE_FB_MIN_V + frac * (VALVE_FB_MAX_V - VALVE_FB_MIN_V))


def counts_valve_pct(counts: int) -> float:
    v = counts_to_volts(counts)
    return (v - VALVE_FB_MIN_V) / (VALVE_FB_MAX_V - VALVE_FB_MIN_V) * 100.0


def pwm_demand_frac(duty_u16: int | None) -> float:
    """Inverted PWM: no signal (None, broken wire) or duty 0 -> 1.0 (full speed / cooling)."""
    if duty_u16 is None:
        return 1.0
    return 1.0 - max(0, min(PWM_FULL, duty_u16)) / PWM_FULL


def demand_pwm_duty(frac: float) -> int:
    return int(round((1.0 - max(0.0, min(1.0, frac))) * PWM_FULL))
