"""Coolant distribution unit (CDU) control, pure: pump loop, supply temperature, protections, leaks.

Units: flow 0.1 L/min (dlpm), pressure mbar, temperature 0.01 degC (cdegc), speed/valve 0.01 %
(cpct), time ms. Readings arrive in a preallocated Inputs object (None = invalid sensor).
step_fast() (10 ms) isolates leaking zones: zone k leak -> close zone k valves in that tick, other
zones stay open, latched until reset_leaks() with the rope dry. A broken rope (LEAK_CABLE) is a
sensor fault, never a leak trip. step_control() (100 ms) runs the flow (or DP) PID on pump speed,
the lead/lag pair (control/pumps.py), the mixing-valve temperature loop (every temp_period_ms),
3-sensor voting, dew-point protection and the level / pressure / filter / low-flow / over-temp
protections. `causes` is a bitmask of fault ids (control/fault_rows.py) for the fault table.
Level (dry run, DOMAIN.md "made before start; fill at most 3 min"): no pump starts while the level
switch is open, and RESERVOIR_LOW (fatal, latched in the table) is reported while it is. A level
lost while the pumps run latches `level_trip` (a chattering switch must not restart them dry);
with the pumps stopped the reservoir is filling, and a fill that has not made the switch within
fill_max_ms latches it too. Only reset() clears it, and only with the switch made. A start-up
fill made in time starts the pumps: they never ran dry.
Dew point (supply >= dew point + dew_margin, the setpoint raised when the dew point rises): a
fitted dew-point transmitter that fails (None) is a sensor fault and protection fails to its safe
side: condensation risk is assumed (the alarm says the module is blind to it) and the raised
setpoint is held at the last valid dew point + margin, never dropped back while blind.
Warnings: supply temperature off its setpoint (control/temp_warnings.py): `over_temp`,
`under_temp`; supply pressure above 90 % of the relief setting: `relief_warn` (6 bar: the trip).
health: HEALTH_OK, HEALTH_DEGRADED (derate the battery), HEALTH_LOST (no flow: open contactors).
A flow dip during a pump changeover or rotation is DEGRADED for up to flow_grace_ms (default
pump_fail_flow_ms + flow_prove_ms = the time the lead/lag needs to confirm and prove the standby),
so a single pump failure derates the battery instead of tripping it; both failed = LOST at once.
"""

from micropython import const

from control.fault_rows import (
    FAULT_CONDENSATION,
    FAULT_COOLANT_OVER_TEMP,
    FAULT_COOLING_LOST,
    FAULT_FILTER_CLOGGED,
    FAULT_LEAK,
    FAULT_LEAK_CABLE,
    FAULT_LOW_FLOW,
    FAULT_PRESSURE,
    FAULT_PUMP_FAILED,
    FAULT_PUMP_PWM_WIRE,
    FAULT_RESERVOIR_LOW,
    FAULT_ROTATION_FAILED,
    FAULT_SENSOR,
    FAULT_TACH_LOST,
    FAULT_VALVE,
)
from control.pid import Pid
from control.pumps import Pumps
from control.temp_warnings import TempWarnings
from control.ticks import ticks_diff
from control.valves import VALVE_OK, ModulatingSupervisor, OnOffSupervisor
from control.voter import Voter

# Same values as drivers/leak_rope.py (control/ must not import drivers/).
LEAK_DRY = const(0)
LEAK_WET = const(1)
LEAK_CABLE = const(2)

HEALTH_OK = const(0)
HEALTH_DEGRADED = const(1)
HEALTH_LOST = const(2)

_FULL = const(10000)
_TEMP_PERIOD_MS = const(1000)
_FILTER_HYST_MBAR = const(50)
_RELIEF_HYST_MBAR = const(100)
_LOW_FLOW_HYST_PCT = const(5)


class Inputs:
    """Preallocated readings; the composition overwrites the fields every control tick."""

    def __init__(self):
        self.flow_dlpm = None
        self.p_supply_mbar = None
        self.p_return_mbar = None
        self.filter_dp_mbar = None
        self.t_supply1_cdegc = None
        self.t_supply2_cdegc = None
        self.t_supply3_cdegc = None
        self.dew_point_cdegc = None
        self.level_ok = True
        self.rpm0 = 0
        self.rpm1 = 0
        self.mix_fb_cpct = None
        self.zone_open_ls = 0  # bit per zone
        self.zone_closed_ls = 0


class Cooling:
    def __init__(self, cfg, zones=2, pumps=2, dew_point=True, filter_dp=True):
        """dew_point, filter_dp: those transmitters are fitted (a None reading is a fault)."""
        self.zones = zones
        self.on_dp = bool(cfg["pump_on_dp"])
        self.flow_sp_dlpm = cfg["flow_setpoint_lpm"] * 10
        self.dp_sp_mbar = cfg["dp_setpoint_kpa"] * 10
        self.temp_sp_cdegc = cfg["supply_temp_setpoint_ddegc"] * 10
        self.fallback_cpct = cfg["pump_fallback_speed_pct"] * 100
        self.p_sup_max_mbar = cfg["supply_pressure_max_kpa"] * 10
        self.p_ret_min_mbar = cfg["return_pressure_min_kpa"] * 10
        self.filter_max_mbar = cfg["filter_dp_max_kpa"] * 10
        # supply over-temperature trip (FAULT_SUPPLY_OVER_TEMP, debounced by its row)
        self.t_sup_trip_cdegc = cfg["supply_temp_max_ddegc"] * 10
        self.supply_over_temp = 0  # control/pack_limits.py SUB_*: 1 above the limit, 2 no value
        # sub-codes of the merged faults (control/fault_rows.py): which input, zone, direction
        self.sensor_sub = 0
        self.pressure_sub = 0
        self.valve_sub = 0
        self.fill_max_ms = cfg["fill_max_ms"]
        self.relief_warn_mbar = cfg["relief_pressure_kpa"] * 9  # 90 % of the setting, in mbar
        self.has_dew_point = dew_point
        self.has_filter_dp = filter_dp
        self.low_flow_pct = cfg["low_flow_pct"]
        self.low_flow_ms = cfg["low_flow_ms"]
        self.dew_margin_cdegc = cfg["dew_margin_ddegc"] * 10
        self.temp_warnings = TempWarnings(cfg)
        self.pumps = Pumps(cfg, pumps)
        self.flow_grace_ms = self.pumps.fail_flow_ms + self.pumps.prove_ms
        self.flow_pid = Pid(
            cfg["flow_kp_milli"],
            cfg["flow_ki_milli"],
            self.pumps.min_cpct,
            _FULL,
        )
        self.temp_pid = Pid(cfg["temp_kp_milli"], cfg["temp_ki_milli"], 0, _FULL)
        self.voter = Voter(cfg["sensor_disagree_ddegc"] * 10, cfg["sensor_disagree_ms"])
        stroke = cfg["valve_stroke_ms"]
        self.zone_sup = [OnOffSupervisor(stroke) for _ in range(zones)]
        # settle default 1.5 x a 30 s full-stroke mixing valve (the plant's), so travel is no fault
        self.mix_sup = ModulatingSupervisor(cfg["valve_fb_tol_pct"], cfg["valve_settle_ms"])
        self.leak_mask = 0  # latched leaking zones
        self.cable_mask = 0  # zones whose rope is broken (sensor fault)
        self.zone_close = 0  # zone valves commanded closed (bit per zone)
        self.pressure_trip = False
        self.level_trip = False  # latched: see the module docstring
        self.level_sub = 0  # 1 level lost while running, 2 fill not made within fill_max_ms
        self._level_ok = True
        self._fill_ms = -1  # when the reservoir began filling (level open, pumps stopped)
        self.low_flow = False
        self.filter_dirty = False
        self.over_temp = False
        self.under_temp = False
        self.relief_warn = False
        self._dew_held = None  # the last valid dew point (cdegc), held while the transmitter fails
        self.condensation = False
        self.sensor_fault = False
        self.mix_demand_cpct = _FULL
        self.temp_sp_eff_cdegc = self.temp_sp_cdegc
        self.health = HEALTH_LOST
        self.flow_proven = False
        self.flow_ok = False
        self._proven_ms = -1
        self.causes = 0
        self._boot_ms = None
        self._low_ms = -1
        self._temp_acc_ms = 0
        self._was_running = False

    # ---- fast tick: leak isolation -----------------------------------------------------------
    def step_fast(self, now_ms, leak0, leak1=LEAK_DRY):
        if leak0 == LEAK_WET:
            self.leak_mask |= 1
        if leak1 == LEAK_WET and self.zones > 1:
            self.leak_mask |= 2
        self.cable_mask = (1 if leak0 == LEAK_CABLE else 0) | (2 if leak1 == LEAK_CABLE else 0)
        self.zone_close = self.leak_mask
        return self.zone_close

    def reset_leaks(self, leak0, leak1=LEAK_DRY):
        """Operator reset: zones whose rope reads dry again are re-opened (never automatically)."""
        if leak0 == LEAK_DRY:
            self.leak_mask &= ~1
        if leak1 == LEAK_DRY:
            self.leak_mask &= ~2
        self.zone_close = self.leak_mask

    def reset(self):
        """Operator reset of the latched cooling faults (pumps, pressure, level with the switch
        made, valves, sensors)."""
        self.pressure_trip = False
        self.pressure_sub = 0
        if self._level_ok:
            self.level_trip = False
            self.level_sub = 0
        self.pumps.reset()
        self.voter.reset()
        self.mix_sup.reset()
        for s in self.zone_sup:
            s.reset()

    # ---- control tick ------------------------------------------------------------------------
    def step_control(self, now_ms, inp, dt_ms):
        if self._boot_ms is None:
            self._boot_ms = now_ms
        flow = inp.flow_dlpm
        p_sup = inp.p_supply_mbar
        p_ret = inp.p_return_mbar
        t_sup = self.voter.update(
            now_ms, inp.t_supply1_cdegc, inp.t_supply2_cdegc, inp.t_supply3_cdegc
        )
        running = self.pumps.running
        if p_sup is not None and p_sup > self.p_sup_max_mbar:
            self.pressure_trip = True
            self.pressure_sub |= 1
        if running and p_ret is not None and p_ret < self.p_ret_min_mbar:
            self.pressure_trip = True
            self.pressure_sub |= 2
        # a voted supply temperature that is gone (every sensor dropped) counts as too hot
        if t_sup is None:
            self.supply_over_temp = 2
        else:
            self.supply_over_temp = 1 if t_sup > self.t_sup_trip_cdegc else 0
        if p_sup is not None:
            if p_sup > self.relief_warn_mbar:
                self.relief_warn = True
            elif p_sup < self.relief_warn_mbar - _RELIEF_HYST_MBAR:
                self.relief_warn = False
        self.sensor_fault = (
            p_sup is None
            or p_ret is None
            or flow is None
            or self.voter.dropped != 0
            or self.voter.disagree
            or (self.has_dew_point and inp.dew_point_cdegc is None)
            or (self.has_filter_dp and inp.filter_dp_mbar is None)
        )
        self.sensor_sub = (
            self.voter.dropped
            | (8 if p_sup is None else 0)
            | (16 if p_ret is None else 0)
            | (32 if flow is None else 0)
            | (64 if self.has_dew_point and inp.dew_point_cdegc is None else 0)
            | (128 if self.has_filter_dp and inp.filter_dp_mbar is None else 0)
        )
        self._level(now_ms, inp.level_ok)
        run = inp.level_ok and not self.level_trip and not self.pressure_trip
        # pump loop: flow or DP; an invalid measurement -> fallback speed, integral frozen
        if self.on_dp:
            pv = None if p_sup is None or p_ret is None else p_sup - p_ret
            sp = self.dp_sp_mbar
        else:
            pv = flow
            sp = self.flow_sp_dlpm
        pid = self.flow_pid
        if not run:
            pid.enabled = False
            demand = 0
        else:
            if not pid.enabled or not self._was_running:
                pid.track(pid.out_min, sp, pv)  # bumpless start from min speed
                pid.enabled = True
            demand = pid.update(sp, pv, dt_ms)
            if demand is None:
                demand = self.fallback_cpct
        self._was_running = run
        p = self.pumps
        p.step(now_ms, run, demand, inp.rpm0, inp.rpm1, flow, self.flow_sp_dlpm)
        started = p.proven_window_over(now_ms)
        # low flow warning: < low_flow_pct for low_flow_ms, clears 5 % higher
        if started and flow is not None:
            if flow * 100 < self.flow_sp_dlpm * self.low_flow_pct:
                if self._low_ms < 0:
                    self._low_ms = now_ms
                if ticks_diff(now_ms, self._low_ms) >= self.low_flow_ms:
                    self.low_flow = True
            else:
                self._low_ms = -1
                if flow * 100 >= self.flow_sp_dlpm * (self.low_flow_pct + _LOW_FLOW_HYST_PCT):
                    self.low_flow = False
        else:
            self._low_ms = -1
        fdp = inp.filter_dp_mbar
        if fdp is not None:
            if fdp > self.filter_max_mbar:
                self.filter_dirty = True
            elif fdp < self.filter_max_mbar - _FILTER_HYST_MBAR:
                self.filter_dirty = False
        self.flow_ok = (
            p.running
            and flow is not None
            and flow * 100 >= self.flow_sp_dlpm * p.fail_flow_pct
            and not p.both_failed()
        )
        # Proven first after the start-up prove window. Once proven, a dip while the pump
        # supervision confirms a failure and brings in the standby (or a rotation proves the
        # new lead) keeps the proof for flow_grace_ms: degraded (derate), not lost (trip).
        if not p.running or p.both_failed():
            self._proven_ms = -1
        elif self.flow_ok and (started or self._proven_ms >= 0):
            self._proven_ms = now_ms
        self.flow_proven = (
            self._proven_ms >= 0 and ticks_diff(now_ms, self._proven_ms) < self.flow_grace_ms
        )
        self._temperature(now_ms, dt_ms, t_sup, inp.dew_point_cdegc, inp.mix_fb_cpct)
        vsub = 0x100 if self.mix_sup.fault != VALVE_OK else 0
        for k in range(self.zones):
            bit = 1 << k
            s = self.zone_sup[k].step(
                now_ms,
                bool(self.zone_close & bit),
                bool(inp.zone_open_ls & bit),
                bool(inp.zone_closed_ls & bit),
            )
            if s != VALVE_OK:
                vsub |= bit
        self.valve_sub = vsub
        self._publish(run, vsub != 0, inp.level_ok)

    def _level(self, now_ms, level_ok):
        """Latch level_trip on a level lost while the pumps ran (they ran last tick) or on a fill
        that has not made the switch within fill_max_ms."""
        self._level_ok = level_ok
        if level_ok:
            self._fill_ms = -1
            return
        if self._was_running:
            self.level_trip = True
            self.level_sub |= 1
        if self._fill_ms < 0:
            self._fill_ms = now_ms
        elif ticks_diff(now_ms, self._fill_ms) >= self.fill_max_ms:
            self.level_trip = True
            self.level_sub |= 2

    def _temperature(self, now_ms, dt_ms, t_sup, dew, fb):
        sp = self.temp_sp_cdegc
        blind = dew is None and self.has_dew_point
        if dew is None:
            dew = self._dew_held  # failed: hold the last valid one (None: never had one)
        else:
            self._dew_held = dew
        if dew is not None and dew + self.dew_margin_cdegc > sp:
            sp = dew + self.dew_margin_cdegc  # raise the setpoint when the dew point rises
        self.temp_sp_eff_cdegc = sp
        # the coldest credible supply reading: sensors that disagree fail to cold here
        t_low = self.voter.low_cdegc
        self.condensation = blind or (
            t_low is not None and dew is not None and t_low < dew + self.dew_margin_cdegc
        )
        self._temp_acc_ms += dt_ms
        if self._temp_acc_ms >= _TEMP_PERIOD_MS:
            # reverse acting: hotter than setpoint -> more cooling; error = pv - sp
            if t_sup is None or self.mix_sup.fault != VALVE_OK:
                self.mix_demand_cpct = _FULL  # fail position: full cooling
            else:
                u = self.temp_pid.update(t_sup, sp, self._temp_acc_ms)
                self.mix_demand_cpct = _FULL if u is None else u
            self._temp_acc_ms = 0
        self.mix_sup.step(now_ms, self.mix_demand_cpct, fb)
        if self.mix_sup.fault != VALVE_OK:
            self.mix_demand_cpct = _FULL
        w = self.temp_warnings
        w.step(now_ms, self._boot_ms, t_sup, sp)
        self.over_temp = w.over
        self.under_temp = w.under

    def _publish(self, run, vfault, level_ok):
        p = self.pumps
        c = 0
        if p.failed:
            c |= 1 << FAULT_PUMP_FAILED
        if p.tach_lost:
            c |= 1 << FAULT_TACH_LOST
        if p.pwm_wire:
            c |= 1 << FAULT_PUMP_PWM_WIRE
        if p.both_failed():
            c |= 1 << FAULT_COOLING_LOST
        if p.rotation_failed:
            c |= 1 << FAULT_ROTATION_FAILED
        if self.low_flow:
            c |= 1 << FAULT_LOW_FLOW
        if self.filter_dirty:
            c |= 1 << FAULT_FILTER_CLOGGED
        if not level_ok or self.level_trip:
            c |= 1 << FAULT_RESERVOIR_LOW
        if self.pressure_trip:
            c |= 1 << FAULT_PRESSURE
        if self.leak_mask:
            c |= 1 << FAULT_LEAK
        if self.cable_mask:
            c |= 1 << FAULT_LEAK_CABLE
        if self.condensation:
            c |= 1 << FAULT_CONDENSATION
        if self.sensor_fault:
            c |= 1 << FAULT_SENSOR
        if vfault:
            c |= 1 << FAULT_VALVE
        if self.over_temp:
            c |= 1 << FAULT_COOLANT_OVER_TEMP
        self.causes = c
        if not run or p.both_failed() or not self.flow_proven:
            self.health = HEALTH_LOST
        elif not self.flow_ok or c & ~(
            (1 << FAULT_TACH_LOST) | (1 << FAULT_CONDENSATION) | (1 << FAULT_LEAK_CABLE)
        ):
            self.health = HEALTH_DEGRADED
        else:
            self.health = HEALTH_OK
