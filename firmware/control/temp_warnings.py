"""Supply temperature warnings (DOMAIN.md): above / below the effective setpoint by
temp_warn_band for temp_warn_ms, cleared back inside setpoint +- temp_warn_hyst, inhibited for
startup_inhibit_ms after start-up (the loop settles). Pure, 0.01 degC ints; `over` and `under`
feed COOLANT_OVER_TEMP and COOLANT_UNDER_TEMP through control/cooling.py.
"""

from control.ticks import ticks_diff


class TempWarnings:
    def __init__(self, cfg):
        self.band_cdegc = cfg["temp_warn_band_ddegc"] * 10
        self.hyst_cdegc = cfg["temp_warn_hyst_ddegc"] * 10
        self.hold_ms = cfg["temp_warn_ms"]
        self.inhibit_ms = cfg["startup_inhibit_ms"]
        self.over = False
        self.under = False
        self._since_ms = -1  # outside the band since (-1: inside)

    def step(self, now_ms, boot_ms, t_sup, sp):
        """t_sup: voted supply (None: no value), sp: effective setpoint, boot_ms: start-up."""
        if t_sup is None or ticks_diff(now_ms, boot_ms) < self.inhibit_ms:
            self._since_ms = -1
            return
        band = self.band_cdegc
        if t_sup > sp + band or t_sup < sp - band:
            if self._since_ms < 0:
                self._since_ms = now_ms
            if ticks_diff(now_ms, self._since_ms) >= self.hold_ms:
                if t_sup > sp:
                    self.over = True
                else:
                    self.under = True
        else:
            self._since_ms = -1
        if t_sup < sp + self.hyst_cdegc:
            self.over = False
        if t_sup > sp - self.hyst_cdegc:
            self.under = False
