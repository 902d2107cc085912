"""Benches: the virtual module (L1), the plant alone (L0) and a real board on a serial port
(L2 console-only for now).

open_bench("virtual") starts a VirtualBoard around a monitored plant model (gridpod.plant with
the invariant monitors of hil/monitors.py), deploys the firmware with `gridpod deploy` (as on a
real board), power-cycles it and waits for the application's boot banner. Anything that goes wrong
on the way (VM does not start, port vanishes, no banner) is a BenchError: a bench problem, never
a firmware verdict.
"""

import subprocess
import sys
import time
from pathlib import Path

from .. import GridpodError

BOOT_BANNER = b"gridpod: module "


class BenchError(GridpodError):
    pass


def mpremote(port: str, *args: str, timeout_s: float = 60.0) -> str:
    """Run unmodified mpremote; return stdout or raise BenchError with its message."""
    cmd = [sys.executable, "-m", "mpremote", "connect", port, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BenchError(f"mpremote {' '.join(args[:2])} timed out after {timeout_s} s") from None
    if proc.returncode:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise BenchError(
            f"mpremote {' '.join(args[:2])} failed: {msg[-1] if msg else proc.returncode}"
        )
    return proc.stdout


class Bench:
    capabilities: frozenset = frozenset()
    name = "bench"
    console_port: str | None = None
    modbus_port: str | None = None

    def close(self) -> None:
        pass


class VirtualBench(Bench):
    """The virtual module: the real firmware in the MicroPython VM with the plant around it."""

    capabilities = frozenset({"console", "modbus", "plant", "power", "virtual"})
    name = "virtual"

    def __init__(
        self,
        board: str = "VIRTUAL",
        heap_bytes: int | None = None,
        deploy: bool = True,
        seed: int = 1,
        profile: str = "training",
    ):
        from ..plant import Plant
        from ..vboard.supervisor import VirtualBoard
        from .monitors import MonitoredPlant

        self.board_name = board
        self.plant = MonitoredPlant(Plant(seed=seed, profile=profile))
        try:
            self.vb = VirtualBoard(
                board=board, heap_bytes=heap_bytes, speed="max", plant=self.plant
            )
            self.vb.start()
        except GridpodError as e:
            raise BenchError(f"virtual board did not start: {e}") from e
        except OSError as e:
            raise BenchError(f"virtual board did not start (pty/socket): {e}") from e
        self.console_port = self.vb.console_port
        self.modbus_port = self.vb.modbus_port
        self.plant.plant.bench_hooks.update(
            brown_out=self._brown_out, power_loss_during_write=self._power_loss_during_write
        )
        self.deploy_summary: dict = {}
        self.deploy_log: list[str] = []
        if deploy:
            from ..device.deploy import deploy as deploy_firmware

            try:
                # The product's own deploy (mpy-cross, manifest, verify, atomic switch), as a
                # technician runs it on a real board.
                self.deploy_summary = deploy_firmware(
                    self.console_port, board, log=self.deploy_log.append
                )
                self.reset()
            except GridpodError as e:
                tail = bytes(self.vb.console_log[-300:]).decode(errors="replace")
                self.vb.close()
                raise BenchError(
                    f"deploy to the virtual board failed: {e}; console: {tail!r}"
                ) from e

    def _brown_out(self, on: bool, when_s: float | None = None) -> None:
        if on:
            self.vb.brown_out(self.sim_s if when_s is None else when_s)

    def _power_loss_during_write(self, on: bool, ops: int = 1) -> None:
        if on:
            self.vb.brown_out_after_flash_ops(ops)

    def reset(self, timeout_s: float = 30.0) -> None:
        """Power-cycle and wait until the application printed its boot banner."""
        seen = self.vb.console_log.count(BOOT_BANNER)
        self.vb.power_cycle()
        deadline = time.monotonic() + timeout_s
        while self.vb.console_log.count(BOOT_BANNER) <= seen:
            if time.monotonic() > deadline:
                tail = bytes(self.vb.console_log[-400:]).decode(errors="replace")
                raise BenchError(f"firmware did not boot after reset; console ends: {tail!r}")
            time.sleep(0.01)

    def run_for(self, sim_s: float) -> None:
        self.vb.run_until(self.vb.sim_ms / 1000 + sim_s)

    @property
    def sim_s(self) -> float:
        return self.vb.sim_ms / 1000

    def stats(self) -> dict:
        return self.vb.stats()

    def close(self) -> None:
        self.vb.close()


class PlantBench(Bench):
    """L0: the monitored plant model with no firmware; the test plays the controller by calling
    bench.drive({role: value}) and bench.run_for(s). Used to test tests and the framework."""

    capabilities = frozenset({"plant"})
    name = "plant"

    def __init__(self, seed: int = 1, profile: str = "training"):
        from ..plant import Plant
        from .monitors import MonitoredPlant

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


class SerialBench(Bench):
    """A real board on a serial port: console checks only until HIL mode (L2) lands."""

    capabilities = frozenset({"console"})
    name = "serial"

    def __init__(self, port: str):
        if not Path(port).exists():
            raise BenchError(f"no serial port {port}: plug the board in or check `gridpod doctor`")
        self.console_port = port


class HilBench(Bench):
    """L2: a real board running its firmware in HIL mode ("hal": "hil" in its board file); the
    monitored plant runs here and serves every pin over the board's serial link."""

    capabilities = frozenset({"plant", "hil"})
    name = "hil"

    def __init__(self, port: str, speed="1", seed: int = 1, profile: str = "training"):
        from ..harness.serial_link import HilLink
        from ..plant import Plant
        from .monitors import MonitoredPlant

        self.plant = MonitoredPlant(Plant(seed=seed, profile=profile))
        try:
            self.link = HilLink(port, plant=self.plant, speed=speed)
            self.link.run_until(0.5, timeout_s=30)
        except GridpodError as e:
            raise BenchError(f"HIL board on {port} did not come up: {e}") from e

    def run_for(self, sim_s: float) -> None:
        self.link.run_until(self.link.sim_ms / 1000 + sim_s)

    @property
    def sim_s(self) -> float:
        return self.link.sim_ms / 1000

    def stats(self) -> dict:
        return {**self.link.host.stats(), "resets": self.link.boots - 1}

    def close(self) -> None:
        self.link.close()


def open_bench(spec: str, heap_bytes: int | None = None, hil_speed: str = "1") -> Bench:
    if spec == "virtual":
        return VirtualBench(heap_bytes=heap_bytes)
    if spec == "plant":
        return PlantBench()
    if spec.startswith("serial:"):
        return SerialBench(spec.split(":", 1)[1])
    if spec.startswith("hil:"):
        return HilBench(spec.split(":", 1)[1], speed=hil_speed)
    raise BenchError(f"--bench {spec!r}: use 'virtual', 'plant', 'serial:PORT' or 'hil:PORT'")
