"""HIL bench (L2): a real board running its firmware in HIL mode ("hal": "hil" in its board file);
the monitored plant runs here and serves every pin over the board's serial link
(gridpod.harness.serial_link).

Capabilities: plant, harness.
"""

from ... import GridpodError
from ..bench import Bench, BenchError, BenchOptions

USAGE = "hil:PORT"


class HilBench(Bench):
    name = "hil"

    def __init__(self, port: str, speed="1", seed: int = 1, profile: str = "training"):
        from ...harness.serial_link import HilLink
        from ...plant import Plant
        from ..monitors import MonitoredPlant

        self.plant = MonitoredPlant(Plant(seed=seed, profile=profile))
        try:
            self._link = HilLink(port, plant=self.plant, speed=speed)
            self._link.run_until(0.5, timeout_s=30)
        except GridpodError as e:
            raise BenchError(f"HIL board on {port} did not come up: {e}") from e
        self.harness = self._link.host

    def run_for(self, sim_s: float) -> None:
        self._link.run_until(self._link.sim_ms / 1000 + sim_s)

    @property
    def sim_s(self) -> float:
        return self._link.sim_ms / 1000

    def stats(self) -> dict:
        return {**self._link.host.stats(), "resets": self._link.boots - 1}

    def close(self) -> None:
        self._link.close()


def open_bench(address: str | None, options: BenchOptions) -> HilBench:
    return HilBench(address, speed=options.hil_speed)
