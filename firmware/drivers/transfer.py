"""Sensor and actuator transfer numbers, mirrored from host_tools/gridpod/plant/transfer.py.

A host test (test_fw_ctl_drivers.test_transfer_consts_match_plant) compares every const here with
the plant table so the two cannot drift. Integer units only (mV, uA, mbar, ohm) so that conversions
in the fast tick need no floats; ADC counts are read_u16() values, 0..65535 for 0..3.3 V.
"""

from micropython import const

ADC_VREF_MV = const(3300)
ADC_FULL_SCALE = const(65535)

NTC_R25_OHM = const(10000)
NTC_BETA_K = const(3950)
NTC_DIVIDER_OHM = const(10000)

TX_SHUNT_OHM = const(150)
TX_MIN_UA = const(4000)
TX_MAX_UA = const(20000)
TX_FAULT_LOW_UA = const(3600)
TX_FAULT_HIGH_UA = const(21000)
PRESSURE_RANGE_MBAR = const(10000)
POWER_MIN_W = const(-200000)  # power transducers: 4 mA = -200 kW ...
POWER_MAX_W = const(600000)  # ... 20 mA = +600 kW (import / consumption positive)
FILTER_DP_RANGE_MBAR = const(2000)  # filter DP transmitter: 4..20 mA = 0..2 bar
DEW_MIN_CDEGC = const(-4000)  # dew-point transmitter: 4..20 mA = -40..+60 degC
DEW_SPAN_CDEGC = const(10000)
PCS_FULL_SCALE_W = const(100000)  # PCS_PWM duty 0..65535 = -100..+100 kW, discharge positive

# HV divider: 1000 V -> 3.0 V, i.e. link mV = adc mV * 1000 / 3.
HV_V_PER_3V = const(1000)
I_OFFSET_MV = const(1650)
I_UV_PER_A = const(3000)  # 3 mV/A, discharge positive

VALVE_FB_MIN_MV = const(300)
VALVE_FB_MAX_MV = const(3000)

TACH_PULSES_PER_REV = const(2)
FLOW_PULSES_PER_L = const(10)

PWM_FULL = const(65535)  # inverted: duty 0 (or a broken wire) = full speed / full cooling

# Supervised leak rope (plant model): 0.5 Vref healthy, 0.2 Vref leak, 1.0 Vref cable open.
LEAK_SUP_LEAK_MAX_MV = const(1155)  # below 0.35 Vref: wet
LEAK_SUP_OPEN_MIN_MV = const(2475)  # above 0.75 Vref: cable open (sensor fault, not a leak)


def counts_mv(counts):
    """ADC counts -> mV at the pin (int, no float)."""
    return counts * ADC_VREF_MV // ADC_FULL_SCALE
