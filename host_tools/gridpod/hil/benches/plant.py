"""Plant bench (L0): the monitored plant model with no firmware. The test plays the controller by
calling bench.drive({role: value}) and bench.run_for(s). Used to test tests and the framework.

Capabilities: plant.
"""

from ..bench import Bench, BenchOptions

USAGE = "plant"


class PlantBench(Bench):
    name = "plant"

    def __init__(self, seed: int = 1, profile: str = "training"):
        from ...plant import Plant
        from ..monitors import MonitoredPlant

        self.plant = MonitoredPlant(Plant(seed=seed, profile=profile))
        self.now_ms = 0

    def drive(self, outputs: dict) -> None:
        self.plant.apply_outputs(self.now_ms, outputs)

    def run_for(self, sim_s: float, step_ms: int = 10) -> None:
        end = self.now_ms + int(sim_s * 1000)
        while self.now_ms < end:
            self.now_ms = min(end, self.now_ms + step_ms)
            self.plant.advance(self.now_ms)

    @property
    def sim_s(self) -> float:
        return self.now_ms / 1000


def open_bench(address: str | None, options: BenchOptions) -> PlantBench:
    return PlantBench()
