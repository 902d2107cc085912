"""Module composition: drivers built from the HAL by role, the control objects, their scheduler
slots and their registers. Each subsystem exists only when its config flag enables it
(cooling_enabled, battery_enabled, grid_enabled; all 0 by default, so a bare board pays nothing).

  fast (10 ms)      leak isolation (zone valves), contactor state machine + coils, interlocks
  control (100 ms)  sensors -> cooling (PID, lead/lag, valves, protections), Modbus commands
                    (contactor close/open, pump rotation), fault table, telemetry registers
  housekeeping (1 s) energy counters (IT, cooling = grid + battery - IT, battery in/out, grid),
                    energy per token when the host writes work_tokens
Grid (grid_enabled): IT and grid power meters, battery temperature, SOC (control/grid.py) and,
with the battery, the peak shaver in the FAST tick (control/grid.py: ints only) driving
the PCS enable + setpoint (drivers/actuators.py Pcs); the leased registers grid_import_limit_kw,
peak_shaving_enable and pcs_power_request_kw are copied into it every control tick (the bank
reverts them at lease expiry). Load = grid meter + battery power (V_pack x I_pack).

Contactors: a close needs a Modbus close request (consumed: it is a pulse, so a request left set
never re-closes after a trip) AND, every fast tick, app.state.close_permitted() AND the interlock
loop AND coolant flow proven (control/interlocks.py). The object starts OPEN with no request: no
automatic re-close after a reboot. SafeOutputs stops driving the coils only once this module owns
them; force_safe() still opens them on the way out. "Cooling lost" is a fault row with the alarm
action, so SafeOutputs drives ALARM_RELAY from the fault table within one fast tick.
Units follow control/: 0.1 V, 0.1 A, 0.01 degC, 0.1 L/min, mbar, 0.01 %.
The fast tick allocates nothing (ints only; Ntc floats run in the control tick).
"""

from control.fault_rows import FAULT_INTERLOCK_OPEN, FAULT_LEAK, FAULT_LEAK_CABLE
from control.faults import ACTION_ALARM
from drivers.transfer import DEW_MIN_CDC, DEW_SPAN_CDC, FILTER_DP_RANGE_MBAR
from micropython import const

from app import state

_TELEMETRY = (
    "supply_temp_c supply_temp1_c supply_temp2_c supply_temp3_c return_temp_c flow_lpm dp_kpa "
    "supply_pressure_kpa return_pressure_kpa pump1_speed_pct pump2_speed_pct pump1_tach_rpm "
    "pump2_tach_rpm zone1_valve_state zone2_valve_state mix_valve_pct cooling_state "
    "k_neg_state k_pre_state k_pos_state pack_voltage_v link_voltage_v pack_current_a "
    "battery_power_kw contactor_state energy_battery_in_kwh energy_battery_out_kwh "
    "contactor_close_request contactor_open_request pump_rotation_request "
    "grid_import_limit_kw peak_shaving_enable pcs_power_request_kw work_tokens it_load_kw "
    "grid_import_kw soc_pct pcs_setpoint_kw battery_temp_c battery_power_limit_pct grid_state "
    "energy_it_kwh energy_cooling_kwh energy_grid_import_kwh mj_per_token_it mj_per_token_module"
)
_R_LIMIT = const(30)  # _TELEMETRY index of grid_import_limit_kw (the grid rows follow in order)
# grid_state values
_GRID_OFF = const(0)  # shaving disabled, no manual request
_GRID_STANDBY = const(
    1
)  # enabled or requested, the PCS not permitted (contactors, SOC, temp, cooling)
_GRID_DISCHARGING = const(2)
_GRID_CHARGING = const(3)
_GRID_IDLE = const(4)  # permitted, setpoint 0
_CONTACTOR_IDS = (6, 7, 8, 9, 10, 11, 12, 13)  # control_faults: contactor rows
_COOLING_IDS = (15, 16, 17, 18, 19, 20, 21, 22, 23, 26, 27, 28, 29)  # leak ids in the fast tick


class _Task:
    """A scheduler entry whose tick is a bound method stored once (calling it allocates nothing)."""

    def __init__(self, fn):
        self.tick = fn


def _div(v, d):
    return None if v is None else v // d


class Module:
    def __init__(self, platform, board, cfg, app, now_ms):
        pins = board.get("pins", {})
        self.app = app
        self.faults = app.faults
        self.cooling = None
        self.contactors = None
        self.energy = None
        self.shaver = None
        self.grid_w = None
        self.it_w = None
        self.t_batt_cdc = None
        self._tokens = 0
        p = platform
        if cfg["cooling_enabled"]:
            self._build_cooling(p, pins, cfg)
        if cfg["battery_enabled"]:
            self._build_battery(p, pins, cfg, app)
        if cfg["grid_enabled"]:
            self._build_grid(p, cfg)
        self.needs_cooling = bool(cfg["has_cooling"])
        self.v_pack_dv = None
        self.v_link_dv = None
        self.i_da = None
        self._rows: list = []
        self._last_ms = now_ms
        self._fast_ms = now_ms
        self._hk_ms = now_ms
        self.reset_pending = False
        sched = app.scheduler
        from app.scheduler import SLOT_CONTROL, SLOT_FAST, SLOT_HOUSEKEEPING

        if self.cooling is not None or self.contactors is not None or self.energy is not None:
            sched.add(_Task(self.fast), SLOT_FAST)
            sched.add(_Task(self.control), SLOT_CONTROL)
        if self.energy is not None:
            sched.add(_Task(self.housekeeping), SLOT_HOUSEKEEPING)
        if app.points is not None:
            self._rows = app.points.bank.find(_TELEMETRY.split())

    # ----- construction (boot only) -------------------------------------------------------------
    def _build_cooling(self, p, pins, cfg):
        from control.cooling import Cooling, Inputs
        from drivers.flow_meter import FlowMeter
        from drivers.leak_rope import LeakRope
        from drivers.level_switch import LevelSwitch
        from drivers.modulating_valve import ModulatingValve
        from drivers.ntc import Ntc
        from drivers.on_off_valve import OnOffValve
        from drivers.pump import Pump
        from drivers.transmitter import Transmitter

        zones = cfg["leak_zone_count"]
        npumps = cfg["pump_count"]
        self.pumps = [
            Pump(p.pwm("PUMP%d_PWM" % k, 1000, 65535), p.pulse_counter("PUMP%d_TACH" % k))
            for k in range(1, npumps + 1)
        ]
        self.flow = FlowMeter(p.pulse_counter("FLOW_PULSE"))
        self.valves = []
        self.ropes = []
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
            self.ropes.append(
                LeakRope(p.digital_in("LEAK_ZONE%d" % k), p.adc(sup) if sup in pins else None)
            )
        self.mix = ModulatingValve(p.pwm("MIX_VALVE_PWM", 1000, 0), p.adc("MIX_VALVE_FB"))
        n = cfg["supply_temp_sensor_count"]
        self.t_supply = [Ntc(p.adc("T_SUPPLY%d" % k)) for k in range(1, n + 1)]
        self.t_return = Ntc(p.adc("T_RETURN")) if "T_RETURN" in pins else None
        self.p_supply = Transmitter(p.adc("P_SUPPLY"))
        self.p_return = Transmitter(p.adc("P_RETURN"))
        self.level = LevelSwitch(p.digital_in("LEVEL_OK"))
        # 4-20 mA transmitters, where the board has them (drivers/transfer.py): filter DP in mbar,
        # dew point as 0..DEW_SPAN_CDC above DEW_MIN_CDC
        f = "FILTER_DP"
        self.filter_dp = Transmitter(p.adc(f), FILTER_DP_RANGE_MBAR) if f in pins else None
        d = "DEW_POINT"
        self.dew_point = Transmitter(p.adc(d), DEW_SPAN_CDC) if d in pins else None
        self.inputs = Inputs()
        self.cooling = Cooling(cfg, zones, npumps)
        self.t_return_cdc = None
        self._rotation = False

    def _build_battery(self, p, pins, cfg, app):
        from control.contactors import Contactors
        from control.interlocks import Interlocks
        from drivers.contactor import Contactor
        from drivers.current_sense import CurrentSense
        from drivers.hv_sense import HvSense

        coils = app.outputs.hand_over_coils()  # the pins SafeOutputs held open until now
        self.k = [
            Contactor(coils[r + "_COIL"], p.digital_in(r + "_AUX"))
            for r in ("K_NEG", "K_PRE", "K_POS")
        ]
        self.v_pack = HvSense(p.adc("V_PACK"))
        self.v_link = HvSense(p.adc("V_LINK"))
        self.i_pack = CurrentSense(p.adc("I_PACK"))
        self.loop = p.digital_in("INTERLOCK_LOOP")
        self.contactors = Contactors(cfg)
        self.interlocks = Interlocks(cfg)

    def _build_grid(self, p, cfg):
        from control.energy import Energy
        from control.soc import Soc
        from drivers.ntc import Ntc
        from drivers.pcs import Pcs
        from drivers.power_meter import PowerMeter

        self.energy = Energy()
        self.it_meter = PowerMeter(p.adc("IT_KW"))
        self.grid_meter = PowerMeter(p.adc("GRID_KW"))
        self.t_batt = Ntc(p.adc("T_BATTERY"))
        if self.contactors is not None:  # peak shaving needs the battery behind its contactors
            from control.peak_shaver import PeakShaver

            self.soc = Soc(cfg)
            self.shaver = PeakShaver(cfg)
            self.pcs = Pcs(p.digital_out("PCS_ENABLE", 0), p.pwm("PCS_PWM", 1000, 32768))

    # ----- commands (from the Modbus coils, control tick) ----------------------------------------
    def request_close(self, now_ms):
        return self.contactors is not None and self.contactors.request_close(now_ms)

    def request_open(self, now_ms):
        if self.contactors is not None:
            self.contactors.request_open(now_ms)

    def reset(self, now_ms):
        """Operator fault reset (app.reset_faults): leaks with dry ropes, latched cooling faults,
        the contactor FAULT state once its cause is gone. Never closes anything."""
        c = self.cooling
        if c is not None:
            r = self.ropes
            c.reset_leaks(r[0].state(), r[1].state() if len(r) > 1 else 0)
            c.reset()
        k = self.contactors
        if k is not None:
            k.reset(now_ms, self._aux())
        self.reset_pending = True

    # ----- fast slot ------------------------------------------------------------------------------
    def _aux(self):
        k = self.k
        return (
            (1 if k[0].aux_closed() else 0)
            | (2 if k[1].aux_closed() else 0)
            | (4 if k[2].aux_closed() else 0)
        )

    def fast(self, now_ms):
        faults = self.faults
        c = self.cooling
        health = 0
        if c is not None:
            r = self.ropes
            close = c.step_fast(now_ms, r[0].state(), r[1].state() if len(r) > 1 else 0)
            v = self.valves
            for i in range(len(v)):
                v[i].command_close(close & (1 << i))
            faults.update(FAULT_LEAK, c.leak_mask != 0, now_ms)
            faults.update(FAULT_LEAK_CABLE, c.cable_mask != 0, now_ms)
            health = c.health
        elif self.needs_cooling:
            health = 2  # HEALTH_LOST: cooling hardware without its control never proves flow
        k = self.contactors
        if k is not None:
            il = self.interlocks
            lost = c is not None and c.pumps.both_failed()
            permit = il.step(
                state.close_permitted(),
                self.loop.value(),
                health,
                lost,
                faults.action_mask & ACTION_ALARM,
            )
            self.v_pack_dv = v_pack = self.v_pack.v_dv()
            self.v_link_dv = v_link = self.v_link.v_dv()
            self.i_da = i_da = self.i_pack.i_da()
            cmd = k.step(now_ms, v_pack, v_link, i_da, self._aux(), permit)
            kk = self.k
            kk[0].set(cmd & 1)
            kk[1].set(cmd & 2)
            kk[2].set(cmd & 4)
            causes = k.causes
            for fid in _CONTACTOR_IDS:
                faults.update(fid, causes & (1 << fid), now_ms)
            faults.update(FAULT_INTERLOCK_OPEN, il.causes != 0, now_ms)
        sh = self.shaver
        if sh is not None and k is not None:  # the grid meter is read here only for the shaver
            self.grid_w = grid_w = self.grid_meter.w()
            dt_ms = now_ms - self._fast_ms
            vp = self.v_pack_dv
            ip = self.i_da
            load_w = None
            if grid_w is not None and vp is not None and ip is not None:
                load_w = grid_w + vp * ip // 100  # dV x dA = 0.01 W
            sp = sh.step(
                dt_ms,
                load_w,
                self.soc.soc_pm,
                self.t_batt_cdc,
                k.state == 2,  # contactors.CLOSED
                self.interlocks.power_limit_pct,
            )
            # the PCS is enabled only while it has something to do (ramping down included)
            self.pcs.command(sp, sh.active and (sh.enabled or sh.request_w != 0 or sp != 0))
        self._fast_ms = now_ms
        return True

    # ----- control slot ---------------------------------------------------------------------------
    def control(self, now_ms):
        dt_ms = now_ms - self._last_ms
        self._last_ms = now_ms
        self._commands(now_ms)
        c = self.cooling
        if c is not None:
            self._read_cooling(now_ms)
            pm = c.pumps
            # the fault table's pump fallback raises the demand inside the lead/lag, so its
            # supervision compares the tach with the speed really commanded
            pm.floor_cpct = c.fallback_cpct if state.pumps_fallback() else 0
            c.step_control(now_ms, self.inputs, dt_ms)
            cmds = (pm.cmd0, pm.cmd1)
            for i in range(len(self.pumps)):
                self.pumps[i].command(cmds[i])
            self.mix.command(c.mix_demand_cpct)
            causes = c.causes
            faults = self.faults
            for fid in _COOLING_IDS:
                faults.update(fid, causes & (1 << fid), now_ms)
        if self.energy is not None:
            self.it_w = self.it_meter.w()
            if self.shaver is None:  # no peak shaving: the 100 ms reading is enough for energy
                self.grid_w = self.grid_meter.w()
            self.t_batt_cdc = self.t_batt.temp_cdc()  # float math: control tick only
            if self.shaver is not None:
                self.soc.step(dt_ms, self.v_pack_dv, self.i_da)
        if self.reset_pending:
            # after the reset objects reported their causes again (fast ran earlier this frame)
            self.reset_pending = False
            self.faults.reset_latched(now_ms)
        if self._rows:
            self._publish()
        return True

    def _commands(self, now_ms):
        pts = self.app.points
        if pts is None:
            return
        bank = pts.bank
        rows = self._rows
        if self.contactors is not None:
            if bank.get(rows[28]):
                bank.set(rows[28], 0)
                bank.set(rows[27], 0)
                self.request_open(now_ms)
            elif bank.get(rows[27]):
                bank.set(rows[27], 0)  # a pulse: consumed, so it can never re-close later
                self.request_close(now_ms)
        if self.cooling is not None and bank.get(rows[29]):
            bank.set(rows[29], 0)
            self.cooling.pumps.rotate(now_ms)
        sh = self.shaver
        if sh is not None:  # leased setpoints: the bank has already reverted expired ones
            sh.limit_w = bank.get(rows[_R_LIMIT]) * 1000
            sh.enabled = bank.get(rows[_R_LIMIT + 1]) != 0
            sh.request_w = bank.get(rows[_R_LIMIT + 2]) * 100  # 0.1 kW
        if self.energy is not None:
            tokens = bank.get(rows[_R_LIMIT + 3])
            if tokens != self._tokens:
                self._tokens = tokens
                self.energy.write_tokens(tokens & 0x3FFFFFFF)

    def _read_cooling(self, now_ms):
        inp = self.inputs
        inp.flow_dlpm = self.flow.update(now_ms)
        inp.p_supply_mbar = self.p_supply.value_mbar()
        inp.p_return_mbar = self.p_return.value_mbar()
        t = self.t_supply
        inp.t_supply1_cdc = t[0].temp_cdc()
        inp.t_supply2_cdc = t[1].temp_cdc() if len(t) > 1 else inp.t_supply1_cdc
        inp.t_supply3_cdc = t[2].temp_cdc() if len(t) > 2 else inp.t_supply1_cdc
        if self.t_return is not None:
            self.t_return_cdc = self.t_return.temp_cdc()
        inp.level_ok = self.level.ok()
        if self.filter_dp is not None:
            inp.filter_dp_mbar = self.filter_dp.value_mbar()
        if self.dew_point is not None:
            d = self.dew_point.value_mbar()
            inp.dew_point_cdc = None if d is None else d + DEW_MIN_CDC
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

    def _publish(self):
        bank = self.app.points.bank
        r = self._rows
        c = self.cooling
        if c is not None:
            inp = self.inputs
            _put(bank, r[0], _div(c.voter.value_cdc, 10))
            _put(bank, r[1], _div(inp.t_supply1_cdc, 10))
            _put(bank, r[2], _div(inp.t_supply2_cdc, 10))
            _put(bank, r[3], _div(inp.t_supply3_cdc, 10))
            _put(bank, r[4], _div(self.t_return_cdc, 10))
            _put(bank, r[5], inp.flow_dlpm)
            ps = inp.p_supply_mbar
            pr = inp.p_return_mbar
            _put(bank, r[6], None if ps is None or pr is None else max(ps - pr, 0))
            _put(bank, r[7], _div(ps, 10))
            _put(bank, r[8], _div(pr, 10))
            pm = self.pumps
            for i in range(len(pm)):
                bank.set(r[9 + i], pm[i].speed_cpct // 10)
                bank.set(r[11 + i], pm[i].rpm)
            v = self.valves
            for i in range(len(v)):
                bank.set(
                    r[13 + i],
                    (1 if v[i].close_commanded else 0)
                    | (inp.zone_open_ls >> i & 1) << 1
                    | (inp.zone_closed_ls >> i & 1) << 2,
                )
            _put(bank, r[15], _div(inp.mix_fb_cpct, 10))
            bank.set(r[16], c.health)
        k = self.contactors
        if k is not None:
            kk = self.k
            for i in range(3):
                bank.set(
                    r[17 + i], (1 if kk[i].commanded else 0) | (2 if kk[i].aux_closed() else 0)
                )
            _put(bank, r[20], self.v_pack_dv)
            _put(bank, r[21], self.v_link_dv)
            _put(bank, r[22], self.i_da)
            vp = self.v_pack_dv
            ip = self.i_da
            _put(bank, r[23], None if vp is None or ip is None else vp * ip // 10000)  # 0.1 kW
            bank.set(r[24], k.state)
        e = self.energy
        if e is not None:
            g = _R_LIMIT
            _put(bank, r[g + 4], _div(self.it_w, 100))  # 0.1 kW
            _put(bank, r[g + 5], _div(self.grid_w, 100))
            _put(bank, r[g + 8], _div(self.t_batt_cdc, 10))
            for row, idx in ((25, 2), (26, 3), (g + 11, 0), (g + 12, 1), (g + 13, 4)):
                bank.set(r[row], ((e.hi[idx] << 16) + e.lo[idx]) // 100)  # Wh -> 0.1 kWh
            _put(bank, r[g + 14], e.mj_per_token_it)
            _put(bank, r[g + 15], e.mj_per_token_module)
            sh = self.shaver
            if sh is not None:
                _put(bank, r[g + 6], self.soc.soc_pm)
                bank.set(r[g + 7], sh.setpoint_w // 100)
                bank.set(r[g + 9], self.interlocks.power_limit_pct)
                sp = sh.setpoint_w
                if not sh.enabled and sh.request_w == 0:
                    state = _GRID_OFF
                elif not sh.active:
                    state = _GRID_STANDBY
                else:
                    state = (
                        _GRID_DISCHARGING if sp > 0 else _GRID_CHARGING if sp < 0 else _GRID_IDLE
                    )
                bank.set(r[g + 10], state)

    # ----- housekeeping slot ----------------------------------------------------------------------
    def housekeeping(self, now_ms):
        """Energy from the last readings (a failed meter counts 0 for that second). Cooling is the
        rest of the module's balance: grid import + battery discharge - IT (pumps, fans, PCS
        losses), 0 when a meter is missing."""
        v = self.v_pack_dv
        i = self.i_da
        batt_w = 0 if v is None or i is None else v * i // 100
        it_w = self.it_w
        grid_w = self.grid_w
        cool_w = 0
        if it_w is not None and grid_w is not None:
            cool_w = grid_w + batt_w - it_w
        dt_ms = now_ms - self._hk_ms
        self._hk_ms = now_ms
        e = self.energy
        if e is not None:
            e.step(dt_ms, it_w or 0, cool_w if cool_w > 0 else 0, batt_w, grid_w or 0)
        return True


def _put(bank, row, value):
    if value is None:
        bank.set_na(row)
    else:
        bank.set(row, value)


# ---- code first, objects after -------------------------------------------------------------------
# The modules app/module.py imports for each subsystem, so the App can load all the code before
# any object is built (boot only; forgotten once the module is built).
#
# Why: on a 64 KiB heap, fragmentation fails first. Imports leave holes (file buffers, loader
# temporaries) between the code they load; objects built in between (the cooling drivers before
# the battery's modules are imported, say) end up scattered among those holes, and a later
# instance dict growing to a few hundred bytes finds no room. Loading every enabled subsystem's
# code first, then building the objects, let the full module boot at --heap 78K instead of 84K
# (measured, VIRTUAL board, all subsystems). A module missing here is still imported by
# app/module.py when needed: this list only orders the work.
def preload(cfg):
    """Import the code of every subsystem the config enables (tables local: no module globals)."""
    for flag, names in (
        ("cooling_enabled", ("control.cooling",)),
        ("battery_enabled", ("control.contactors", "control.interlocks")),
        ("grid_enabled", ("control.energy", "control.soc", "control.peak_shaver")),
    ):
        if cfg[flag]:
            for name in names:
                __import__(name)
