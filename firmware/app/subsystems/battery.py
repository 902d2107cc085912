"""Battery subsystem (battery_enabled): the string's contactors (K_NEG, K_PRE, K_POS with aux
contacts), pack and link voltage, pack current, pack temperature and the interlock loop, around
control/contactors.py, control/interlocks.py and control/pack_limits.py.

  fast (10 ms)      interlocks (app.state permit, loop, coolant flow proven) -> contactor state
                    machine -> coils; contactor, interlock, pack over-voltage and over-current
                    fault causes (the contactor faults' sub-code: the sequencer state)
  control (100 ms)  the close / open coils (pulses, consumed: a request left set never re-closes
                    after a trip; open wins); pack temperature and its over-temperature trip
A close needs a Modbus close request AND, every fast tick, app.state.close_permitted() AND the
interlock loop AND coolant flow proven. The state machine starts OPEN with no request: no
automatic re-close after a reboot. SafeOutputs hands the coils over here (hand_over_coils) and
still opens them in force_safe().
"""

from comms.register_bank import RegisterBank
from control.contactors import CLOSED, NEG, POS, PRE, Contactors
from control.fault_rows import (
    FAULT_BREAK_CURRENT,
    FAULT_CONTACTOR_AUX,
    FAULT_CONTACTOR_DROPOUT,
    FAULT_CONTACTOR_FAIL_CLOSE,
    FAULT_CONTACTOR_WELDED,
    FAULT_INTERLOCK_OPEN,
    FAULT_PACK_OVER_CURRENT,
    FAULT_PACK_OVER_TEMP,
    FAULT_PACK_OVER_VOLTAGE,
    FAULT_PRECHARGE_NOT_DECAYING,
    FAULT_PRECHARGE_TIMEOUT,
    FAULT_PRECHARGE_TOO_FAST,
)
from control.faults import ACTION_ALARM
from control.interlocks import Interlocks
from control.pack_limits import PackLimits
from drivers.contactor import Contactor
from drivers.current_sense import CurrentSense
from drivers.hv_sense import HvSense
from drivers.ntc import Ntc
from micropython import const

from app import state
from app.eventlog import EV_CONTACTOR_OP

# Register rows (comms/register_map.py order; checked by host_tools/tests/test_register_bindings.py)
_R_K_NEG_STATE = const(43)
_R_K_PRE_STATE = const(44)
_R_K_POS_STATE = const(45)
_R_PACK_VOLTAGE_V = const(46)
_R_LINK_VOLTAGE_V = const(47)
_R_PACK_CURRENT_A = const(48)
_R_BATTERY_TEMP_C = const(61)
_R_BATTERY_POWER_KW = const(52)
_R_BATTERY_POWER_LIMIT_PCT = const(62)
_R_INTERLOCK_STATUS = const(63)
_R_CONTACTOR_STATE = const(68)
_R_CONTACTOR_CLOSE_REQUEST = const(98)
_R_CONTACTOR_OPEN_REQUEST = const(99)

# k_*_state bits
_POLE_COMMANDED = const(1)
_POLE_AUX_CLOSED = const(2)

_POLE_ROWS = (_R_K_NEG_STATE, _R_K_PRE_STATE, _R_K_POS_STATE)
_CONTACTOR_FAULTS = (
    FAULT_PRECHARGE_TIMEOUT,
    FAULT_PRECHARGE_TOO_FAST,
    FAULT_PRECHARGE_NOT_DECAYING,
    FAULT_CONTACTOR_FAIL_CLOSE,
    FAULT_CONTACTOR_WELDED,
    FAULT_CONTACTOR_AUX,
    FAULT_CONTACTOR_DROPOUT,
    FAULT_BREAK_CURRENT,
)
# control/cooling.py HEALTH_* (mirrored, so a battery-only module does not load the cooling code)
_HEALTH_OK = const(0)
_HEALTH_LOST = const(2)


def _aux(poles):
    return (
        (NEG if poles[0].aux_closed() else 0)
        | (PRE if poles[1].aux_closed() else 0)
        | (POS if poles[2].aux_closed() else 0)
    )


class BatterySubsystem:
    """Contactors and interlocks; the readings (v_pack_dv, v_link_dv, i_da) for the grid side."""

    def __init__(self, platform, pins, cfg, faults, outputs, cooling, log=None):
        p = platform
        self.faults = faults
        self.log = log  # the event log: one EV_CONTACTOR_OP record per opening (wear)
        self._openings = 0
        self._causes_reported = -1  # contactor fault causes of the last fast tick (-1: none yet)
        self.cooling = cooling  # the cooling subsystem, or None
        # cooling hardware without its control never proves flow
        self.needs_cooling = bool(cfg["has_cooling"])
        self.outputs = outputs
        coils = outputs.hand_over_coils()  # the pins SafeOutputs held open until now
        self.poles = [
            Contactor(coils[r + "_COIL"], p.digital_in(r + "_AUX"))
            for r in ("K_NEG", "K_PRE", "K_POS")
        ]
        self.v_pack = HvSense(p.adc("V_PACK"))
        self.v_link = HvSense(p.adc("V_LINK"))
        self.i_pack = CurrentSense(p.adc("I_PACK"))
        self.t_batt = Ntc(p.adc("T_BATTERY"))
        self.limits = PackLimits(cfg)
        self.loop = p.digital_in("INTERLOCK_LOOP")
        self.contactors = Contactors(cfg)
        self.interlocks = Interlocks(cfg)
        self.v_pack_dv = None
        self.v_link_dv = None
        self.i_da = None
        self.t_batt_cdegc = None
        print(
            "gridpod: battery: K_NEG K_PRE K_POS with aux, precharge tau %d ms, break %d A, "
            "cooling %s"
            % (
                cfg["precharge_tau_ms"],
                cfg["break_current_a"],
                "controlled"
                if cooling
                else "required, not controlled"
                if self.needs_cooling
                else "none",
            )
        )

    def closed(self):
        return self.contactors.state == CLOSED

    def _cooling_health(self):
        c = self.cooling
        if c is not None:
            return c.health
        return _HEALTH_LOST if self.needs_cooling else _HEALTH_OK

    # ----- fast slot ------------------------------------------------------------------------------
    def fast(self, now_ms):
        faults = self.faults
        il = self.interlocks
        c = self.cooling
        permit = il.step(
            state.close_permitted(),
            self.loop.value(),
            self._cooling_health(),
            c is not None and c.pumps_both_failed(),
            faults.action_mask & ACTION_ALARM,
        )
        self.v_pack_dv = v_pack = self.v_pack.v_dv()
        self.v_link_dv = v_link = self.v_link.v_dv()
        self.i_da = i_da = self.i_pack.i_da()
        k = self.contactors
        poles = self.poles
        cmd = k.step(now_ms, v_pack, v_link, i_da, _aux(poles), permit)
        poles[0].set(cmd & NEG)
        poles[1].set(cmd & PRE)
        poles[2].set(cmd & POS)
        causes = k.causes
        if causes or self._causes_reported:
            # no cause now nor at the last tick: every update would be a no-op (these rows are
            # reported here only), so a quiet tick skips them
            for fid in _CONTACTOR_FAULTS:
                faults.update(fid, causes & (1 << fid), now_ms, k.state)
        self._causes_reported = causes
        faults.update(FAULT_INTERLOCK_OPEN, il.causes != 0, now_ms)
        if k.openings != self._openings and self.log is not None:
            # contactor wear (safety review m8): every opening with the current it broke, in the
            # persisted event log (a RAM append here; flushed from housekeeping)
            self._openings = k.openings
            self.log.append(EV_CONTACTOR_OP, k.operations, k.open_i_last_da, now_ms)
        lim = self.limits
        lim.step_fast(v_pack, i_da)
        faults.update(FAULT_PACK_OVER_VOLTAGE, lim.over_voltage, now_ms, lim.over_voltage)
        faults.update(FAULT_PACK_OVER_CURRENT, lim.over_current, now_ms, lim.over_current)
        self.outputs.sequencer_alive()  # last: a step that raised leaves SafeOutputs to open

    # ----- control slot ---------------------------------------------------------------------------
    def commands(self, bank: RegisterBank, now_ms):
        """The close / open coils: pulses, consumed; open wins."""
        if bank.get(_R_CONTACTOR_OPEN_REQUEST):
            bank.set(_R_CONTACTOR_OPEN_REQUEST, 0)
            bank.set(_R_CONTACTOR_CLOSE_REQUEST, 0)
            self.contactors.request_open(now_ms)
        elif bank.get(_R_CONTACTOR_CLOSE_REQUEST):
            bank.set(_R_CONTACTOR_CLOSE_REQUEST, 0)  # a pulse: it can never re-close later
            self.contactors.request_close(now_ms)

    def step(self, now_ms, dt_ms):
        """The pack temperature and its trip (the contactors run in the fast tick)."""
        self.t_batt_cdegc = t = self.t_batt.temp_cdegc()
        lim = self.limits
        lim.step_control(t)
        self.faults.update(FAULT_PACK_OVER_TEMP, lim.over_temp, now_ms, lim.over_temp)

    def reset(self, now_ms):
        """Operator reset: the contactor FAULT state once its cause is gone; never closes."""
        self.contactors.reset(now_ms, _aux(self.poles))

    def publish(self, bank: RegisterBank):
        poles = self.poles
        for i in range(3):
            bank.set(
                _POLE_ROWS[i],
                (_POLE_COMMANDED if poles[i].commanded else 0)
                | (_POLE_AUX_CLOSED if poles[i].aux_closed() else 0),
            )
        vp = self.v_pack_dv
        ip = self.i_da
        bank.put(_R_PACK_VOLTAGE_V, vp)
        bank.put(_R_LINK_VOLTAGE_V, self.v_link_dv)
        bank.put(_R_PACK_CURRENT_A, ip)
        t = self.t_batt_cdegc
        bank.put(_R_BATTERY_TEMP_C, None if t is None else t // 10)
        bank.put(_R_BATTERY_POWER_KW, None if vp is None or ip is None else vp * ip // 10000)
        bank.set(_R_CONTACTOR_STATE, self.contactors.state)
        bank.set(_R_BATTERY_POWER_LIMIT_PCT, self.interlocks.power_limit_pct)
        bank.set(_R_INTERLOCK_STATUS, self.interlocks.status)
