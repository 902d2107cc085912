"""Drivers (firmware/drivers/) on the fake HAL, and transfer consts vs the plant's table."""

import sys

from drivers import transfer as tf
from drivers.contactor import Contactor
from drivers.current_sense import CurrentSense
from drivers.dew_point import DewPointTransmitter
from drivers.flow_meter import FlowMeter
from drivers.hv_sense import HvSense
from drivers.leak_rope import LEAK_CABLE, LEAK_DRY, LEAK_WET, LeakRope
from drivers.level_switch import LevelSwitch
from drivers.modulating_valve import ModulatingValve
from drivers.ntc import Ntc
from drivers.on_off_valve import OnOffValve
from drivers.pcs import Pcs
from drivers.power_meter import PowerMeter
from drivers.pump import Pump
from drivers.transmitter import Transmitter
from support import IS_MICROPYTHON

ROLES = (
    "PUMP1_PWM", "PUMP1_TACH", "FLOW_PULSE", "ZONE1_VALVE", "ZONE1_VALVE_OPEN_LS",
    "ZONE1_VALVE_CLOSED_LS", "MIX_VALVE_PWM", "MIX_VALVE_FB", "K_POS_COIL", "K_POS_AUX",
    "T_SUPPLY1", "P_SUPPLY", "V_PACK", "I_PACK", "LEAK_ZONE1", "LEAK_ZONE1_SUP", "LEVEL_OK",
    "GRID_KW", "PCS_ENABLE", "PCS_PWM",
)  # fmt: skip
BOARD = {"board": "T", "hal": "fake", "pins": {r: {"pin": i} for i, r in enumerate(ROLES)}}


def _p():
    from hal.fake import open_platform

    return open_platform(BOARD)


def _mv(mv):
    return (mv * 65535 + 1650) // 3300


def test_pump_pwm_inverted_and_tach_rpm():
    p = _p()
    pump = Pump(p.pwm("PUMP1_PWM", 25000), p.pulse_counter("PUMP1_TACH"))
    assert p.pwms["PUMP1_PWM"].duty == 65535  # constructed stopped (duty full = stop)
    pump.command(10000)
    assert p.pwms["PUMP1_PWM"].duty == 0  # full speed = duty 0 (broken wire = full)
    pump.command(2500)
    assert p.pwms["PUMP1_PWM"].duty == 49151
    pump.update(0)
    p.add_pulses("PUMP1_TACH", 50)  # 25 rev in 500 ms = 3000 rpm
    assert pump.update(500) == 3000
    assert pump.update(600) == 3000  # inside the window: last value
    assert pump.update(1000) == 0


def test_onoff_valve_energise_to_close_and_limits():
    p = _p()
    v = OnOffValve(
        p.digital_out("ZONE1_VALVE"),
        p.digital_in("ZONE1_VALVE_OPEN_LS"),
        p.digital_in("ZONE1_VALVE_CLOSED_LS"),
    )
    assert p.outputs["ZONE1_VALVE"].level == 0  # fail-open
    v.command_close(True)
    assert p.outputs["ZONE1_VALVE"].level == 1
    p.set_input("ZONE1_VALVE_CLOSED_LS", 1)
    assert v.at_closed() and not v.at_open()


def test_modulating_valve_pwm_and_feedback_invalid_out_of_band():
    p = _p()
    v = ModulatingValve(p.pwm("MIX_VALVE_PWM", 1000), p.adc("MIX_VALVE_FB"))
    v.command(10000)
    assert p.pwms["MIX_VALVE_PWM"].duty == 0
    p.set_adc("MIX_VALVE_FB", _mv(1650))
    assert abs(v.position_cpct() - 5000) <= 5
    p.set_adc("MIX_VALVE_FB", 0)  # broken feedback wire
    assert v.position_cpct() is None


def test_contactor_coil_and_aux():
    p = _p()
    k = Contactor(p.digital_out("K_POS_COIL"), p.digital_in("K_POS_AUX"))
    k.set(True)
    assert p.outputs["K_POS_COIL"].level == 1
    p.set_input("K_POS_AUX", 1)
    assert k.aux_closed()


def test_ntc_against_plant_points_and_open_short():
    p = _p()
    n = Ntc(p.adc("T_SUPPLY1"))
    p.set_adc("T_SUPPLY1", 32767)  # divider midpoint = 10 kOhm = 25 degC
    assert abs(n.temp_cdegc() - 2500) <= 1
    p.set_adc("T_SUPPLY1", 65535)
    assert n.temp_cdegc() is None  # open
    p.set_adc("T_SUPPLY1", 0)
    assert n.temp_cdegc() is None  # short


def test_transmitter_4_20_and_out_of_band():
    p = _p()
    t = Transmitter(p.adc("P_SUPPLY"))
    p.set_adc("P_SUPPLY", _mv(1800))  # 12 mA = 5 bar
    assert abs(t.value_mbar() - 5000) <= 5
    p.set_adc("P_SUPPLY", _mv(510))  # 3.4 mA < 3.6: broken loop
    assert t.value_mbar() is None
    p.set_adc("P_SUPPLY", _mv(3200))  # 21.3 mA > 21
    assert t.value_mbar() is None


def test_transmitter_stale_sample_is_invalid():
    p = _p()
    t = Transmitter(p.adc("P_SUPPLY"), stale_reads=50)
    for i in range(200):  # a live loop: a few LSB of noise, never stale
        p.set_adc("P_SUPPLY", _mv(1800) + i % 3)
        assert t.value_mbar() is not None
    p.set_adc("P_SUPPLY", _mv(1800))
    values = [t.value_mbar() for _ in range(52)]
    assert None not in values[:50] and values[50:] == [None, None]  # frozen for 50 reads
    p.set_adc("P_SUPPLY", _mv(1800) + 1)
    assert t.value_mbar() is not None  # live again


def test_hv_and_current_sense():
    p = _p()
    hv = HvSense(p.adc("V_PACK"))
    p.set_adc("V_PACK", _mv(2400))  # 2.4 V = 800 V
    assert abs(hv.v_dv() - 8000) <= 2
    cs = CurrentSense(p.adc("I_PACK"))
    p.set_adc("I_PACK", _mv(1650 + 300))  # +100 A
    assert abs(cs.i_da() - 1000) <= 2
    p.set_adc("I_PACK", _mv(1650 - 300))
    assert abs(cs.i_da() + 1000) <= 2
    p.set_adc("I_PACK", 0)
    assert cs.i_da() is None


def test_flow_meter_pulses_to_dlpm():
    p = _p()
    f = FlowMeter(p.pulse_counter("FLOW_PULSE"))
    f.update(0)
    p.add_pulses("FLOW_PULSE", 83)  # 8.3 L in 5 s = 99.6 L/min
    assert f.update(5000) == 996
    p.add_pulses("FLOW_PULSE", 5)
    assert f.update(5200) == 996  # shorter than the window: last value kept
    assert f.update(5500) == 600  # 0.5 L in 500 ms = 60 L/min


def test_leak_rope_supervised_wet_dry_cable():
    p = _p()
    r = LeakRope(p.digital_in("LEAK_ZONE1"), p.adc("LEAK_ZONE1_SUP"))
    p.set_adc("LEAK_ZONE1_SUP", _mv(1650))
    assert r.state() == LEAK_DRY
    p.set_adc("LEAK_ZONE1_SUP", _mv(660))
    p.set_input("LEAK_ZONE1", 1)
    assert r.state() == LEAK_WET
    p.set_adc("LEAK_ZONE1_SUP", 65535)  # cable open: digital reads "no leak"
    p.set_input("LEAK_ZONE1", 0)
    assert r.state() == LEAK_CABLE
    assert LeakRope(p.digital_in("LEAK_ZONE1")).state() == LEAK_DRY


def test_level_switch():
    p = _p()
    s = LevelSwitch(p.digital_in("LEVEL_OK"))
    assert not s.ok()
    p.set_input("LEVEL_OK", 1)
    assert s.ok()


def test_transfer_consts_match_plant():
    if IS_MICROPYTHON:
        return  # the plant package is host-only; the CPython run of this file checks it
    root = __file__.rsplit("/firmware/", 1)[0]
    sys.path.insert(0, root + "/host_tools")
    from gridpod.plant import transfer as s

    assert tf.ADC_VREF_MV == round(s.ADC_VREF_V * 1000) and tf.ADC_FULL_SCALE == s.ADC_FULL_SCALE
    assert (tf.NTC_R25_OHM, tf.NTC_BETA_K, tf.NTC_DIVIDER_OHM) == (
        s.NTC_R25_OHM,
        s.NTC_BETA_K,
        s.NTC_DIVIDER_OHM,
    )
    assert tf.TX_SHUNT_OHM == s.TX_SHUNT_OHM
    assert (tf.TX_MIN_UA, tf.TX_MAX_UA) == (s.TX_MIN_MA * 1000, s.TX_MAX_MA * 1000)
    assert (tf.TX_FAULT_LOW_UA, tf.TX_FAULT_HIGH_UA) == (
        round(s.TX_FAULT_LOW_MA * 1000),
        round(s.TX_FAULT_HIGH_MA * 1000),
    )
    assert tf.PRESSURE_RANGE_MBAR == s.PRESSURE_RANGE_BAR * 1000
    assert abs(tf.HV_V_PER_3V / 3.0 - s.HV_VOLTS_PER_ADC_VOLT) < 1e-9
    assert tf.I_OFFSET_MV == round(s.I_OFFSET_V * 1000) and tf.I_UV_PER_A == round(
        s.I_V_PER_A * 1e6
    )
    assert (tf.VALVE_FB_MIN_MV, tf.VALVE_FB_MAX_MV) == (
        round(s.VALVE_FB_MIN_V * 1000),
        round(s.VALVE_FB_MAX_V * 1000),
    )
    assert tf.TACH_PULSES_PER_REV == s.TACH_PULSES_PER_REV
    assert tf.FLOW_PULSES_PER_L == s.FLOW_PULSES_PER_L and tf.PWM_FULL == s.PWM_FULL
    assert (tf.POWER_MIN_W, tf.POWER_MAX_W) == (s.POWER_MIN_KW * 1000, s.POWER_MAX_KW * 1000)
    assert tf.PCS_FULL_SCALE_W == s.PCS_FULL_SCALE_KW * 1000
    assert tf.FILTER_DP_RANGE_MBAR == s.FILTER_DP_RANGE_BAR * 1000
    assert (tf.DEW_MIN_CDEGC, tf.DEW_SPAN_CDEGC) == (
        s.DEW_MIN_C * 100,
        (s.DEW_MAX_C - s.DEW_MIN_C) * 100,
    )
    p2 = _p()  # the filter DP and dew-point transmitters as app/subsystems/cooling.py builds them
    t = Transmitter(p2.adc("P_SUPPLY"), tf.FILTER_DP_RANGE_MBAR)
    p2.set_adc("P_SUPPLY", s.span_counts(0.65, 0.0, s.FILTER_DP_RANGE_BAR))
    assert abs(t.value_mbar() - 650) <= 3
    d = DewPointTransmitter(p2.adc("P_SUPPLY"))
    for dew_c in (-30.0, 0.0, 18.5, 55.0):
        p2.set_adc("P_SUPPLY", s.span_counts(dew_c, s.DEW_MIN_C, s.DEW_MAX_C))
        assert abs(d.dew_point_cdegc() - dew_c * 100) <= 5, dew_c
    p2.set_adc("P_SUPPLY", s.ma_counts(3.0))  # a broken loop: below 3.6 mA
    assert d.dew_point_cdegc() is None
    assert (tf.POWER_MAX_W - tf.POWER_MIN_W) // (tf.TX_MAX_UA - tf.TX_MIN_UA) == 50  # power_meter
    # end to end through the plant's own forward functions
    p = _p()
    n = Ntc(p.adc("T_SUPPLY1"))
    for temp_c in (5.0, 25.0, 32.0, 45.0, 80.0):
        p.set_adc("T_SUPPLY1", s.ntc_counts(temp_c))
        assert abs(n.temp_cdegc() - temp_c * 100) <= 5, temp_c
    t = Transmitter(p.adc("P_SUPPLY"))
    for bar in (0.5, 3.0, 6.0):
        p.set_adc("P_SUPPLY", s.pressure_counts(bar))
        assert abs(t.value_mbar() - bar * 1000) <= 10
    hv = HvSense(p.adc("V_PACK"))
    p.set_adc("V_PACK", s.hv_counts(768.0))
    assert abs(hv.v_dv() - 7680) <= 2
    cs = CurrentSense(p.adc("I_PACK"))
    for amps in (-250.0, 0.0, 123.0):
        p.set_adc("I_PACK", s.current_counts(amps))
        assert abs(cs.i_da() - amps * 10) <= 2
    v = ModulatingValve(p.pwm("MIX_VALVE_PWM", 1000), p.adc("MIX_VALVE_FB"))
    p.set_adc("MIX_VALVE_FB", s.valve_fb_counts(40.0))
    assert abs(v.position_cpct() - 4000) <= 5
    for frac in (0.0, 0.37, 1.0):
        v.command(int(frac * 10000))
        assert abs(s.pwm_demand_frac(p.pwms["MIX_VALVE_PWM"].duty) - frac) < 1e-3


def test_power_meter_4_20ma_and_out_of_band():
    p = _p()
    m = PowerMeter(p.adc("GRID_KW"))
    p.set_adc("GRID_KW", _mv(600))  # 4 mA on 150 Ohm
    assert abs(m.w() - -200000) <= 100
    p.set_adc("GRID_KW", _mv(3000))  # 20 mA
    assert abs(m.w() - 600000) <= 100
    p.set_adc("GRID_KW", _mv(500))  # 3.3 mA: loop broken
    assert m.w() is None
    p.set_adc("GRID_KW", _mv(3200))  # 21.3 mA
    assert m.w() is None


def test_power_meter_and_pcs_match_the_plant_transfer():
    if IS_MICROPYTHON:
        return  # the plant package is host-only; the CPython run of this file checks it
    root = __file__.rsplit("/firmware/", 1)[0]
    sys.path.insert(0, root + "/host_tools")
    from gridpod.plant import transfer as s

    p = _p()
    m = PowerMeter(p.adc("GRID_KW"))
    for kw in (-150.0, 0.0, 42.5, 80.0, 550.0):
        p.set_adc("GRID_KW", s.power_counts(kw))
        assert abs(m.w() - kw * 1000) <= 100, kw
    pcs = Pcs(p.digital_out("PCS_ENABLE"), p.pwm("PCS_PWM", 1000))
    for w in (-100000, -12340, 0, 777, 55000, 100000):
        pcs.command(w, True)
        assert abs(s.pcs_duty_kw(p.pwms["PCS_PWM"].duty) * 1000 - w) <= 10, w


def test_pcs_enable_gates_and_clamps():
    p = _p()
    pcs = Pcs(p.digital_out("PCS_ENABLE"), p.pwm("PCS_PWM", 1000))
    assert p.outputs["PCS_ENABLE"].level == 0 and p.pwms["PCS_PWM"].duty == 32768
    pcs.command(50000, True)
    assert p.outputs["PCS_ENABLE"].level == 1 and p.pwms["PCS_PWM"].duty == 32768 + 16383
    pcs.command(250000, True)
    assert p.pwms["PCS_PWM"].duty == 65535 and pcs.setpoint_w == 100000  # clamped
    pcs.command(50000, False)  # not permitted: enable off and the setpoint back to 0
    assert p.outputs["PCS_ENABLE"].level == 0 and p.pwms["PCS_PWM"].duty == 32768
