"""Grid subsystem (grid_enabled): IT and grid power meters, energy counters
and, with the battery composed, SOC, the peak shaver and the PCS, around control/energy.py,
control/soc.py and control/peak_shaver.py.

  fast (10 ms)       peak shaver (ints only) -> PCS enable + setpoint; the grid meter is read here
                     only for the shaver
  control (100 ms)   IT meter (and the grid meter without a shaver), SOC (the battery
                     temperature the shaver checks is the battery subsystem's);
                     the leased registers grid_import_limit_kw, peak_shaving_enable and
                     pcs_power_request_kw (the bank reverts them at lease expiry) and work_tokens
  housekeeping (1 s) energy counters: IT, cooling = grid + battery - IT, battery in/out, grid;
                     saved once a minute and restored at boot (app/counters.py)
Load seen by the shaver = grid meter + battery power (V_pack x I_pack).
"""

from comms.register_bank import RegisterBank
from control.energy import E_BATT_IN, E_BATT_OUT, E_COOLING, E_GRID_IMPORT, E_IT, Energy
from control.ticks import ticks_diff
from drivers.power_meter import PowerMeter
from micropython import const

from app import counters

# Register rows (comms/register_map.py order; checked by host_tools/tests/test_register_bindings.py)
_R_GRID_IMPORT_LIMIT_KW = const(11)
_R_PCS_POWER_REQUEST_KW = const(12)
_R_PEAK_SHAVING_ENABLE = const(13)
_R_WORK_TOKENS = const(15)
_R_SOC_PCT = const(49)
_R_IT_LOAD_KW = const(50)
_R_GRID_IMPORT_KW = const(51)
_R_ENERGY_IT_KWH = const(53)
_R_ENERGY_COOLING_KWH = const(54)
_R_ENERGY_BATTERY_IN_KWH = const(55)
_R_ENERGY_BATTERY_OUT_KWH = const(56)
_R_ENERGY_GRID_IMPORT_KWH = const(57)
_R_PCS_SETPOINT_KW = const(58)
_R_MJ_PER_TOKEN_IT = const(59)
_R_MJ_PER_TOKEN_MODULE = const(60)
_R_GRID_STATE = const(70)

# (register, Energy counter) pairs
_ENERGY_ROWS = (
    (_R_ENERGY_IT_KWH, E_IT),
    (_R_ENERGY_COOLING_KWH, E_COOLING),
    (_R_ENERGY_BATTERY_IN_KWH, E_BATT_IN),
    (_R_ENERGY_BATTERY_OUT_KWH, E_BATT_OUT),
    (_R_ENERGY_GRID_IMPORT_KWH, E_GRID_IMPORT),
)
# grid_state values
_GRID_OFF = const(0)  # shaving disabled, no manual request
# enabled or requested, the PCS not permitted (contactors, SOC, temp, cooling)
_GRID_STANDBY = const(1)
_GRID_DISCHARGING = const(2)
_GRID_CHARGING = const(3)
_GRID_IDLE = const(4)  # permitted, setpoint 0


def _div(v, d):
    return None if v is None else v // d


class GridSubsystem:
    def __init__(self, platform, pins, cfg, battery, root="/"):
        p = platform
        self.battery = battery  # the battery subsystem, or None (then no peak shaving)
        self.energy = Energy()
        self._counters_path = root + counters.FILE_NAME
        restored = counters.restore(self._counters_path, self.energy)
        self._since_save_ms = 0
        self.it_meter = PowerMeter(p.adc("IT_KW"))
        self.grid_meter = PowerMeter(p.adc("GRID_KW"))
        self.grid_w = None
        self.it_w = None
        self._tokens = 0
        self._fast_ms = None
        self.shaver = None
        if battery is not None:  # peak shaving needs the battery behind its contactors
            from control.peak_shaver import PeakShaver
            from control.soc import Soc
            from drivers.pcs import Pcs

            self.soc = Soc(cfg)
            self.shaver = PeakShaver(cfg)
            self.pcs = Pcs(p.digital_out("PCS_ENABLE", 0), p.pwm("PCS_PWM", 1000, 32768))
        print(
            "gridpod: grid: IT and grid meters, energy counters %s, peak shaving %s"
            % (
                "restored" if restored else "from 0",
                "limit %d kW" % cfg["grid_import_limit_kw"] if self.shaver else "off (no battery)",
            )
        )

    def _battery_w(self):
        b = self.battery
        if b is None or b.v_pack_dv is None or b.i_da is None:
            return None
        return b.v_pack_dv * b.i_da // 100  # dV x dA = 0.01 W

    # ----- fast slot: peak shaving ----------------------------------------------------------------
    def fast(self, now_ms):
        sh = self.shaver
        if sh is None:
            return
        b = self.battery
        self.grid_w = grid_w = self.grid_meter.w()
        dt_ms = 0 if self._fast_ms is None else ticks_diff(now_ms, self._fast_ms)
        self._fast_ms = now_ms
        batt_w = self._battery_w()
        load_w = None if grid_w is None or batt_w is None else grid_w + batt_w
        sp = sh.step(
            dt_ms,
            load_w,
            self.soc.soc_pm,
            b.t_batt_cdegc,
            b.closed(),
            b.interlocks.power_limit_pct,
        )
        # the PCS is enabled only while it has something to do (ramping down included)
        self.pcs.command(sp, sh.active and (sh.enabled or sh.request_w != 0 or sp != 0))

    # ----- control slot ---------------------------------------------------------------------------
    def commands(self, bank: RegisterBank, now_ms):
        sh = self.shaver
        if sh is not None:  # leased setpoints: the bank has already reverted expired ones
            sh.limit_w = bank.get(_R_GRID_IMPORT_LIMIT_KW) * 1000
            sh.enabled = bank.get(_R_PEAK_SHAVING_ENABLE) != 0
            sh.request_w = bank.get(_R_PCS_POWER_REQUEST_KW) * 100  # 0.1 kW
        tokens = bank.get(_R_WORK_TOKENS)
        if tokens != self._tokens:
            self._tokens = tokens
            self.energy.write_tokens(tokens & 0x3FFFFFFF)

    def step(self, now_ms, dt_ms):
        self.it_w = self.it_meter.w()
        if self.shaver is None:  # no peak shaving: the 100 ms reading is enough for energy
            self.grid_w = self.grid_meter.w()
        if self.shaver is not None:
            b = self.battery
            self.soc.step(dt_ms, b.v_pack_dv, b.i_da)

    def reset(self, now_ms):
        """Nothing latches here."""

    def publish(self, bank: RegisterBank):
        e = self.energy
        bank.put(_R_IT_LOAD_KW, _div(self.it_w, 100))  # 0.1 kW
        bank.put(_R_GRID_IMPORT_KW, _div(self.grid_w, 100))
        for row, idx in _ENERGY_ROWS:
            bank.set(row, ((e.hi[idx] << 16) + e.lo[idx]) // 100)  # Wh -> 0.1 kWh
        bank.put(_R_MJ_PER_TOKEN_IT, e.mj_per_token_it)
        bank.put(_R_MJ_PER_TOKEN_MODULE, e.mj_per_token_module)
        sh = self.shaver
        if sh is None:
            return
        bank.put(_R_SOC_PCT, self.soc.soc_pm)
        sp = sh.setpoint_w
        bank.set(_R_PCS_SETPOINT_KW, sp // 100)
        if not sh.enabled and sh.request_w == 0:
            grid_state = _GRID_OFF
        elif not sh.active:
            grid_state = _GRID_STANDBY
        else:
            grid_state = _GRID_DISCHARGING if sp > 0 else _GRID_CHARGING if sp < 0 else _GRID_IDLE
        bank.set(_R_GRID_STATE, grid_state)

    # ----- housekeeping slot ----------------------------------------------------------------------
    def housekeeping(self, now_ms, dt_ms):
        """Energy from the last readings (a failed meter counts 0 for that second). Cooling is the
        rest of the module's balance: grid import + battery discharge - IT (pumps, fans, PCS
        losses), 0 when a meter is missing."""
        batt_w = self._battery_w() or 0
        it_w = self.it_w
        grid_w = self.grid_w
        cool_w = 0
        if it_w is not None and grid_w is not None:
            cool_w = grid_w + batt_w - it_w
        self.energy.step(dt_ms, it_w or 0, cool_w if cool_w > 0 else 0, batt_w, grid_w or 0)
        self._since_save_ms += dt_ms
        if self._since_save_ms >= counters.SAVE_PERIOD_MS:
            self._since_save_ms = 0
            try:
                counters.save(self._counters_path, self.energy)
            except OSError as e:  # a full or failing flash: counting goes on, in RAM
                print("gridpod: energy counters not saved:", e)
