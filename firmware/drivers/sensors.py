"""Sensor drivers: each reads HAL inputs (ADC, pulse counter, digital) and returns a value in
integer engineering units, or None when the reading is implausible (a failed sensor is never a
clamped plausible value). Transfer numbers come from drivers/transfer.py (the plant's table).
One module for all of them: every module costs three qstrs and a module object on a 64 KiB heap.
"""

import math

from control.faults import ticks_diff
from micropython import const

from drivers.transfer import (
    ADC_FULL_SCALE,
    FLOW_PULSES_PER_L,
    LEAK_SUP_LEAK_MAX_MV,
    LEAK_SUP_OPEN_MIN_MV,
    NTC_BETA_K,
    NTC_DIVIDER_OHM,
    NTC_R25_OHM,
    POWER_MIN_W,
    PRESSURE_RANGE_MBAR,
    TX_FAULT_HIGH_UA,
    TX_FAULT_LOW_UA,
    TX_MAX_UA,
    TX_MIN_UA,
    TX_SHUNT_OHM,
    counts_mv,
)

# ---- ntc -----------------------------------------------------------------------------------------
# NTC thermistor (10 kOhm @ 25 degC, beta 3950) on the low side of a 10 kOhm divider from 3.3 V.
#
# Temperature in 0.01 degC (int). Open NTC reads near full scale, a short near 0: both give None.
# Uses float math (log), so call it from the control tick, not the fast tick.
_MARGIN_COUNTS = const(100)  # ~ -90 degC / +250 degC: beyond any real coolant temperature


class Ntc:
    def __init__(self, adc):
        self._adc = adc

    def temp_cdc(self):
        counts = self._adc.read_u16()
        if counts < _MARGIN_COUNTS or counts > ADC_FULL_SCALE - _MARGIN_COUNTS:
            return None
        r = NTC_DIVIDER_OHM * counts / (ADC_FULL_SCALE - counts)
        inv_t = 1.0 / 298.15 + math.log(r / NTC_R25_OHM) / NTC_BETA_K
        return int(round((1.0 / inv_t - 273.15) * 100.0))


# ---- transmitter ---------------------------------------------------------------------------------
# 4-20 mA transmitter on a 150 Ohm shunt; pressure in mbar (0..range_mbar for 4..20 mA).
#
# Below 3.6 mA (broken loop) or above 21 mA (short, failed transmitter) the value is None (NAMUR
# NE43): out of band is a sensor fault, never a clamped plausible pressure. A stale sample (the
# ADC returning the very same raw counts on stale_reads reads in a row: a frozen converter, a stuck
# multiplexer channel; a live 4-20 mA loop always moves by a few LSB) is None as well.
_STALE_READS = const(50)  # 5 s at the 100 ms control tick


class Transmitter:
    def __init__(self, adc, range_mbar=PRESSURE_RANGE_MBAR, stale_reads=_STALE_READS):
        self._adc = adc
        self._range = range_mbar
        self._stale_reads = stale_reads
        self._last = -1
        self._same = 0

    def current_ua(self):
        return counts_mv(self._adc.read_u16()) * 1000 // TX_SHUNT_OHM

    def value_mbar(self):
        counts = self._adc.read_u16()
        if counts != self._last:
            self._last = counts
            self._same = 0
        elif self._same < self._stale_reads:
            self._same += 1
        if self._same >= self._stale_reads:
            return None
        ua = counts_mv(counts) * 1000 // TX_SHUNT_OHM
        if ua < TX_FAULT_LOW_UA or ua > TX_FAULT_HIGH_UA:
            return None
        return (ua - TX_MIN_UA) * self._range // (TX_MAX_UA - TX_MIN_UA)


# ---- hv sense ------------------------------------------------------------------------------------
# High-voltage divider sense (pack or DC link): 1000 V -> 3.0 V; voltage in 0.1 V (dV), int.
#
# counts * 11000 // 65535 is 3.3 V full scale * (1000/3) V/V * 10 dV/V: stays a small int.
_DV_FULL_SCALE = const(11000)  # 3.3 V at the pin = 1100 V = 11000 dV


class HvSense:
    def __init__(self, adc):
        self._adc = adc

    def v_dv(self):
        return self._adc.read_u16() * _DV_FULL_SCALE // ADC_FULL_SCALE


# ---- current sense -------------------------------------------------------------------------------
# Bidirectional shunt amplifier: 1.65 V at 0 A, 3 mV/A, discharge positive; current in 0.1 A.
#
# i_dA = (2 * counts - 65535) * 3300 mV / (2 * 65535) / 3 mV/A * 10 = (2c - 65535) * 1100 / 13107.
# A rail reading (0 or full scale: amplifier dead or wire off) is None.
_NUM = const(1100)
_DEN = const(13107)


class CurrentSense:
    def __init__(self, adc):
        self._adc = adc

    def i_da(self):
        counts = self._adc.read_u16()
        if counts <= 0 or counts >= ADC_FULL_SCALE:
            return None
        x = 2 * counts - ADC_FULL_SCALE
        if x >= 0:
            return x * _NUM // _DEN
        return -((-x) * _NUM // _DEN)


# ---- power meter ---------------------------------------------------------------------------------
# Power transducer (IT load, grid import) with a 4-20 mA output on the 150 Ohm shunt: power in W.
#
# 4 mA = POWER_MIN_W, 20 mA = POWER_MAX_W, 50 W per uA. The current comes straight from the counts
# (counts * 11000 // 32767 = counts * 3.3 V / 65535 / 150 Ohm in uA, within 0.002 %) so every
# intermediate stays a small int on a 32-bit MCU and the fast tick allocates nothing. Out of band
# (< 3.6 mA or > 21 mA, NAMUR NE43) is None: a failed meter is never a plausible reading.
_W_PER_UA = const(50)  # (POWER_MAX_W - POWER_MIN_W) / (TX_MAX_UA - TX_MIN_UA), a test checks it


class PowerMeter:
    def __init__(self, adc):
        self._adc = adc

    def w(self):
        ua = self._adc.read_u16() * 11000 // 32767
        if ua < TX_FAULT_LOW_UA or ua > TX_FAULT_HIGH_UA:
            return None
        return POWER_MIN_W + (ua - TX_MIN_UA) * _W_PER_UA


# ---- flow meter ----------------------------------------------------------------------------------
# Pulse flow meter, K = 10 pulses per litre; flow in 0.1 L/min (dlpm), over a >= window_ms window.
#
# dlpm = pulses * 60000 ms/min * 10 dL/L / (10 pulses/L * dt_ms) = pulses * 60000 // dt_ms.
class FlowMeter:
    def __init__(self, counter, window_ms=500):
        self._counter = counter
        self._window_ms = window_ms
        self._last_count = counter.count()
        self._last_ms = None
        self.flow_dlpm = 0

    def update(self, now_ms):
        count = self._counter.count()
        if self._last_ms is None:
            self._last_ms = now_ms
            self._last_count = count
            return self.flow_dlpm
        dt_ms = ticks_diff(now_ms, self._last_ms)
        if dt_ms >= self._window_ms:
            pulses = count - self._last_count
            self.flow_dlpm = pulses * 600000 // (FLOW_PULSES_PER_L * dt_ms)
            self._last_ms = now_ms
            self._last_count = count
        return self.flow_dlpm


# ---- level switch --------------------------------------------------------------------------------
# Reservoir level switch: 1 = level above the low switch (pump may run).
class LevelSwitch:
    def __init__(self, din):
        self._in = din

    def ok(self):
        return bool(self._in.value())


# ---- leak rope -----------------------------------------------------------------------------------
# Supervised leak rope of one zone: a digital leak input plus an optional supervision ADC.
#
# Supervision voltage (plant model): 0.5 Vref dry, 0.2 Vref wet, 1.0 Vref cable open. An open cable
# is a SENSOR fault (LEAK_CABLE), never a leak trip. Without a supervision ADC only the digital input
# is used (unsupervised: a broken cable cannot be seen).
LEAK_DRY = const(0)
LEAK_WET = const(1)
LEAK_CABLE = const(2)


class LeakRope:
    def __init__(self, leak_in, sup_adc=None):
        self._in = leak_in
        self._sup = sup_adc

    def state(self):
        if self._sup is not None:
            mv = counts_mv(self._sup.read_u16())
            if mv >= LEAK_SUP_OPEN_MIN_MV:
                return LEAK_CABLE
            if mv <= LEAK_SUP_LEAK_MAX_MV:
                return LEAK_WET
        return LEAK_WET if self._in.value() else LEAK_DRY
