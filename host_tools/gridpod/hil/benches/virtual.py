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
        firmware_dir: str | None = None,
    ):
        from ...plant import Plant
        from ...vboard.supervisor import VirtualBoard
        from ..monitors import MonitoredPlant

        self.board_name = board
        self.firmware_dir = firmware_dir
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

    def plant_call(self, fn):
        """fn() in the board's supervisor thread, between two harness exchanges: a fault injected
        there lands on an exact simulated millisecond and never races the plant's step."""
        from ...vboard.control import in_board

        return in_board(self._vb, fn)

    def _next_boundary_ms(self) -> int:
        """The first plant slow-step boundary (100 ms) the board has not run past: a change there
        is seen by the board's tick at that very ms (in lockstep the board may run a hold window
        ahead of the plant), and the plant's slow dynamics (the pack current under a new load)
        start from it, as at a scheduled time."""
        from ...plant.model import SLOW_MS

        earliest = self.plant.plant.now_ms + self._vb.host.max_hold_ms
        return -(-earliest // SLOW_MS) * SLOW_MS

    def inject(self, name: str, clear_after_s: float | None = None, **params):
        """A catalogue fault from now on (cleared after clear_after_s when given); returns the
        plant's Injected, whose at_ms is the exact simulated onset. "Now" is where the board
        sees it: in lockstep the board may run up to a hold window ahead of the plant."""

        def run():
            at_ms = self._next_boundary_ms()
            clear_s = None if clear_after_s is None else at_ms / 1000 + clear_after_s
            return self.plant.plant.faults.schedule(name, at_ms / 1000, clear_s, **params)

        return self.plant_call(run)

    def force_input(self, role: str, value: int | None) -> int:
        """Force an input (None: back to the plant's) from the exact simulated ms returned: where
        the board sees it (in lockstep it may run a hold window ahead of the plant)."""

        def run():
            plant = self.plant.plant
            return plant.schedule_input(role, value, self._next_boundary_ms())

        return self.plant_call(run)

    def clear(self, fault) -> None:
        """Clear an injected fault (an Injected, or every one of a name) now; no-op when gone."""
        faults = self.plant.plant.faults

        def run():
            if any(f is fault or f.name == fault for f in faults.faults):
                faults.clear(fault)

        self.plant_call(run)


def open_bench(address: str | None, options: BenchOptions, deploy: bool = True) -> VirtualBench:
    bench = VirtualBench(heap_bytes=options.heap_bytes, firmware_dir=options.firmware_dir)
    if deploy:
        try:
            bench.deploy_summary = bench.strategy.bring_up(
                bench.board_name, bench.deploy_log.append, where="the virtual board"
            )
        except BenchError:
            bench.close()
            raise
    return bench
