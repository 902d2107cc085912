"""Benches: what runs the firmware for a test, found by name, and what every bench has in common.

A bench kind is one file in hil/benches/ (virtual.py, plant.py, serial.py, hil.py, ...):
`--bench NAME[:ADDRESS]` imports gridpod.hil.benches.NAME and calls its open_bench(address,
options), as pyserial finds `protocol_<scheme>` modules. A new bench, or an instrument that makes
one, is one new file with a docstring, USAGE ("NAME" or "NAME:ADDRESS") and open_bench().

A bench offers small capability objects (hil/capabilities.py). A test asks for the object, never
for the bench type; an object is None when the bench lacks it, and the pytest plugin skips a test
marked @pytest.mark.needs(...) with the reason:
  console      Console: a MicroPython REPL on a port that unmodified mpremote drives
  console_log  ConsoleLog: what the board printed (mark, text_since)
  power        Power: cut and restore the board's supply (cycle)
  modbus       ModbusPort: the module's RS-485 port (port, open -> GridpodModbus)
  plant        the monitored plant model (hil/monitors.py); the bench then runs a simulated clock:
               bench.run_for(sim_s), bench.sim_s, bench.stats()
  harness      the host end of the harness (gridpod.harness.host.HarnessHost): the channels the
               board registered and the values it was sent
bench.strategy (hil/strategy.py) brings the board to a known state ("deploy, reset, wait for
the banner"); it exists when the bench has power and a console log.

Anything that goes wrong with the bench itself is a BenchError: a bench problem, never a
firmware verdict.
"""

import importlib
import pkgutil
from dataclasses import dataclass

from .. import GridpodError

CAPABILITIES = ("console", "console_log", "power", "modbus", "plant", "harness")
DEFAULT_BENCH = "virtual"


class BenchError(GridpodError):
    pass


@dataclass
class BenchOptions:
    """Command-line options a bench may use; each bench reads the ones it understands."""

    heap_bytes: int | None = None  # virtual: heap budget of the board (None: the board file's)
    hil_speed: str = "1"  # hil: simulated seconds per wall second ("max": lockstep)
    firmware_dir: str | None = None  # virtual: the firmware tree to deploy (None: firmware/)
    modbus_port: str | None = None  # serial: the module's RS-485 port (a USB adapter), if wired


class Bench:
    """The common face of every bench; a bench file sets the capability objects it has."""

    name = "bench"
    board_name: str | None = None  # boards/<name>/board.json when the bench knows its board
    firmware_dir = None  # the firmware tree the strategy deploys (None: the repository's)
    console = None
    console_log = None
    power = None
    modbus = None
    plant = None
    harness = None
    _strategy = None

    @property
    def capabilities(self) -> frozenset:
        return frozenset(c for c in CAPABILITIES if getattr(self, c) is not None)

    def lacks(self, *needs: str) -> list[str]:
        """The capabilities of `needs` this bench does not have (BenchError on an unknown name)."""
        unknown = [n for n in needs if n not in CAPABILITIES]
        if unknown:
            raise BenchError(
                f"unknown capability {', '.join(unknown)}: use {', '.join(CAPABILITIES)}"
            )
        return [n for n in needs if getattr(self, n) is None]

    @property
    def strategy(self):
        """The boot strategy (reset: power-cycle, wait for the banner); None without power or a
        console log."""
        if self._strategy is None and self.power is not None and self.console_log is not None:
            from .strategy import BootStrategy

            self._strategy = BootStrategy(
                self.power, self.console_log, self.console, self.firmware_dir
            )
        return self._strategy

    def run_for(self, sim_s: float) -> None:
        raise BenchError(f"bench '{self.name}' has no simulated clock (no plant)")

    @property
    def sim_s(self) -> float:
        raise BenchError(f"bench '{self.name}' has no simulated clock (no plant)")

    def stats(self) -> dict:
        return {}

    def plant_call(self, fn):
        """fn() where the plant may be touched safely (between two plant steps); its result."""
        return fn()

    def close(self) -> None:
        pass


def bench_kinds() -> dict[str, str]:
    """Every bench file found in hil/benches/: name -> usage ("serial:PORT")."""
    from . import benches

    kinds = {}
    for info in sorted(pkgutil.iter_modules(benches.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            kinds[info.name] = getattr(_bench_module(info.name), "USAGE", info.name)
    return kinds


def usage_text(default: str | None = DEFAULT_BENCH, quote: bool = False) -> str:
    """'virtual (default), hil:PORT, plant or serial:PORT' from the files found."""
    kinds = bench_kinds()
    q = (lambda s: f"'{s}'") if quote else (lambda s: s)
    words = [q(kinds[default]) + ("" if quote else " (default)")] if default in kinds else []
    words += [q(usage) for name, usage in kinds.items() if name != default]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def open_bench(spec: str, heap_bytes: int | None = None, hil_speed: str = "1", **options) -> Bench:
    """Open the bench `spec` names ("virtual", "serial:/dev/ttyUSB0", ...); options: the other
    BenchOptions fields (firmware_dir, modbus_port)."""
    name, colon, address = spec.partition(":")
    kinds = bench_kinds()
    usage = kinds.get(name)
    if usage is None or (":" in usage) != bool(colon) or (colon and not address):
        raise BenchError(f"--bench {spec!r}: use {usage_text(quote=True)}")
    module = _bench_module(name)
    return module.open_bench(address or None, BenchOptions(heap_bytes, hil_speed, **options))


def _bench_module(name: str):
    return importlib.import_module(f"{__package__}.benches.{name}")
