"""AI load profiles: IT heat (kW) of the module as a function of simulated time.

Scaled to the module's rated IT power (IT_RATED_KW). Each profile is a class with
it_kw(t_s) called with non-decreasing t_s; random parts use their own random.Random(seed), so a
profile is a pure function of (seed, t_s) for monotonic calls.
  idle         10 % of rating, small jitter
  training     90 % steady, a checkpoint dip to 30 % for 60 s every 30 min
  inference    40 % base with bursts to 95 % (2..20 s long, mean gap 15 s)
  spike_train  megawatt-class hall steps (2 MW <-> 20 MW every 10 s) scaled to the module
  training_spikes  training, plus synchronous spikes to 125 % (every 60..180 s, 5..30 s long,
               ramping in and out over 1.5 s: the GPUs' power ramp seen at the module feeder)
"""

import random

from .errors import PlantError

IT_RATED_KW = 80.0


class Idle:
    name = "idle"

    def __init__(self, seed: int = 0, rated_kw: float = IT_RATED_KW):
        self.rated_kw = rated_kw
        self.rng = random.Random(seed)
        self._second = -1
        self._kw = 0.1 * rated_kw

    def it_kw(self, t_s: float) -> float:
        sec = int(t_s)
        if sec != self._second:
            self._second = sec
            self._kw = self.rated_kw * (0.10 + 0.005 * (self.rng.random() - 0.5))
        return self._kw


class Training:
    name = "training"
    STEADY, DIP = 0.90, 0.30
    CHECKPOINT_EVERY_S, CHECKPOINT_S = 1800.0, 60.0

    def __init__(self, seed: int = 0, rated_kw: float = IT_RATED_KW):
        self.rated_kw = rated_kw

    def it_kw(self, t_s: float) -> float:
        phase = t_s % self.CHECKPOINT_EVERY_S
        dip = self.CHECKPOINT_EVERY_S - self.CHECKPOINT_S <= phase
        return self.rated_kw * (self.DIP if dip else self.STEADY)


class Inference:
    name = "inference"
    BASE, BURST = 0.40, 0.95

    def __init__(self, seed: int = 0, rated_kw: float = IT_RATED_KW):
        self.rated_kw = rated_kw
        self.rng = random.Random(seed)
        self._burst_start = self.rng.expovariate(1 / 15.0)
        self._burst_end = self._burst_start + self.rng.uniform(2.0, 20.0)

    def it_kw(self, t_s: float) -> float:
        while t_s >= self._burst_end:
            self._burst_start = self._burst_end + self.rng.expovariate(1 / 15.0)
            self._burst_end = self._burst_start + self.rng.uniform(2.0, 20.0)
        burst = self._burst_start <= t_s
        return self.rated_kw * (self.BURST if burst else self.BASE)


class SpikeTrain:
    name = "spike_train"
    HALL_LOW_MW, HALL_HIGH_MW, HALL_RATED_MW = 2.0, 20.0, 20.0
    PERIOD_S = 20.0

    def __init__(self, seed: int = 0, rated_kw: float = IT_RATED_KW):
        self.rated_kw = rated_kw

    def it_kw(self, t_s: float) -> float:
        high = (t_s % self.PERIOD_S) >= self.PERIOD_S / 2
        hall_mw = self.HALL_HIGH_MW if high else self.HALL_LOW_MW
        return self.rated_kw * hall_mw / self.HALL_RATED_MW


class TrainingSpikes(Training):
    name = "training_spikes"
    SPIKE, RAMP_S = 1.25, 1.5
    GAP_S, HOLD_S = (60.0, 180.0), (5.0, 30.0)

    def __init__(self, seed: int = 0, rated_kw: float = IT_RATED_KW):
        super().__init__(seed, rated_kw)
        self.rng = random.Random(seed)
        self._next_spike()

    def _next_spike(self, after_s: float = 0.0) -> None:
        self._start = after_s + self.rng.uniform(*self.GAP_S)
        self._end = self._start + 2 * self.RAMP_S + self.rng.uniform(*self.HOLD_S)

    def it_kw(self, t_s: float) -> float:
        while t_s >= self._end:
            self._next_spike(self._end)
        base = super().it_kw(t_s)
        if t_s < self._start:
            return base
        ramp = min(t_s - self._start, self._end - t_s) / self.RAMP_S
        peak = self.rated_kw * self.SPIKE
        return base + (peak - base) * max(0.0, min(1.0, ramp))


PROFILES = {cls.name: cls for cls in (Idle, Training, Inference, SpikeTrain, TrainingSpikes)}


def make_profile(name: str, seed: int = 0, rated_kw: float = IT_RATED_KW):
    try:
        return PROFILES[name](seed, rated_kw)
    except KeyError:
        raise PlantError(
            f"unknown load profile {name!r}: use one of {', '.join(PROFILES)}"
        ) from None
