"""`gridpod vboard --trace FILE.csv`: the plant as the board drives it, one CSV row per sample.

A row every period of simulated time (--trace-period, 1 s), plus one at every change of a
discrete output (zone valves, contactor coils, PCS enable, alarm relay) and at every fault
injected or cleared, so an edge keeps its exact simulated time (10 ms tick). The file is written
as the board runs (flushed about twice a wall second: `tail -f` works) and closed at exit.

Columns (units in the names; 1/0 for states):
  t_s                      simulated time since the first power-on
  faults                   injected faults active, as typed (`leak:zone=1`), space separated
  it_kw cooling_kw grid_import_kw     IT load, cooling (pumps), grid import (IT + cooling - battery)
  battery_kw pcs_setpoint_kw          PCS power (discharge positive) and what the board asks
  soc_pct v_pack_v v_link_v i_pack_a  battery state of charge, pack and link voltage, pack current
  flow_lpm t_supply_c t_return_c      coolant flow and temperatures
  p_supply_bar p_return_bar dp_zones_bar volume_l
  pump1_demand_pct pump2_demand_pct   what the PWM outputs ask (inverted PWM decoded)
  pump1_speed_pct pump2_speed_pct     what the pumps do
  mix_valve_pct zone1_valve_pct zone2_valve_pct   valve positions (100 = open)
  zone1_close_cmd zone2_close_cmd     ZONEn_VALVE outputs (1 = the board commands the valve closed)
  k_neg_coil k_pre_coil k_pos_coil    contactor coil outputs
  k_neg_closed k_pre_closed k_pos_closed          contacts closed in the plant
  pcs_enable healthy_relay            outputs (healthy_relay 0 = alarm)
  leak_zone1 leak_zone2 level_ok interlock_loop   inputs as the board reads them
"""

import csv
import time

from ..plant import transfer as tf
from .scenario import format_fault

DISCRETE_OUTPUTS = (
    "ZONE1_VALVE",
    "ZONE2_VALVE",
    "K_NEG_COIL",
    "K_PRE_COIL",
    "K_POS_COIL",
    "PCS_ENABLE",
    "HEALTHY_RELAY",
)
FLUSH_EVERY_S = 0.5


def _row(plant) -> dict:
    c, p, out = plant.coolant, plant.power, plant.outputs
    inputs = plant.read_inputs()
    active = [format_fault(f.name, f.params) for f in plant.faults.faults if f.active]
    return {
        "t_s": plant.now_ms / 1000.0,
        "faults": " ".join(active),
        "it_kw": plant.it_kw,
        "cooling_kw": plant.cooling_kw,
        "grid_import_kw": plant.grid_import_kw,
        "battery_kw": p.pcs_kw,
        "pcs_setpoint_kw": p.pcs_setpoint_kw,
        "soc_pct": p.soc * 100.0,
        "v_pack_v": p.v_pack_v,
        "v_link_v": p.v_link_v,
        "i_pack_a": p.i_pack_a,
        "flow_lpm": c.flow_lpm,
        "t_supply_c": c.t_supply_c,
        "t_return_c": c.return_temp_c,
        "p_supply_bar": c.supply_pressure_bar,
        "p_return_bar": c.return_pressure_bar,
        "dp_zones_bar": c.dp_zones_bar,
        "volume_l": c.volume_l,
        "pump1_demand_pct": tf.pwm_demand_frac(out.get("PUMP1_PWM")) * 100.0,
        "pump2_demand_pct": tf.pwm_demand_frac(out.get("PUMP2_PWM")) * 100.0,
        "pump1_speed_pct": c.pumps[0].speed_frac * 100.0,
        "pump2_speed_pct": c.pumps[1].speed_frac * 100.0,
        "mix_valve_pct": c.mix.position * 100.0,
        "zone1_valve_pct": c.zones[0].position * 100.0,
        "zone2_valve_pct": c.zones[1].position * 100.0,
        "zone1_close_cmd": out.get("ZONE1_VALVE", 0),
        "zone2_close_cmd": out.get("ZONE2_VALVE", 0),
        "k_neg_coil": out.get("K_NEG_COIL", 0),
        "k_pre_coil": out.get("K_PRE_COIL", 0),
        "k_pos_coil": out.get("K_POS_COIL", 0),
        "k_neg_closed": int(p.k_neg.closed),
        "k_pre_closed": int(p.k_pre.closed),
        "k_pos_closed": int(p.k_pos.closed),
        "pcs_enable": out.get("PCS_ENABLE", 0),
        "healthy_relay": out.get("HEALTHY_RELAY", 0),  # 0 = alarm (de-energised)
        "leak_zone1": inputs.get("LEAK_ZONE1", 0),
        "leak_zone2": inputs.get("LEAK_ZONE2", 0),
        "level_ok": inputs.get("LEVEL_OK", 0),
        "interlock_loop": inputs.get("INTERLOCK_LOOP", 0),
    }


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class TraceWriter:
    """A recorder for hil.monitors.MonitoredPlant that streams rows to a CSV file."""

    def __init__(self, path, period_s: float = 1.0):
        self.path = path
        self.period_ms = max(1, int(round(period_s * 1000)))
        self._file = open(path, "w", newline="")  # noqa: SIM115 - open for the board's lifetime
        self._csv = csv.writer(self._file)
        self._header = False
        self._next_ms = 0
        self._faults_seen = 0
        self._discrete: tuple = ()
        self._flushed = time.monotonic()
        self.rows = 0
        self.last_ms: int | None = None

    def sample(self, plant) -> None:
        row = _row(plant)
        if not self._header:
            self._csv.writerow(row)
            self._header = True
        self._csv.writerow([_text(v) for v in row.values()])
        self.rows += 1
        self.last_ms = plant.now_ms
        now = time.monotonic()
        if now - self._flushed >= FLUSH_EVERY_S:
            self._file.flush()
            self._flushed = now

    def on_advance(self, now_ms: int, plant) -> None:
        log_len = len(plant.faults.log)
        if now_ms >= self._next_ms or log_len != self._faults_seen:
            self._faults_seen = log_len
            self.sample(plant)
            self._next_ms = (now_ms // self.period_ms + 1) * self.period_ms

    def on_outputs(self, now_ms: int, plant, changes=None) -> None:
        discrete = tuple(plant.outputs.get(role, 0) for role in DISCRETE_OUTPUTS)
        if discrete != self._discrete:
            self._discrete = discrete
            self.sample(plant)

    def on_fault_change(self, plant) -> None:
        """A fault injected or cleared between two steps (from the control socket)."""
        self._faults_seen = len(plant.faults.log)
        self.sample(plant)

    def close(self) -> None:
        self._file.close()
