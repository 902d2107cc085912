"""Chip-time figures of one frame kind on one board (vboard/chip_model.py charges the frames):
the mean and worst work, per cost category, the frames over budget, over the tick, over twice the
tick, the scheduler's TICK_OVERRUN trips, and percentiles from a histogram."""

from __future__ import annotations

from dataclasses import dataclass, field

CATEGORIES = ("cpu", "hal", "i2c_ads", "i2c_pcf", "adc", "pwm", "uart", "flash")

HIST_TOP_PCT = 500  # the histogram's last bin holds every frame above this share of the tick


@dataclass
class KindStats:
    """Chip-time figures of one frame kind on one board (percentiles from a histogram of the
    work in whole percent of the tick)."""

    frames: int = 0
    sum_us: float = 0.0
    max_us: float = 0.0
    max_parts: dict = field(default_factory=dict)
    sum_parts: dict = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0.0))
    over_budget: int = 0  # work above the budget share of the tick
    overruns: int = 0  # work above the tick: the next tick starts late
    over_2x: int = 0  # work above twice the tick
    trips: int = 0  # TICK_OVERRUN by the scheduler's policy (BoardCost.charge counts them)
    busy_over: int = 0  # work + idle service above the tick
    hist: list = field(default_factory=lambda: [0] * (HIST_TOP_PCT + 1))

    def add(self, work_us: float, idle_us: float, parts: dict, period_us: float, budget: float):
        self.frames += 1
        self.hist[min(int(100 * work_us / period_us), HIST_TOP_PCT)] += 1
        self.sum_us += work_us
        for k, v in parts.items():
            self.sum_parts[k] += v
        if work_us > self.max_us:
            self.max_us, self.max_parts = work_us, dict(parts)
        self.over_budget += work_us > budget * period_us
        self.overruns += work_us > period_us
        self.over_2x += work_us > 2 * period_us
        self.busy_over += work_us + idle_us > period_us

    def percentile(self, q: float) -> int | None:
        """The q-th percentile of the work, in percent of the tick (upper bin edge)."""
        if not self.frames:
            return None
        need, seen = q / 100 * self.frames, 0
        for pct, count in enumerate(self.hist):
            seen += count
            if seen >= need:
                return pct + 1
        return HIST_TOP_PCT + 1

    def summary(self, period_us: float) -> dict:
        n = self.frames or 1
        mean_parts = {k: round(v / n, 1) for k, v in self.sum_parts.items() if v}
        return {
            "frames": self.frames,
            "mean_us": round(self.sum_us / n, 1),
            "max_us": round(self.max_us, 1),
            "mean_pct": round(100 * self.sum_us / n / period_us, 1),
            "max_pct": round(100 * self.max_us / period_us, 1),
            "p50_pct": self.percentile(50),
            "p99_pct": self.percentile(99),
            "mean_parts_us": mean_parts,
            "max_parts_us": {k: round(v, 1) for k, v in self.max_parts.items() if v},
            "dominant": max(mean_parts, key=mean_parts.get) if mean_parts else None,
            "max_dominant": (
                max(self.max_parts, key=self.max_parts.get) if self.max_parts else None
            ),
            "over_budget": self.over_budget,
            "overruns": self.overruns,
            "over_2x": self.over_2x,
            "trips": self.trips,
            "busy_over": self.busy_over,
        }
