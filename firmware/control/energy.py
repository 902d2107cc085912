"""Energy meter, pure: Wh counters and energy per AI token. Called from housekeeping with dt_ms.

Counters (E_IT, E_COOLING, E_BATT_IN, E_BATT_OUT, E_GRID_IMPORT) are 32-bit Wh kept as two 16-bit
halves (hi, lo) so every value stays a small int on a 32-bit MCU (31-bit small ints) and maps
straight onto a high-word-first Modbus register pair; they wrap at 2**32. Sub-Wh energy is kept as
a remainder in W*ms (|power| <= 1 MW and dt_ms <= 1000 keep it below 2**30).
Energy per token: the host writes its cumulative token counter; at each write the joules
accumulated since the previous write are divided by the tokens since then, at the IT boundary
(IT only) and at the module boundary (IT + cooling + battery in - battery out: storage losses).
"""

from micropython import const

E_IT = const(0)
E_COOLING = const(1)
E_BATT_IN = const(2)
E_BATT_OUT = const(3)
E_GRID_IMPORT = const(4)
_N = const(5)
_WMS_PER_WH = const(3600000)
_J_CAP = const(0x1FFFFFFF)


class Energy:
    def __init__(self):
        self.hi = [0] * _N
        self.lo = [0] * _N
        self._rem = [0] * _N
        self._j_it = 0
        self._j_mod = 0
        self._jrem_it = 0
        self._jrem_mod = 0
        self._tokens = None
        self.mj_per_token_it = None
        self.mj_per_token_module = None

    def preset(self, idx, hi, lo):
        """Restore a counter (e.g. from flash at boot)."""
        self.hi[idx] = hi & 0xFFFF
        self.lo[idx] = lo & 0xFFFF

    def _add(self, idx, power_w, dt_ms):
        if power_w <= 0:
            return
        r = self._rem[idx] + power_w * dt_ms
        n = r // _WMS_PER_WH
        self._rem[idx] = r - n * _WMS_PER_WH
        if n:
            lo = self.lo[idx] + n
            self.lo[idx] = lo & 0xFFFF
            self.hi[idx] = (self.hi[idx] + (lo >> 16)) & 0xFFFF

    def step(self, dt_ms, it_w, cooling_w, batt_w, grid_w):
        """batt_w: discharge positive; grid_w: import positive (export is not counted)."""
        self._add(E_IT, it_w, dt_ms)
        self._add(E_COOLING, cooling_w, dt_ms)
        if batt_w >= 0:
            self._add(E_BATT_OUT, batt_w, dt_ms)
        else:
            self._add(E_BATT_IN, -batt_w, dt_ms)
        self._add(E_GRID_IMPORT, grid_w, dt_ms)
        r = self._jrem_it + it_w * dt_ms
        j = r // 1000
        self._jrem_it = r - j * 1000
        if self._j_it < _J_CAP:
            self._j_it += j
        r = self._jrem_mod + (it_w + cooling_w - batt_w) * dt_ms
        j = r // 1000
        self._jrem_mod = r - j * 1000
        if self._j_mod < _J_CAP:
            self._j_mod += j

    def write_tokens(self, tokens):
        """Host wrote its cumulative token counter (a small int, or (hi << 16 | lo) & 0x3FFFFFFF)."""
        if self._tokens is not None:
            d = tokens - self._tokens
            if d > 0:
                self.mj_per_token_it = (
                    self._j_it * 1000 // d if self._j_it < 1000000 else (self._j_it // d * 1000)
                )
                self.mj_per_token_module = (
                    self._j_mod * 1000 // d if self._j_mod < 1000000 else self._j_mod // d * 1000
                )
        self._tokens = tokens
        self._j_it = 0
        self._j_mod = 0
