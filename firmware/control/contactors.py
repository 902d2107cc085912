"""Battery contactor state machine: K_NEG, K_PRE (precharge) and K_POS, pure logic, fast tick.

Units: voltages in 0.1 V (dV), current in 0.1 A (dA, discharge positive), time in ms (now_ms is an
argument). Poles are bits: NEG=1, PRE=2, POS=4; `aux` and `cmd` are bitmasks of closed contacts.

States OPEN -> PRECHARGING -> CLOSED -> OPENING -> OPEN, and FAULT (latched). Close sequence:
K_NEG (held 100 ms after its aux, the link watched), then K_PRE, wait until |V_pack - V_link|
<= min(2 % V_pack, 5 V) less a noise margin and |I| < done current for 2 samples spanning at
least _DONE_HOLD_MS, then K_POS, then open K_PRE.
Open: K_PRE first, K_POS, K_NEG after the pole gap, never above the break rating (wait up to
break_wait_ms, then alert and open anyway).
A close needs request_close() AND `permit` (close_permitted() and the cooling interlock) on every
tick; losing the permit trips and forgets the request: nothing ever re-closes by itself (after a
trip, a brown-out or a reboot: the object starts OPEN with no request).
Precharge timeouts are retried (tries, retry gap); too fast / not decaying / fail-to-close /
welded / aux / drop-out go to FAULT, which needs the cause gone AND reset(). Entering FAULT drops
every coil in the same tick, except mains above the break rating (same wait as an opening).
Welds (safety review M9): an aux closed or a link still at pack voltage after every pole opened
(also after a fault that opened the mains); a current still flowing in the pole gap (K_POS off);
the link rising while only K_NEG is closed (a path through a welded K_POS or K_PRE whose aux may
be dead). The last two see a single welded pole that the open poles hide afterwards: its cause
stays until a restart (after service), a reset never clears it.
"""

from micropython import const

from control.fault_rows import (
    FAULT_BREAK_CURRENT,
    FAULT_CONTACTOR_AUX,
    FAULT_CONTACTOR_DROPOUT,
    FAULT_CONTACTOR_FAIL_CLOSE,
    FAULT_CONTACTOR_WELDED,
    FAULT_PRECHARGE_NOT_DECAYING,
    FAULT_PRECHARGE_TIMEOUT,
    FAULT_PRECHARGE_TOO_FAST,
)
from control.ticks import ticks_add, ticks_diff

OPEN = const(0)
PRECHARGING = const(1)
CLOSED = const(2)
OPENING = const(3)
FAULT = const(4)

NEG = const(1)
PRE = const(2)
POS = const(4)
_ALL = const(7)
_MAINS = const(5)

# Phases inside PRECHARGING / OPENING.
_PH_NEG = const(0)  # K_NEG commanded, waiting for its aux
_PH_PRE = const(1)  # K_PRE commanded, link charging
_PH_POS = const(2)  # K_POS commanded, waiting for aux and link to follow
_PH_WAIT_I = const(3)  # opening: waiting for |I| <= break rating
_PH_POLE2 = const(4)  # opening: K_PRE and K_POS off, K_NEG after the pole gap
_PH_CHECK = const(5)  # opening: all off, checking for welds
_PH_NEG_HOLD = const(
    6
)  # precharging: K_NEG closed, K_PRE not yet commanded: the link must not move

# K_NEG's aux closed: hold this long before K_PRE, watching the link. Its reading may lag the aux
# (an ADC on I2C read round-robin hands out values a few frames old); 100 ms is little against
# the ~5 tau of a precharge
_NEG_HOLD_MS = const(100)
# an RC precharge gets from G to the done band (band - margin) in tau * ln(G / (band - margin)):
# from G <= 4 bands that can take less than a tau (m3: a quick re-close after a partial bleed);
# from more, a link at the pack in under a tau is too fast (fed from elsewhere or a lying sensor)
_RC_GAP_BANDS = const(4)
# the done check holds this long as well as 2 samples: 2 fast-tick samples 10 ms apart can carry
# the same low-frequency divider error (the virtual module redraws its noise every 100 ms), and
# with it K_POS closed at a true 5.1 V (seed 2 of a first close); 200 ms spans at least two
# independent draws while the link, still rising, narrows the real gap
_DONE_HOLD_MS = const(200)
# a contact opens within this; a current still flowing later with its coil off means a weld
_OPEN_MS = const(50)

_LINK_BAND_MAX_DV = const(50)  # 5 V

# The DOMAIN.md numbers are config tuning values (app/config.py TUNING: their one default).


def _band_dv(v_pack_dv):
    b = v_pack_dv * 2 // 100
    return b if b < _LINK_BAND_MAX_DV else _LINK_BAND_MAX_DV


def _abs(x):
    return -x if x < 0 else x


class Contactors:
    def __init__(self, cfg):
        self.tau_ms = cfg["precharge_tau_ms"]
        t = 15 * self.tau_ms // 2  # 1.5 x 5 tau
        self.timeout_ms = t if t > 2000 else 2000
        self.done_i_da = cfg["precharge_done_i_da"]
        self.tries_max = cfg["precharge_tries"]
        self.retry_ms = cfg["precharge_retry_ms"]
        self.toggle_window_ms = cfg["toggle_window_ms"]
        self.toggle_max = cfg["toggle_max_closes"]
        self.lockout_ms = cfg["toggle_lockout_ms"]
        self.aux_ms = cfg["contactor_aux_ms"]
        self.dropout_ms = cfg["contactor_dropout_ms"]
        self.close_ms = cfg["contactor_close_ms"]
        self.pole_gap_ms = cfg["contactor_pole_gap_ms"]
        self.break_da = cfg["break_current_a"] * 10
        self.break_wait_ms = cfg["break_wait_ms"]
        self.weld_check_ms = cfg["weld_check_ms"]
        self.bleed_tau_ms = cfg["link_bleed_tau_ms"]
        self.margin_dv = cfg["precharge_margin_dv"]
        # ring of the last close-start times (oscillation lockout), preallocated
        self._starts = [0] * self.toggle_max
        self._n_starts = 0
        self.state = OPEN
        self.phase = 0
        self.cmd = 0
        self.requested = False
        self.causes = 0  # bitmask of fault ids (app/platform_faults.py) currently present
        self.fault_id = -1  # the fault that put us in FAULT
        self.tries = 0
        self.retry_at_ms = 0
        self.retry_pending = False
        self.lockout = False
        self._lockout_from_ms = 0
        self._t_ms = 0  # phase start
        self._mismatch_ms = 0
        self._mismatch = False
        self._done_samples = 0
        self._done_from_ms = 0  # the first sample of the current run inside the done band
        self._peak_i_da = 0
        self._v_open_dv = 0
        self._v_start_dv = None  # the link just before this close started (every pole open)
        self._residual = False
        self._weld_check = False  # FAULT: run the weld check of an opening (mains opened)
        self._pole_welded = False  # a weld the open poles hide: its cause never goes by itself
        self._holding = False  # FAULT: mains held for the break-current rule since _t_ms
        # wear
        self.operations = 0  # main closures
        self.open_i_last_da = 0
        self.open_i_max_da = 0
        self.openings = 0  # main openings (each with its current in open_i_last_da): wear

    # ---- requests ---------------------------------------------------------------------------
    def request_close(self, now_ms):
        """Operator/host asks to connect the battery; refused (False) when locked out or faulted."""
        if self.state == FAULT:
            return False
        if self.lockout and ticks_diff(now_ms, self._lockout_from_ms) < self.lockout_ms:
            return False
        self.lockout = False
        self.requested = True
        self.tries = 0
        self.retry_pending = False
        return True

    def request_open(self, now_ms):
        self.requested = False
        self.retry_pending = False
        if self.state == PRECHARGING or self.state == CLOSED:
            self._begin_open(now_ms, 0)

    def reset(self, now_ms, aux):
        """Leave FAULT when its cause is gone (every aux open, the weld check of a fault that
        opened the mains done; for a weld also the link no longer tracking the pack, as seen by
        the last step(), and never for a single welded pole the open poles hide). Outside FAULT,
        once open, it acknowledges the BREAK_CURRENT alert of an opening above the rating (safety
        review m1: it stuck until a reboot). Never closes anything by itself."""
        if self.state != FAULT:
            alert = 1 << FAULT_BREAK_CURRENT
            if self.state == OPEN and self.causes & alert:
                self.causes &= ~alert
                return True
            return False
        if self.causes & (1 << self.fault_id) and self.fault_id in (
            FAULT_CONTACTOR_WELDED,
            FAULT_CONTACTOR_AUX,
        ):
            return False
        if aux & _ALL or self._weld_check:
            return False
        self.state = OPEN
        self.fault_id = -1
        self.causes = 0
        self.requested = False
        self.tries = 0
        return True

    # ---- the tick ---------------------------------------------------------------------------
    def step(self, now_ms, v_pack_dv, v_link_dv, i_da, aux, permit):
        """One fast tick. Returns the coil command bitmask (also in self.cmd)."""
        st = self.state
        if st == OPEN:
            self._step_open(now_ms, v_pack_dv, v_link_dv, aux, permit)
        elif st == PRECHARGING:
            if not permit:
                self.requested = False
                self._begin_open(now_ms, 0)
            else:
                self._step_precharge(now_ms, v_pack_dv, v_link_dv, i_da, aux)
        elif st == CLOSED:
            if not permit or not self.requested:
                self.requested = False
                self._begin_open(now_ms, i_da)
            else:
                self._step_closed(now_ms, aux)
        if self.state == OPENING:
            self._step_opening(now_ms, v_pack_dv, v_link_dv, i_da, aux)
        if self.state == FAULT:
            if self.cmd & POS:
                self._fault_break(now_ms, v_link_dv, i_da)
            else:
                self.cmd = 0
            el = ticks_diff(now_ms, self._t_ms)
            if self._weld_check and el >= 2 * self.weld_check_ms:
                # a fault that opened the mains (drop-out, aux: a broken aux wire reads as one)
                # gets the weld check of an ordinary opening before it can be reset; over twice
                # its time: the link bleeds from where the fault left it with no pole gap, and
                # 1 s of a 235 s bleed is ~2.5 sigma of the ADC noise, 2 s ~5 sigma
                self._weld_check = False
                if self._link_held(el, v_pack_dv, v_link_dv):
                    self._fault(FAULT_CONTACTOR_WELDED)
            fid = self.fault_id
            if fid == FAULT_CONTACTOR_WELDED or fid == FAULT_CONTACTOR_AUX:
                tracks = (
                    fid == FAULT_CONTACTOR_WELDED
                    and v_pack_dv is not None
                    and v_link_dv is not None
                    and v_link_dv > _LINK_BAND_MAX_DV
                    and _abs(v_pack_dv - v_link_dv) <= _band_dv(v_pack_dv)
                )
                if aux & _ALL or tracks or self._pole_welded:
                    self.causes |= 1 << self.fault_id
                else:
                    self.causes &= ~(1 << self.fault_id)
        return self.cmd

    def _step_open(self, now_ms, v_pack_dv, v_link_dv, aux, permit):
        self.cmd = 0
        if self._aux_mismatch(now_ms, aux):
            self._fault(FAULT_CONTACTOR_AUX)
            return
        if not self.requested or not permit:
            if not permit:
                self.requested = False
            return
        if self.retry_pending and ticks_diff(now_ms, self.retry_at_ms) < 0:
            return
        # oscillation lockout: too many close starts inside the window
        if self._n_starts >= self.toggle_max:
            oldest = self._starts[self._n_starts % self.toggle_max]
            if ticks_diff(now_ms, oldest) < self.toggle_window_ms:
                self.lockout = True
                self._lockout_from_ms = now_ms
                self.requested = False
                return
        if self._fed_from_elsewhere(v_pack_dv, v_link_dv):
            # link at pack voltage with every pole open: never close anything onto it
            self._fault(FAULT_PRECHARGE_TOO_FAST)
            return
        self._v_start_dv = v_link_dv
        self._starts[self._n_starts % self.toggle_max] = now_ms
        self._n_starts += 1
        self.retry_pending = False
        self.tries += 1
        self.state = PRECHARGING
        self.phase = _PH_NEG
        self.cmd = NEG
        self._t_ms = now_ms

    def _step_precharge(self, now_ms, v_pack_dv, v_link_dv, i_da, aux):
        el = ticks_diff(now_ms, self._t_ms)
        ph = self.phase
        if ph == _PH_NEG or ph == _PH_NEG_HOLD:
            if self._link_rose(v_pack_dv, v_link_dv):
                # only K_NEG closed and the link moved towards the pack: a path from the pack's
                # positive pole (K_POS or K_PRE welded, its aux possibly dead). Stop before K_PRE
                # and never again: with K_NEG open the link is isolated and hides the weld.
                self._pole_welded = True
                self._fault(FAULT_CONTACTOR_WELDED)
                return
            if ph == _PH_NEG:
                if aux & NEG:
                    self.phase = _PH_NEG_HOLD
                    self._t_ms = now_ms
                elif el >= self.close_ms:
                    self._fault(FAULT_CONTACTOR_FAIL_CLOSE)
                return
            if el < _NEG_HOLD_MS:
                return
            # a gap an RC closes to the done band in under a tau is no proof of "too fast"
            self._residual = (
                v_pack_dv is not None
                and v_link_dv is not None
                and _abs(v_pack_dv - v_link_dv) <= _RC_GAP_BANDS * _band_dv(v_pack_dv)
            )
            self.phase = _PH_PRE
            self.cmd = NEG | PRE
            self._t_ms = now_ms
            self._done_samples = 0
            self._peak_i_da = 0
        elif ph == _PH_PRE:
            if el >= self.timeout_ms:
                self._abort_timeout(now_ms)
                return
            if v_pack_dv is None or v_link_dv is None or i_da is None:
                self._done_samples = 0
                return
            i_abs = _abs(i_da)
            if i_abs > self._peak_i_da:
                self._peak_i_da = i_abs
            if _abs(v_pack_dv - v_link_dv) <= _band_dv(v_pack_dv) - self.margin_dv:
                # inside the band by margin_dv: ADC noise (~0.5 V rms per channel on the virtual
                # module) must not close K_POS at a true 5.1 V difference
                if el < self.tau_ms and not self._residual:
                    # an RC link cannot get within 2 % in less than ~4 tau
                    self._fault(FAULT_PRECHARGE_TOO_FAST)
                    return
                if i_abs < self.done_i_da:
                    if self._done_samples == 0:
                        self._done_from_ms = now_ms
                    self._done_samples += 1
                else:
                    self._done_samples = 0
            else:
                self._done_samples = 0
            if el >= 3 * self.tau_ms and self._peak_i_da > self.done_i_da:
                # ideal RC: 5 % of the peak after 3 tau; a current that does not decay also
                # stays above the done threshold, sensor noise around zero does not (a re-close
                # from a part-charged link peaks low: a quarter of it is within the noise)
                if i_abs * 4 > self._peak_i_da and i_abs > self.done_i_da:
                    self._fault(FAULT_PRECHARGE_NOT_DECAYING)
                    return
            if self._done_samples >= 2 and ticks_diff(now_ms, self._done_from_ms) >= _DONE_HOLD_MS:
                self.phase = _PH_POS
                self.cmd = NEG | PRE | POS
                self._t_ms = now_ms
        else:  # _PH_POS
            follows = (
                v_pack_dv is not None
                and v_link_dv is not None
                and _abs(v_pack_dv - v_link_dv) <= 2 * _band_dv(v_pack_dv)
            )
            if aux & POS and follows:
                self.cmd = NEG | POS
                self.state = CLOSED
                self.operations += 1
                self.tries = 0
                self._mismatch = False
            elif el >= self.close_ms:
                self._fault(FAULT_CONTACTOR_FAIL_CLOSE)

    def _step_closed(self, now_ms, aux):
        if aux & _MAINS != _MAINS:
            # a main dropped out under us: open everything, latch, never re-close by itself.
            # Not the 300 ms aux debounce: with its coil still commanded a contact that dropped
            # (coil supply dip, vibration) closes again by itself when the cause goes, onto a
            # link the load may have drained meanwhile; 2 samples still ride over a glitch.
            if not self._mismatch:
                self._mismatch = True
                self._mismatch_ms = now_ms
            elif ticks_diff(now_ms, self._mismatch_ms) >= self.dropout_ms:
                self._fault(FAULT_CONTACTOR_DROPOUT)
            return
        if self._aux_mismatch(now_ms, aux):
            self._fault(FAULT_CONTACTOR_AUX)

    def _fed_from_elsewhere(self, v_pack_dv, v_link_dv):
        """The link is at pack voltage before any precharge: fed from elsewhere or a sensor lies,
        unless it is the charge we left on it at our own last opening (it bleeds with a ~4 min
        time constant)."""
        if v_pack_dv is None or v_link_dv is None:
            return False
        if _abs(v_pack_dv - v_link_dv) > _band_dv(v_pack_dv):
            return False
        return v_link_dv > self._v_open_dv + _LINK_BAND_MAX_DV

    def _link_rose(self, v_pack_dv, v_link_dv):
        """The link rose by more than the band since the close started (every pole open then)."""
        v0 = self._v_start_dv
        if v0 is None or v_pack_dv is None or v_link_dv is None:
            return False
        return v_link_dv - v0 > _band_dv(v_pack_dv)

    def _link_held(self, el, v_pack_dv, v_link_dv):
        """el ms after every pole opened: a link still at pack voltage and not decaying at least
        at half the bleed rate (discharge-aware) is held by a welded path."""
        if v_link_dv is None or v_pack_dv is None:
            return False
        t = el * 1000 // self.bleed_tau_ms  # elapsed in 1/1000 of tau
        allowed = self._v_open_dv - self._v_open_dv * t // 2000
        return v_link_dv > allowed and _abs(v_pack_dv - v_link_dv) <= _band_dv(v_pack_dv)

    def _aux_mismatch(self, now_ms, aux):
        if (aux & _ALL) != self.cmd:
            if not self._mismatch:
                self._mismatch = True
                self._mismatch_ms = now_ms
                return False
            return ticks_diff(now_ms, self._mismatch_ms) >= self.aux_ms
        self._mismatch = False
        return False

    def _abort_timeout(self, now_ms):
        # only the last try is a fault: a cause bit set on an earlier try would latch the fatal
        # fault-table row at once and remove the permit the retries need
        if self.tries >= self.tries_max:
            self._fault(FAULT_PRECHARGE_TIMEOUT)
            return
        self.retry_pending = True
        self.retry_at_ms = ticks_add(now_ms, self.retry_ms)
        self._begin_open(now_ms, 0)

    def _fault(self, fault_id):
        self.causes |= 1 << fault_id
        self.fault_id = fault_id
        self.requested = False
        self.retry_pending = False
        # K_PRE off at once; with K_POS commanded the mains wait for _fault_break (same tick)
        self.cmd = self.cmd & _MAINS if self.cmd & POS else 0
        self._holding = False
        self._weld_check = False
        self.state = FAULT

    def _fault_break(self, now_ms, v_link_dv, i_da):
        """FAULT with K_POS still commanded: every coil off in this tick, unless |I| is above
        the break rating (or unknown): then the mains wait for the fuse up to break_wait_ms,
        and open anyway with the BREAK_CURRENT alert (DOMAIN.md break-current rule)."""
        if not self._holding:
            self._holding = True
            self._t_ms = now_ms
        i_abs = self.break_da + 1 if i_da is None else _abs(i_da)
        if i_abs > self.break_da:
            if ticks_diff(now_ms, self._t_ms) < self.break_wait_ms:
                return
            self.causes |= 1 << FAULT_BREAK_CURRENT
        self.open_i_last_da = i_abs
        self.openings += 1
        if i_abs > self.open_i_max_da:
            self.open_i_max_da = i_abs
        self.cmd = 0
        # the mains opened on a fault: the weld check of an opening, timed from here
        self._t_ms = now_ms
        self._v_open_dv = 0 if v_link_dv is None else v_link_dv
        self._weld_check = True

    def _begin_open(self, now_ms, i_da):
        self.state = OPENING
        self.phase = _PH_WAIT_I
        self._t_ms = now_ms
        self.cmd &= ~PRE  # precharge first, always

    def _step_opening(self, now_ms, v_pack_dv, v_link_dv, i_da, aux):
        el = ticks_diff(now_ms, self._t_ms)
        ph = self.phase
        if ph == _PH_WAIT_I:
            i_abs = 0 if i_da is None else _abs(i_da)
            if i_da is None and self.cmd & POS:
                # no reading with both mains closed (shunt amplifier at a rail: above ~550 A, or
                # dead) cannot prove the current is below the rating: treat it as above
                i_abs = self.break_da + 1
            if i_abs > self.break_da and self.cmd & _MAINS == _MAINS:
                # the pack current flows through the mains only when both are closed: from
                # precharge (K_NEG and K_PRE) a bogus reading must not hold the opening
                if el < self.break_wait_ms:
                    return
                self.causes |= 1 << FAULT_BREAK_CURRENT  # alert, then open anyway
            if self.cmd & POS:
                self.open_i_last_da = i_abs
                self.openings += 1
                if i_abs > self.open_i_max_da:
                    self.open_i_max_da = i_abs
            self.cmd &= ~POS
            self.phase = _PH_POLE2
            self._t_ms = now_ms
            self._v_open_dv = 0 if v_link_dv is None else v_link_dv
        elif ph == _PH_POLE2:
            if el >= self.pole_gap_ms:
                if el >= _OPEN_MS and i_da is not None and _abs(i_da) > self.done_i_da:
                    # K_POS off for the pole gap and a current still flows: it did not open,
                    # whatever its aux says (K_NEG, the only pole left, breaks it now)
                    self._pole_welded = True
                    self._fault(FAULT_CONTACTOR_WELDED)
                    return
                self.cmd = 0
                self.phase = _PH_CHECK
                self._t_ms = now_ms
        else:
            if el < self.weld_check_ms:
                return
            welded = aux & _ALL or self._link_held(el, v_pack_dv, v_link_dv)
            if welded:
                self._fault(FAULT_CONTACTOR_WELDED)
                return
            self.state = OPEN
            self._mismatch = False
            self.causes &= ~(1 << FAULT_PRECHARGE_TIMEOUT)
