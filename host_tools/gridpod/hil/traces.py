"""Traces: the plant's key signals and the firmware's outputs sampled over simulated time.

A Recorder hangs on a MonitoredPlant; it samples every period_ms of simulated time and at every
output change, so edges keep their exact time. Saved as CSV (one column per signal, t_s first).
"""

import csv
from pathlib import Path

OUTPUT_COLUMNS = (
    "K_NEG_COIL",
    "K_PRE_COIL",
    "K_POS_COIL",
    "HEALTHY_RELAY",
    "FAULT_LAMP",
    "STATUS_LED",
)


class Trace:
    def __init__(self, columns: list[str]):
        self.columns = columns
        self.rows: list[list[float]] = []

    def column(self, name: str) -> list[float]:
        if name not in self.columns:
            raise KeyError(f"trace has no signal {name!r}; it has {', '.join(self.columns)}")
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    @property
    def t_s(self) -> list[float]:
        return self.column("t_s")

    def save_csv(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            w.writerows([f"{v:.6g}" for v in row] for row in self.rows)
        return path

    @classmethod
    def load_csv(cls, path: Path) -> "Trace":
        with open(path, newline="") as f:
            r = csv.reader(f)
            t = cls(next(r))
            t.rows = [[float(v) for v in row] for row in r]
        return t


class Recorder:
    def __init__(self, period_ms: int = 1000):
        self.period_ms = period_ms
        self.trace: Trace | None = None
        self._next_ms = 0

    def _sample(self, now_ms, plant) -> None:
        sig = plant.signals()
        if self.trace is None:
            self.trace = Trace(["t_s", *sig, *OUTPUT_COLUMNS])
        outs = [float(plant.outputs.get(r, 0) or 0) for r in OUTPUT_COLUMNS]
        self.trace.rows.append([now_ms / 1000.0, *sig.values(), *outs])

    def on_advance(self, now_ms, plant) -> None:
        if now_ms >= self._next_ms:
            self._sample(now_ms, plant)
            self._next_ms = (now_ms // self.period_ms + 1) * self.period_ms

    def on_outputs(self, now_ms, plant, changes=None) -> None:
        if changes is None or set(changes) - {"STATUS_LED"}:  # the heartbeat alone: no sample
            self._sample(now_ms, plant)
