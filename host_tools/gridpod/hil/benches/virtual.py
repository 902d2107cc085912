"""Virtual bench (L1): the real firmware in the MicroPython VM of a VirtualBoard, with the monitored
plant model (gridpod.plant and hil/monitors.py) around it.

Opening it starts the board and brings it up with the boot strategy (hil/strategy.py): the
firmware is deployed with `gridpod deploy`, as on a real board, then the board is power-cycled
and the application's boot banner awaited. Anything that goes wrong on the way (VM does not
start, port vanishes, no banner) is a BenchError: a bench problem, never a firmware verdict.

Capabilities: console, console_log, power, modbus, plant, harness.
"""

from ... import GridpodError
from ..bench import Bench, BenchError, BenchOptions
from ..capabilities import BufferLog, Console, ModbusPort, Power

USAGE = "virtual"


class VirtualPower(Power):
    """The virtual board's supply: power cycle, brown-out at a simulated time, power lost in the
    middle of a flash write."""

    def __init__(self, vb):
        self._vb = vb

    def cycle(self) -> None:
        self._vb.power_cycle()

    def brown_out(self, at_sim_s: float) -> None:
        self._vb.brown_out(at_sim_s)

    def loss_during_write(self, ops: int = 1) -> None:
        self._vb.brown_out_after_flash_ops(ops)


class VirtualBench(Bench):
    """The virtual module: the firmware in the VM, the plant around it, simulated time."""

    name = "virtual"

    def __init__(
        self,
        board: str = "VIRTUAL",
        heap_bytes: int | None = None,
        seed: int = 1,
        profile: str = "training",
    ):
        from ...plant import Plant
        from ...vboard.supervisor import VirtualBoard
        from ..monitors import MonitoredPlant

        self.board_name = board
        self.plant = MonitoredPlant(Plant(seed=seed, profile=profile))
        try:
            self._vb = VirtualBoard(
                board=board, heap_bytes=heap_bytes, speed="max", plant=self.plant
            )
            self._vb.start()
        except GridpodError as e:
            raise BenchError(f"virtual board did not start: {e}") from e
        except OSError as e:
            raise BenchError(f"virtual board did not start (pty/socket): {e}") from e
        self.console = Console(self._vb.console_port)
        self.console_log = BufferLog(self._vb, "console_log", "console_dropped")
        self.power = VirtualPower(self._vb)
        self.modbus = ModbusPort(self._vb.modbus_port)
        self.harness = self._vb.host
        self.plant.plant.bench_hooks.update(
            brown_out=self._brown_out, power_loss_during_write=self._power_loss_during_write
        )
        self.deploy_summary: dict = {}
        self.deploy_log: list[str] = []

    def _brown_out(self, on: bool, when_s: float | None = None) -> None:
        if on:
            self.power.brown_out(self.sim_s if when_s is None else when_s)

    def _power_loss_during_write(self, on: bool, ops: int = 1) -> None:
        if on:
            self.power.loss_during_write(ops)

    def run_for(self, sim_s: float) -> None:
        self._vb.run_until(self._vb.sim_ms / 1000 + sim_s)

    @property
    def sim_s(self) -> float:
        return self._vb.sim_ms / 1000

    def stats(self) -> dict:
        return self._vb.stats()

    def close(self) -> None:
        self._vb.close()


def open_bench(address: str | None, options: BenchOptions, deploy: bool = True) -> VirtualBench:
    bench = VirtualBench(heap_bytes=options.heap_bytes)
    if deploy:
        try:
            bench.deploy_summary = bench.strategy.bring_up(
                bench.board_name, bench.deploy_log.append, where="the virtual board"
            )
        except BenchError:
            bench.close()
            raise
    return bench
