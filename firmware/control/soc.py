"""Battery state of charge, pure: open-circuit voltage at rest once, then coulomb counting.

Units: SOC in 0.1 % (permille), pack voltage 0.1 V, current 0.1 A (discharge positive), time ms.
At boot nothing is known (soc_pm None: peak shaving cannot discharge). While the pack rests
(|I| <= rest current) REST_SAMPLES readings are averaged and mapped through the cell OCV table
(mV per cell, the same curve as the plant's power model; a host test compares them). From then
on the charge is counted: one permille is capacity_ah * 36000 dA*ms, kept as a remainder so that
every value stays a small int on a 32-bit MCU.
(SOC permille, cell OCV mV): LFP-like curve, flat between 30 % and 90 %
"""

from micropython import const

OCV_PM = (0, 50, 100, 300, 600, 900, 1000)
OCV_MV = (2800, 3100, 3200, 3260, 3300, 3340, 3450)
REST_SAMPLES = const(8)
_REST_I_DA = const(20)  # 2 A


def soc_from_ocv(cell_dmv):
    """Cell open-circuit voltage in 0.1 mV -> SOC permille (the curve is flat: 1 mV ~ 7 permille)."""
    if cell_dmv <= OCV_MV[0] * 10:
        return 0
    for k in range(1, len(OCV_MV)):
        v1 = OCV_MV[k] * 10
        if cell_dmv <= v1:
            v0 = OCV_MV[k - 1] * 10
            s0 = OCV_PM[k - 1]
            return s0 + (cell_dmv - v0) * (OCV_PM[k] - s0) // (v1 - v0)
    return 1000


class Soc:
    def __init__(self, cfg):
        self.cells = cfg["battery_cells"]
        self.q_pm = cfg["battery_capacity_ah"] * 36000  # dA*ms in 0.1 % of capacity
        self.soc_pm = None
        self._rem = 0
        self._n = 0
        self._sum_dv = 0

    def step(self, dt_ms, v_pack_dv, i_da):
        if i_da is None:
            return self.soc_pm
        if self.soc_pm is None:
            if v_pack_dv is None or i_da > _REST_I_DA or i_da < -_REST_I_DA:
                self._n = 0
                self._sum_dv = 0
                return None
            self._n += 1
            self._sum_dv += v_pack_dv
            if self._n >= REST_SAMPLES:
                self.soc_pm = soc_from_ocv(self._sum_dv * 1000 // (self._n * self.cells))
            return self.soc_pm
        r = self._rem + i_da * dt_ms
        q = self.q_pm
        n = r // q  # floor: a charge remainder stays positive
        self._rem = r - n * q
        s = self.soc_pm - n
        self.soc_pm = 0 if s < 0 else 1000 if s > 1000 else s
        return self.soc_pm
