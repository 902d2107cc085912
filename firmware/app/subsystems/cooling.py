"""Cooling subsystem (cooling_enabled): the coolant distribution unit's drivers, built from the
board's roles, around control/cooling.py.

  fast (10 ms)      leak ropes -> zone valves (isolation within the tick), leak fault causes
  control (100 ms)  sensors -> Cooling.step_control -> pumps, mixing valve; cooling fault causes;
                    the leased setpoints (holding 100-102) and the pump rotation coil
Setpoints written over Modbus are clamped to a safe band before they reach the control: flow and
DP down to half their configured value at most (the no-flow interlock judges flow against the
setpoint: a setpoint of 0 would prove any flow), the supply temperature up to the over-temperature
warning band below supply_temp_max_ddegc at most.
Units follow control/ (see control/__init__.py).
"""

from comms.register_bank import RegisterBank
from control.cooling import Cooling, Inputs
from control.fault_rows import (
    FAULT_CONDENSATION,
    FAULT_COOLANT_OVER_TEMP,
    FAULT_COOLANT_UNDER_TEMP,
    FAULT_COOLING_LOST,
    FAULT_FILTER_CLOGGED,
    FAULT_LEAK,
    FAULT_LEAK_CABLE,
    FAULT_LOW_FLOW,
    FAULT_PRESSURE,
    FAULT_PUMP_FAILED,
    FAULT_PUMP_PWM_WIRE,
    FAULT_RELIEF_PRESSURE,
    FAULT_RESERVOIR_LOW,
    FAULT_ROTATION_FAILED,
    FAULT_SENSOR,
    FAULT_SUPPLY_OVER_TEMP,
    FAULT_TACH_LOST,
    FAULT_VALVE,
)
from drivers.dew_point import DewPointTransmitter
from drivers.flow_meter import FlowMeter
from drivers.leak_rope import LeakRope
from drivers.level_switch import LevelSwitch
from drivers.modulating_valve import ModulatingValve
from drivers.ntc import Ntc
from drivers.on_off_valve import OnOffValve
from drivers.pump import Pump
from drivers.transfer import FILTER_DP_RANGE_MBAR
from drivers.transmitter import Transmitter
from micropython import const

from app import state

# Register rows (comms/register_map.py order; host_tools/tests/test_register_bindings.py checks
# every _R_ name against the map).
_R_FLOW_SETPOINT_LPM = const(8)
_R_DP_SETPOINT_KPA = const(9)
_R_SUPPLY_TEMP_SETPOINT_C = const(10)
_R_SUPPLY_TEMP_C = const(26)
_R_SUPPLY_TEMP1_C = const(27)
_R_SUPPLY_TEMP2_C = const(28)
_R_SUPPLY_TEMP3_C = const(29)
_R_RETURN_TEMP_C = const(30)
_R_DEW_POINT_C = const(31)
_R_FLOW_LPM = const(32)
_R_DP_KPA = const(33)
_R_SUPPLY_PRESSURE_KPA = const(34)
_R_RETURN_PRESSURE_KPA = const(35)
_R_PUMP1_SPEED_PCT = const(36)
_R_PUMP2_SPEED_PCT = const(37)
_R_PUMP1_TACH_RPM = const(38)
_R_PUMP2_TACH_RPM = const(39)
_R_ZONE1_VALVE_STATE = const(40)
_R_ZONE2_VALVE_STATE = const(41)
_R_MIX_VALVE_PCT = const(42)
_R_COOLING_STATE = const(69)
_R_PUMP_ROTATION_REQUEST = const(101)

# zone*_valve_state bits
_VALVE_CLOSE_COMMANDED = const(1)
_VALVE_AT_OPEN = const(2)
_VALVE_AT_CLOSED = const(4)

_PUMP_SPEED_ROWS = (_R_PUMP1_SPEED_PCT, _R_PUMP2_SPEED_PCT)
_PUMP_TACH_ROWS = (_R_PUMP1_TACH_RPM, _R_PUMP2_TACH_RPM)
_ZONE_VALVE_ROWS = (_R_ZONE1_VALVE_STATE, _R_ZONE2_VALVE_STATE)
# The causes Cooling.step_control reports (leaks are reported from the fast tick).
_CONTROL_FAULTS = (
    FAULT_PUMP_FAILED,
    FAULT_TACH_LOST,
    FAULT_PUMP_PWM_WIRE,
    FAULT_COOLING_LOST,
    FAULT_ROTATION_FAILED,
    FAULT_LOW_FLOW,
    FAULT_FILTER_CLOGGED,
    FAULT_RESERVOIR_LOW,
    FAULT_PRESSURE,
    FAULT_CONDENSATION,
    FAULT_SENSOR,
    FAULT_VALVE,
    FAULT_COOLANT_OVER_TEMP,
)
_SUPPLY_TEMP_SETPOINT_MIN_DDEGC = const(100)  # 10 degC, the register's own minimum


def _div(v, d):
    return None if v is None else v // d


def _clamp(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def _sub_code(c, fault_id):
    """Which pump / zone / input / direction a cooling fault concerns (control/fault_rows.py)."""
    p = c.pumps
    if fault_id == FAULT_PUMP_FAILED:
        return p.failed
    if fault_id == FAULT_TACH_LOST:
        return p.tach_lost
    if fault_id == FAULT_PUMP_PWM_WIRE:
        return p.pwm_wire
    if fault_id == FAULT_LEAK:
        return c.leak_mask
    if fault_id == FAULT_LEAK_CABLE:
        return c.cable_mask
    if fault_id == FAULT_SENSOR:
        return c.sensor_sub
    if fault_id == FAULT_PRESSURE:
        return c.pressure_sub
    if fault_id == FAULT_VALVE:
        return c.valve_sub
    if fault_id == FAULT_RESERVOIR_LOW:
        return c.level_sub
    return 0


class CoolingSubsystem:
    """The cooling drivers and control; `health` (control/cooling.py HEALTH_*) for the battery."""

    def __init__(self, platform, pins, cfg, faults):
        p = platform
        self.faults = faults
        self._wet = 1  # leak or cable causes at the last fast report (1: report the first tick)
        zones = cfg["leak_zone_count"]
        npumps = cfg["pump_count"]
        self.pumps = [
            Pump(p.pwm("PUMP%d_PWM" % k, 1000, 65535), p.pulse_counter("PUMP%d_TACH" % k))
            for k in range(1, npumps + 1)
        ]
        self.flow = FlowMeter(p.pulse_counter("FLOW_PULSE"))
        self.valves = []
        self.ropes = []
        supervised = 0
        for k in range(1, zones + 1):
            z = "ZONE%d_VALVE" % k
            self.valves.append(
                OnOffValve(
                    p.digital_out(z, 0),
                    p.digital_in(z + "_OPEN_LS"),
                    p.digital_in(z + "_CLOSED_LS"),
                )
            )
            sup = "LEAK_ZONE%d_SUP" % k
            sup_adc = p.adc(sup) if sup in pins else None
            supervised += sup_adc is not None
            self.ropes.append(LeakRope(p.digital_in("LEAK_ZONE%d" % k), sup_adc))
        self.mix = ModulatingValve(p.pwm("MIX_VALVE_PWM", 1000, 0), p.adc("MIX_VALVE_FB"))
        n = cfg["supply_temp_sensor_count"]
        self.t_supply = [Ntc(p.adc("T_SUPPLY%d" % k)) for k in range(1, n + 1)]
        self.t_return = Ntc(p.adc("T_RETURN")) if "T_RETURN" in pins else None
        self.p_supply = Transmitter(p.adc("P_SUPPLY"))
        self.p_return = Transmitter(p.adc("P_RETURN"))
        self.level = LevelSwitch(p.digital_in("LEVEL_OK"))
        # 4-20 mA transmitters, where the board has them
        f = "FILTER_DP"
        self.filter_dp = Transmitter(p.adc(f), FILTER_DP_RANGE_MBAR) if f in pins else None
        d = "DEW_POINT"
        self.dew_point = DewPointTransmitter(p.adc(d)) if d in pins else None
        self.inputs = Inputs()
        self.control = Cooling(
            cfg, zones, npumps, self.dew_point is not None, self.filter_dp is not None
        )
        self.t_return_cdegc = None
        # safe band of the Modbus setpoints (see the module docstring)
        self.flow_sp_min_lpm = cfg["flow_setpoint_lpm"] // 2
        self.dp_sp_min_kpa = cfg["dp_setpoint_kpa"] // 2
        self.dp_sp_max_kpa = cfg["supply_pressure_max_kpa"] - cfg["return_pressure_min_kpa"]
        self.temp_sp_max_ddegc = cfg["supply_temp_max_ddegc"] - cfg["temp_warn_band_ddegc"]
        print(
            "gridpod: cooling: %d pumps, %d leak zones (%d supervised), %d supply sensors, "
            "return %s, filter DP %s, dew point %s, loop on %s"
            % (
                npumps,
                zones,
                supervised,
                n,
                "yes" if self.t_return else "no",
                "yes" if self.filter_dp else "no",
                "yes" if self.dew_point else "no",
                "DP" if self.control.on_dp else "flow",
            )
        )

    @property
    def health(self):
        return self.control.health

    def pumps_both_failed(self):
        return self.control.pumps.both_failed()

    def _leaks(self):
        r = self.ropes
        return r[0].state(), r[1].state() if len(r) > 1 else 0

    # ----- fast slot: leak isolation --------------------------------------------------------------
    def fast(self, now_ms):
        c = self.control
        r = self.ropes  # no tuple here: the fast tick allocates nothing
        close = c.step_fast(now_ms, r[0].state(), r[1].state() if len(r) > 1 else 0)
        v = self.valves
        for i in range(len(v)):
            v[i].command_close(close & (1 << i))
        if c.leak_mask or c.cable_mask or self._wet:
            # quiet ticks (no cause now or at the last report) change nothing in the fault table
            self._wet = c.leak_mask | c.cable_mask
            faults = self.faults
            faults.update(FAULT_LEAK, c.leak_mask != 0, now_ms, c.leak_mask)
            faults.update(FAULT_LEAK_CABLE, c.cable_mask != 0, now_ms, c.cable_mask)

    # ----- control slot ---------------------------------------------------------------------------
    def commands(self, bank: RegisterBank, now_ms):
        """The pump rotation coil (a pulse: consumed) and the leased setpoints, clamped."""
        c = self.control
        if bank.get(_R_PUMP_ROTATION_REQUEST):
            bank.set(_R_PUMP_ROTATION_REQUEST, 0)
            c.pumps.rotate(now_ms)
        c.flow_sp_dlpm = _clamp(bank.get(_R_FLOW_SETPOINT_LPM), self.flow_sp_min_lpm, 1000) * 10
        dp_kpa = _clamp(bank.get(_R_DP_SETPOINT_KPA), self.dp_sp_min_kpa, self.dp_sp_max_kpa)
        c.dp_sp_mbar = dp_kpa * 10
        t = bank.get(_R_SUPPLY_TEMP_SETPOINT_C)
        c.temp_sp_cdegc = _clamp(t, _SUPPLY_TEMP_SETPOINT_MIN_DDEGC, self.temp_sp_max_ddegc) * 10

    def step(self, now_ms, dt_ms):
        """The control step on the inputs read() took one control phase earlier (app/module.py:
        the two together were the heaviest frame of the control period on a chip)."""
        c = self.control
        pm = c.pumps
        # the fault table's pump fallback raises the demand inside the lead/lag, so its
        # supervision compares the tach with the speed really commanded
        pm.floor_cpct = c.fallback_cpct if state.pumps_fallback() else 0
        c.step_control(now_ms, self.inputs, dt_ms)
        pumps = self.pumps
        n = len(pumps)
        if n:
            pumps[0].command(pm.cmd0)
        if n > 1:
            pumps[1].command(pm.cmd1)
        self.mix.command(c.mix_demand_cpct)
        causes = c.causes
        faults = self.faults
        for fid in _CONTROL_FAULTS:
            if causes & (1 << fid):
                faults.update(fid, True, now_ms, _sub_code(c, fid))
            else:
                faults.update(fid, False, now_ms)
        sot = c.supply_over_temp
        faults.update(FAULT_SUPPLY_OVER_TEMP, sot, now_ms, sot)
        # warnings in the table's second word: reported by flag, not through `causes` (bits 0..29)
        faults.update(FAULT_COOLANT_UNDER_TEMP, c.under_temp, now_ms)
        faults.update(FAULT_RELIEF_PRESSURE, c.relief_warn, now_ms)

    def read(self, now_ms):
        """The sensors, limit switches and tachs into self.inputs (a control task of its own,
        at PHASE_COOLING_READ); checks in."""
        inp = self.inputs
        inp.flow_dlpm = self.flow.update(now_ms)
        inp.p_supply_mbar = self.p_supply.value_mbar()
        inp.p_return_mbar = self.p_return.value_mbar()
        t = self.t_supply
        inp.t_supply1_cdegc = t[0].temp_cdegc()
        inp.t_supply2_cdegc = t[1].temp_cdegc() if len(t) > 1 else inp.t_supply1_cdegc
        inp.t_supply3_cdegc = t[2].temp_cdegc() if len(t) > 2 else inp.t_supply1_cdegc
        if self.t_return is not None:
            self.t_return_cdegc = self.t_return.temp_cdegc()
        inp.level_ok = self.level.ok()
        if self.filter_dp is not None:
            inp.filter_dp_mbar = self.filter_dp.value_mbar()
        if self.dew_point is not None:
            inp.dew_point_cdegc = self.dew_point.dew_point_cdegc()
        pm = self.pumps
        inp.rpm0 = pm[0].update(now_ms)
        inp.rpm1 = pm[1].update(now_ms) if len(pm) > 1 else 0
        inp.mix_fb_cpct = self.mix.position_cpct()
        op = 0
        cl = 0
        v = self.valves
        for i in range(len(v)):
            if v[i].at_open():
                op |= 1 << i
            if v[i].at_closed():
                cl |= 1 << i
        inp.zone_open_ls = op
        inp.zone_closed_ls = cl
        return True

    def reset(self, now_ms):
        """Operator reset: leaks with dry ropes re-open their zone, latched cooling faults clear."""
        leak0, leak1 = self._leaks()
        self.control.reset_leaks(leak0, leak1)
        self.control.reset()

    def publish(self, bank: RegisterBank):
        c = self.control
        inp = self.inputs
        bank.put(_R_SUPPLY_TEMP_C, _div(c.voter.value_cdegc, 10))
        bank.put(_R_SUPPLY_TEMP1_C, _div(inp.t_supply1_cdegc, 10))
        bank.put(_R_SUPPLY_TEMP2_C, _div(inp.t_supply2_cdegc, 10))
        bank.put(_R_SUPPLY_TEMP3_C, _div(inp.t_supply3_cdegc, 10))
        bank.put(_R_RETURN_TEMP_C, _div(self.t_return_cdegc, 10))
        if self.dew_point is not None:
            bank.put(_R_DEW_POINT_C, _div(inp.dew_point_cdegc, 10))
        bank.put(_R_FLOW_LPM, inp.flow_dlpm)
        ps = inp.p_supply_mbar
        pr = inp.p_return_mbar
        bank.put(_R_DP_KPA, None if ps is None or pr is None else max(ps - pr, 0))
        bank.put(_R_SUPPLY_PRESSURE_KPA, _div(ps, 10))
        bank.put(_R_RETURN_PRESSURE_KPA, _div(pr, 10))
        pm = self.pumps
        for i in range(len(pm)):
            bank.set(_PUMP_SPEED_ROWS[i], pm[i].speed_cpct // 10)
            bank.set(_PUMP_TACH_ROWS[i], pm[i].rpm)
        v = self.valves
        for i in range(len(v)):
            bank.set(
                _ZONE_VALVE_ROWS[i],
                (_VALVE_CLOSE_COMMANDED if v[i].close_commanded else 0)
                | (_VALVE_AT_OPEN if inp.zone_open_ls >> i & 1 else 0)
                | (_VALVE_AT_CLOSED if inp.zone_closed_ls >> i & 1 else 0),
            )
        bank.put(_R_MIX_VALVE_PCT, _div(inp.mix_fb_cpct, 10))
        bank.set(_R_COOLING_STATE, c.health)
