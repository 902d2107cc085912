"""Power side of a module: battery pack, three contactors, precharge resistor, DC link, PCS, grid.

Units: V, A (discharge positive), ohm, F, W / kW, Ah, s.
  pack      240 LFP cells in series, OCV(SOC) table, internal resistance PACK_R_OHM
  K_NEG     main negative; K_PRE precharge contactor in series with PRECHARGE_R_OHM; K_POS main
            positive. Coil closes after COIL_CLOSE_S, opens after COIL_OPEN_S; the coil is only
            powered while the coil supply is present AND the hardware interlock loop is closed.
  DC link   LINK_C_F with a bleed resistor; the PCS draws P/V from it
  precharge V_link(t) = V_pack * R_L/(R_L+R_s) * (1 - exp(-t/tau)), tau = C * (R_s || R_L),
            R_s = R_pre + R_pack (exact exponential update, any step size)
  PCS       follows its discharge setpoint (kW) with a ramp limit, only with both mains closed
  grid      import = IT load + cooling - PCS discharge (kW)
"""

import math

CELLS = 240
OCV_TABLE = ((0.0, 2.80), (0.05, 3.10), (0.10, 3.20), (0.30, 3.26), (0.60, 3.30), (0.90, 3.34),
             (1.00, 3.45))  # fmt: skip
PACK_R_OHM = 0.05
CAPACITY_AH = 100.0
PRECHARGE_R_OHM = 100.0
LINK_C_F = 4.7e-3
BLEED_R_OHM = 50e3
COIL_CLOSE_S = 0.030
COIL_OPEN_S = 0.015
BREAK_RATING_A = 500.0
PCS_RAMP_KW_PER_S = 50.0
PCS_MAX_KW = 100.0
SOC_FLOOR = 0.2
IMD_ALARM_KOHM = 80.0  # 100 Ohm/V on an 800 V pack (IEC 61557-8 style alarm threshold)
SETTLED_V = 0.05  # below this distance to its final value the link is "quiet" (slow stepping)


_OCV_LAST = [None, 0.0]  # (soc, volts) of the last call: the SOC moves slowly, many reads per step


def pack_ocv_v(soc: float) -> float:
    if soc == _OCV_LAST[0]:
        return _OCV_LAST[1]
    v = _pack_ocv_v(soc)
    _OCV_LAST[0], _OCV_LAST[1] = soc, v
    return v


def _pack_ocv_v(soc: float) -> float:
    soc = max(0.0, min(1.0, soc))
    for (s0, v0), (s1, v1) in zip(OCV_TABLE, OCV_TABLE[1:], strict=False):
        if soc <= s1:
            return CELLS * (v0 + (v1 - v0) * (soc - s0) / (s1 - s0))
    return CELLS * OCV_TABLE[-1][1]


class Contactor:
    def __init__(self, name: str):
        self.name = name
        self.coil_cmd = 0
        self.closed = False
        self.timer_s = 0.0
        self.welded = False
        self.fails_to_close = False
        self.aux_disagree = False
        self.dropout = False
        self.operations = 0
        self.open_currents_a: list[float] = []

    def target(self, coil_powered: bool) -> bool:
        if self.welded and self.closed:
            return True
        if coil_powered and (self.fails_to_close or self.dropout):
            return False
        return coil_powered

    def pending(self, coil_powered: bool) -> bool:
        return self.target(coil_powered) != self.closed

    def step(self, dt_s: float, coil_powered: bool, current_a: float) -> float:
        """Move the contact; return the current broken if it opened in this step, else 0."""
        want = self.target(coil_powered)
        if want == self.closed:
            self.timer_s = 0.0
            return 0.0
        self.timer_s += dt_s
        if self.timer_s + 1e-9 < (COIL_CLOSE_S if want else COIL_OPEN_S):
            return 0.0
        self.closed = want
        self.timer_s = 0.0
        self.operations += 1
        if want:
            return 0.0
        self.open_currents_a.append(abs(current_a))
        return abs(current_a)

    @property
    def aux(self) -> int:
        return int(self.closed != self.aux_disagree)


class Power:
    def __init__(self, soc: float = 0.8):
        self.k_neg, self.k_pre, self.k_pos = (
            Contactor("K_NEG"),
            Contactor("K_PRE"),
            Contactor("K_POS"),
        )
        self.soc = soc
        self.v_link_v = 0.0
        self.i_pack_a = 0.0
        self.pcs_setpoint_kw = 0.0
        self.pcs_kw = 0.0
        self.coil_supply_ok = True
        self.interlock_closed = True
        self.precharge_r_open = False
        self.external_link_v: float | None = None  # link fed from elsewhere
        self.link_load_ohm: float | None = None  # leakage / short on the link
        self.insulation_kohm = 10_000.0
        self.v_pack_offset_v = (
            0.0  # an overcharged pack (a failed charger / BMS): pack_over_voltage
        )
        self.cell_heat_k = (
            0.0  # cells above their cold plate (internal fault): pack_over_temperature
        )
        self.breaks_above_rating = 0
        self._moved = False  # a contact moved at the end of the last step

    @property
    def contactors(self):
        return (self.k_neg, self.k_pre, self.k_pos)

    @property
    def v_pack_v(self) -> float:
        """Pack terminal voltage (the V_PACK sensor sits on the pack side of the contactors)."""
        return pack_ocv_v(self.soc) + self.v_pack_offset_v - self.i_pack_a * PACK_R_OHM

    def coil_powered(self, c: Contactor) -> bool:
        return bool(c.coil_cmd) and self.coil_supply_ok and self.loop_closed

    @property
    def loop_closed(self) -> bool:
        """The hardware safety loop: the interlock chain and, wired in series with it, the
        insulation monitor's (IMD) alarm contact, which opens below IMD_ALARM_KOHM."""
        return self.interlock_closed and self.insulation_kohm >= IMD_ALARM_KOHM

    def _load_ohm(self) -> float:
        r = BLEED_R_OHM
        if self.link_load_ohm is not None:
            r = r * self.link_load_ohm / (r + self.link_load_ohm)
        return r

    def _precharge_path(self) -> bool:
        return self.k_neg.closed and self.k_pre.closed and not self.precharge_r_open

    def mains_closed(self) -> bool:
        return self.k_neg.closed and self.k_pos.closed

    def is_active(self) -> bool:
        """Fast dynamics under way: a contactor moving or a precharge transient. Also the step
        after a contact moved: the link and the current follow the new contacts only in that
        step (a welded K_POS jumps the link when K_NEG closes), and the board would otherwise
        read the old values for a whole hold window (up to 100 ms)."""
        if self._moved:
            return True
        for c in (self.k_neg, self.k_pre, self.k_pos):
            if c.pending(self.coil_powered(c)):
                return True
        if self._precharge_path() and not self.mains_closed() and self.external_link_v is None:
            r_l, r_s = self._load_ohm(), PRECHARGE_R_OHM + PACK_R_OHM
            v_inf = pack_ocv_v(self.soc) * r_l / (r_l + r_s)
            return abs(v_inf - self.v_link_v) > SETTLED_V
        return False

    def step(self, dt_s: float) -> None:
        v_oc = pack_ocv_v(self.soc)
        r_l = self._load_ohm()
        mains = self.mains_closed()  # the contacts move at the end of the step only
        if mains:
            target = self.pcs_setpoint_kw
        else:
            target = 0.0
        ramp = PCS_RAMP_KW_PER_S * dt_s
        self.pcs_kw += max(
            -ramp, min(ramp, max(-PCS_MAX_KW, min(PCS_MAX_KW, target)) - self.pcs_kw)
        )
        if not mains:
            self.pcs_kw = 0.0
        if self.external_link_v is not None:
            self.v_link_v = self.external_link_v
            self.i_pack_a = 0.0
        elif mains:
            i = self.pcs_kw * 1000.0 / max(v_oc, 1.0) + v_oc / r_l
            for _ in range(3):
                v = v_oc - i * PACK_R_OHM
                i = self.pcs_kw * 1000.0 / max(v, 1.0) + v / r_l
            self.i_pack_a = i
            self.v_link_v = v_oc - i * PACK_R_OHM
        elif self._precharge_path():
            r_s = PRECHARGE_R_OHM + PACK_R_OHM
            v_inf = v_oc * r_l / (r_l + r_s)
            tau = LINK_C_F * r_s * r_l / (r_s + r_l)
            self.v_link_v = v_inf + (self.v_link_v - v_inf) * math.exp(-dt_s / tau)
            self.i_pack_a = (v_oc - self.v_link_v) / r_s
        else:
            self.v_link_v *= math.exp(-dt_s / (r_l * LINK_C_F))
            self.i_pack_a = 0.0
        self.soc -= self.i_pack_a * dt_s / 3600.0 / CAPACITY_AH
        # Contacts move at the end of the step: a coil delay of 30 ms means the link sees the
        # closed contact from 30 ms after the command on, not from the step it started in.
        moved = False
        for c in (self.k_neg, self.k_pre, self.k_pos):
            was = c.closed
            if c.step(dt_s, self.coil_powered(c), self.i_pack_a) > BREAK_RATING_A:
                self.breaks_above_rating += 1
            moved = moved or c.closed != was
        self._moved = moved

    def battery_can_discharge(self) -> bool:
        return self.mains_closed() and self.soc > SOC_FLOOR

    @property
    def precharge_tau_s(self) -> float:
        r_s, r_l = PRECHARGE_R_OHM + PACK_R_OHM, self._load_ohm()
        return LINK_C_F * r_s * r_l / (r_s + r_l)
