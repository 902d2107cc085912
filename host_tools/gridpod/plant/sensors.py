"""The plant's sensor layer: physical values -> what the board reads (ADC counts, pulse counts),
through the transfer functions of transfer.py, with analog noise and the wiring faults the fault
injector sets (open, short, stuck, offset, a forced loop current, a broken or frozen tach).

Units: ANALOG_NOISE is 1 sigma in each transfer kind's physical unit (degC, bar, V, A, %, kW);
counts are what MicroPython's ADC.read_u16() returns.
"""

import random

from . import transfer as tf

ANALOG_NOISE = {  # 1-sigma, physical units
    "ntc": 0.05,
    "pressure_4_20": 0.005,
    "hv_divider": 0.5,
    "current_shunt": 0.2,
    "valve_feedback": 0.2,
    "power_4_20": 0.1,
    "dp_4_20": 0.002,
    "dew_4_20": 0.05,
}
BATTERY_ABOVE_SUPPLY_K = 3.0  # the pack's cold plate sits on the coolant supply
# leak rope supervision voltage (fraction of Vref): 0.2 leak, 0.5 healthy, 1.0 cable broken
LEAK_SUP_COUNTS = {f: tf.volts_to_counts(tf.ADC_VREF_V * f) for f in (0.2, 0.5, 1.0)}


# Each analog transfer kind's physical value -> counts (clean: no wiring fault)
_CLEAN_COUNTS = {
    "ntc": tf.ntc_counts,
    "pressure_4_20": tf.pressure_counts,
    "hv_divider": tf.hv_counts,
    "current_shunt": tf.current_counts,
    "power_4_20": tf.power_counts,
    "dp_4_20": lambda v: tf.span_counts(v, 0.0, tf.FILTER_DP_RANGE_BAR),
    "dew_4_20": lambda v: tf.span_counts(v, tf.DEW_MIN_C, tf.DEW_MAX_C),
    "valve_feedback": tf.valve_fb_counts,
}


class Tach:
    def __init__(self):
        self.broken = False
        self.frozen: int | None = None


class SensorBank:
    """Physical values -> what the board reads, with noise and wiring faults."""

    analog_roles = tuple(r for r, (kind, _) in tf.TRANSFER_TABLE.items() if kind in ANALOG_NOISE)

    def __init__(self, plant, noise: bool):
        self.plant = plant
        self.noise_on = noise
        self.noise = dict.fromkeys(self.analog_roles, 0.0)
        self.faults: dict[str, tuple[str, dict]] = {}
        self.tachs = [Tach(), Tach()]
        self.mix_fb_offset_pct = 0.0
        # (role, its transfer function) for the scan, in analog_roles order
        self._convert = [(r, _CLEAN_COUNTS[tf.TRANSFER_TABLE[r][0]]) for r in self.analog_roles]

    def tach(self, pump: int = 1) -> Tach:
        if pump not in (1, 2):
            from .faults import FaultError

            raise FaultError(f"pump must be 1 or 2, not {pump!r}")
        return self.tachs[pump - 1]

    def draw_noise(self, rng: random.Random) -> None:
        if self.noise_on:
            for role in self.analog_roles:
                self.noise[role] = rng.gauss(0.0, ANALOG_NOISE[tf.TRANSFER_TABLE[role][0]])

    def physical(self, role: str) -> float:
        return self.physical_values()[role]

    def physical_values(self) -> dict[str, float]:
        """Every analog role's physical value, each model property evaluated once."""
        c, p = self.plant.coolant, self.plant.power
        t_supply = c.t_supply_c
        return {
            "T_SUPPLY1": t_supply,
            "T_SUPPLY2": t_supply,
            "T_SUPPLY3": t_supply,
            "T_RETURN": c.return_temp_c,
            "P_SUPPLY": c.supply_pressure_bar,
            "P_RETURN": c.return_pressure_bar,
            "V_PACK": p.v_pack_v,
            "V_LINK": p.v_link_v,
            "I_PACK": p.i_pack_a,
            "MIX_VALVE_FB": c.mix.position * 100.0 + self.mix_fb_offset_pct,
            "T_BATTERY": t_supply + BATTERY_ABOVE_SUPPLY_K + p.cell_heat_k,
            "IT_KW": self.plant.it_kw,
            "GRID_KW": self.plant.grid_import_kw,
            "FILTER_DP": c.dp_filter_bar,
            "DEW_POINT": c.dew_point_c,
        }

    def clean_counts(self, role: str, value: float) -> int:
        return _CLEAN_COUNTS[tf.TRANSFER_TABLE[role][0]](value)

    def analog_counts(self, phys: dict[str, float]) -> dict[str, int]:
        """counts() of every analog role (once per exchange: the board's scan)."""
        out = {}
        noise, faults = self.noise, self.faults
        for role, convert in self._convert:
            if role in faults:
                out[role] = self.counts(role, phys[role])
            else:
                out[role] = convert(phys[role] + noise[role])
        return out

    def counts(self, role: str, physical: float | None = None) -> int:
        fault = self.faults.get(role)
        value = (self.physical(role) if physical is None else physical) + self.noise[role]
        if fault is None:
            return self.clean_counts(role, value)
        mode, extra = fault
        if mode == "open":
            return tf.ADC_FULL_SCALE
        if mode == "short":
            return 0
        if mode == "ma":
            return tf.ma_counts(extra["i_ma"])
        if mode == "offset":
            return self.clean_counts(role, value + extra["offset"])
        if "value" not in extra:  # stuck / stale: the value at the moment of the fault
            extra["value"] = self.clean_counts(role, value)
        return extra["value"]

    def tach_count(self, pump_index: int) -> int:
        t = self.tachs[pump_index]
        live = int(self.plant.coolant.pumps[pump_index].revs * tf.TACH_PULSES_PER_REV)
        if not t.broken:
            t.frozen = None
            return live
        if t.frozen is None:
            t.frozen = live
        return t.frozen
