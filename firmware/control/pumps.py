"""Lead/lag pump pair: failure detection, changeover, rotation proof test. Pure, control tick.

Units: speed in 0.01 % (cpct, 0..10000), rpm, flow in 0.1 L/min (dlpm), time in ms.
The lead pump runs at the loop demand. Failure of the running pump is confirmed when its tach
reads 0 at >= min speed for fail_tach_ms while flow is also low (seized), or flow stays below
fail_flow_pct of setpoint for fail_flow_ms (air lock, cavitation, broken coupling). A tach at 0
while flow is fine is a broken tach wire: warning only (tach_lost). A pump turning near full rpm
while commanded much lower is a broken PWM wire (inverted PWM: runs full): alarm (pwm_wire), for
the lead once its command has stayed low (below 70 %, not back above 80 %) for
_PWM_WIRE_SETTLE_MS, the time a healthy pump needs to slow down and its tach windows to show it
(safety review m10: a command dip to 69.6 % during one tach window that read full speed raised a
0.2 s nuisance alarm); any pump (lead or idle) turning > 10 % + 3 % of
full speed above its command curve for over_curve_ms (overspeed, power above curve, the idle
pump's broken PWM wire) raises the same alarm; the delay lets a stopped pump coast down (tau ~1 s)
without an alarm.
On confirmation the standby pump is commanded in the same tick (well within 250 ms) and must
prove flow within prove_ms, else it is failed too: both failed = cooling lost (both are then
commanded at full speed as a last resort). rotate() is a make-before-break proof test: start the
standby, once its tach shows it turning stop the old lead, then flow must be proven within
prove_ms, otherwise revert to the old lead and mark the new one failed (rotation_failed).
"""

from micropython import const

from control.ticks import ticks_diff

_FULL = const(10000)
_OVER_CURVE_MS = const(5000)  # tach above pump_max_rpm this long: over curve
_WIRE_CMD = const(7000)  # a lead commanded below 70 % (and not back above 80 % since) ...
_WIRE_CMD_RESET = const(8000)
# ... turning >= 90 % this long after: a broken PWM wire. A healthy pump (tau ~1 s) commanded at
# most 80 % is below 90 % within 0.7 s, and the tach's 0.5 s windows show it up to 1 s later.
# The 10 % hysteresis keeps a flow loop hovering around 70 % (a broken wire: full flow, the loop
# backing off) from restarting the wait.
_PWM_WIRE_SETTLE_MS = const(1500)
_ROT_NONE = const(0)
_ROT_MAKE = const(1)  # both running, waiting for the new pump's tach
_ROT_PROVE = const(2)  # old stopped, waiting for flow


class Pumps:
    def __init__(self, cfg, count=2):
        self.count = count
        self.min_cpct = cfg["pump_min_speed_pct"] * 100
        self.fail_tach_ms = cfg["pump_fail_tach_ms"]
        self.fail_flow_pct = cfg["pump_fail_flow_pct"]
        self.fail_flow_ms = cfg["pump_fail_flow_ms"]
        self.prove_ms = cfg["flow_prove_ms"]
        self.max_rpm = cfg["pump_max_rpm"]
        self.over_curve_ms = _OVER_CURVE_MS
        self.floor_cpct = 0  # fault-table pump fallback: running pumps at least this fast
        self.lead = 0
        self.failed = 0  # bit per pump
        self.tach_lost = 0  # bit per pump (warning)
        self.pwm_wire = 0  # bit per pump (alarm)
        self.rotation_failed = False
        self.cmd0 = 0
        self.cmd1 = 0
        self.running = False
        self._start_ms = 0  # lead started (prove window)
        self._tach0_ms = -1
        self._lowflow_ms = -1
        self._rot = _ROT_NONE
        self._rot_ms = 0
        self._old = 0
        self._changeover_ms = -1
        self._over_ms = [-1] * count
        self._low_ms = [-1] * count  # since when each pump is commanded low (_WIRE_CMD)

    def proven_window_over(self, now_ms):
        """The lead has run for the prove window (flow_prove_ms) since it started."""
        return self.running and ticks_diff(now_ms, self._start_ms) >= self.prove_ms

    def both_failed(self):
        return self.failed == (1 << self.count) - 1

    def rotate(self, now_ms):
        """Start the proof-test rotation to the standby pump (ignored if it is failed/busy)."""
        new = 1 - self.lead
        if self.count < 2 or self._rot != _ROT_NONE or self.failed & (1 << new) or not self.running:
            return False
        self._old = self.lead
        self.lead = new
        self._rot = _ROT_MAKE
        self._rot_ms = now_ms
        return True

    def step(self, now_ms, run, demand_cpct, rpm0, rpm1, flow_dlpm, flow_sp_dlpm):
        """run: pumps allowed (level, pressure); demand from the loop. Returns nothing; see cmd0/1."""
        if not run:
            self.running = False
            self._rot = _ROT_NONE
            self.cmd0 = 0
            self.cmd1 = 0
            return
        if self.both_failed():
            self.cmd0 = _FULL
            self.cmd1 = _FULL if self.count > 1 else 0
            return
        if self.failed & (1 << self.lead):
            self._change_lead(now_ms)
        if not self.running:
            self.running = True
            self._start_ms = now_ms
            self._tach0_ms = -1
            self._lowflow_ms = -1
        if demand_cpct < self.min_cpct:
            demand_cpct = self.min_cpct
        if demand_cpct < self.floor_cpct:
            demand_cpct = self.floor_cpct
        lead = self.lead
        rpm = rpm0 if lead == 0 else rpm1
        cmd_l = demand_cpct
        cmd_o = 0
        if self._rot == _ROT_MAKE:
            cmd_o = demand_cpct  # old lead keeps running: make before break
            if rpm * _FULL >= self.max_rpm * demand_cpct // 2:
                self._rot = _ROT_PROVE
                self._rot_ms = now_ms
                self._start_ms = now_ms
                cmd_o = 0
            elif ticks_diff(now_ms, self._rot_ms) >= self.prove_ms:
                self._revert(now_ms)
                return self.step(now_ms, run, demand_cpct, rpm0, rpm1, flow_dlpm, flow_sp_dlpm)
        self._set(lead, cmd_l, cmd_o)
        self._supervise(now_ms, lead, cmd_l, rpm, flow_dlpm, flow_sp_dlpm)
        self._curve(now_ms, 0, self.cmd0, rpm0)
        if self.count > 1:
            self._curve(now_ms, 1, self.cmd1, rpm1)

    def _curve(self, now_ms, i, cmd, rpm):
        bit = 1 << i
        # PWM wire: the lead near full rpm while commanded well below, settled
        if cmd >= _WIRE_CMD_RESET:
            self._low_ms[i] = -1
        elif self._low_ms[i] < 0:
            if cmd < _WIRE_CMD:
                self._low_ms[i] = now_ms
        elif (
            i == self.lead
            and rpm * 10 >= self.max_rpm * 9
            and ticks_diff(now_ms, self._low_ms[i]) >= _PWM_WIRE_SETTLE_MS
        ):
            self.pwm_wire |= bit  # cleared below once back on the command curve
        if rpm * _FULL > self.max_rpm * (cmd + cmd // 10 + 300):
            if self._over_ms[i] < 0:
                self._over_ms[i] = now_ms
            elif ticks_diff(now_ms, self._over_ms[i]) >= self.over_curve_ms:
                self.pwm_wire |= bit
        else:
            self._over_ms[i] = -1
            if rpm * _FULL <= self.max_rpm * (cmd + cmd // 20 + 200):
                self.pwm_wire &= ~bit

    def _set(self, lead, cmd_l, cmd_o):
        if lead == 0:
            self.cmd0 = cmd_l
            self.cmd1 = cmd_o if self.count > 1 else 0
        else:
            self.cmd1 = cmd_l
            self.cmd0 = cmd_o

    def _supervise(self, now_ms, lead, cmd, rpm, flow_dlpm, flow_sp_dlpm):
        bit = 1 << lead
        flow_low = flow_dlpm is None or flow_dlpm * 100 < flow_sp_dlpm * self.fail_flow_pct
        if rpm == 0 and cmd >= self.min_cpct:
            if self._tach0_ms < 0:
                self._tach0_ms = now_ms
            tach_dead = ticks_diff(now_ms, self._tach0_ms) >= self.fail_tach_ms
        else:
            self._tach0_ms = -1
            tach_dead = False
            self.tach_lost &= ~bit
        if ticks_diff(now_ms, self._start_ms) < self.prove_ms:
            self._lowflow_ms = -1
            if tach_dead and flow_low:
                self._fail(now_ms, lead)
            return
        if self._rot == _ROT_PROVE:
            if flow_low:
                self._revert(now_ms)
                return
            self._rot = _ROT_NONE
        if flow_low:
            if self._lowflow_ms < 0:
                self._lowflow_ms = now_ms
            if tach_dead or ticks_diff(now_ms, self._lowflow_ms) >= self.fail_flow_ms:
                self._fail(now_ms, lead)
                return
        else:
            self._lowflow_ms = -1
            if tach_dead:
                self.tach_lost |= bit  # flow is fine: the tach wire, not the pump

    def _fail(self, now_ms, pump):
        self.failed |= 1 << pump
        if self._rot != _ROT_NONE:
            self.rotation_failed = True
        self._rot = _ROT_NONE
        self._change_lead(now_ms)

    def _change_lead(self, now_ms):
        new = 1 - self.lead
        if self.count > 1 and not self.failed & (1 << new):
            self.lead = new
            self._set(new, self.cmd0 if self.cmd0 > self.cmd1 else self.cmd1, 0)
            self._changeover_ms = now_ms
            self._start_ms = now_ms
            self._tach0_ms = -1
            self._lowflow_ms = -1

    def _revert(self, now_ms):
        self.failed |= 1 << self.lead
        self._start_ms = now_ms
        self.rotation_failed = True
        self.lead = self._old
        self._rot = _ROT_NONE
        self._tach0_ms = -1
        self._lowflow_ms = -1

    def reset(self):
        """Operator reset: failed pumps re-admitted (after repair)."""
        self.failed = 0
        self.rotation_failed = False
        self.tach_lost = 0
