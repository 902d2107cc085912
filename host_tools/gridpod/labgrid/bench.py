"""The labgrid bench: a Gridpod board on a labgrid place, as the bench tests see any bench.

`pytest hil_tests --lg-env host_tools/gridpod/labgrid/env.yaml` (with LG_PLACE and
LG_COORDINATOR set, the place acquired) and `gridpod fat --labgrid PLACE` open it: the
target "main" of labgrid's environment, brought to "running" by GridpodStrategy (power on,
`gridpod deploy` through the bridged console, boot banner). The tests then get:
  console, console_log  the bridged console (GridpodPortDriver "console")
  power                 labgrid's power driver (cycle)
  modbus                the bridged RS-485 port (GridpodPortDriver "rs485"), when bound
The plant of a virtual module runs on its exporter host, not here: tests that need the plant
or the harness are skipped with the reason, as on a real board.

A place that is not acquired, a coordinator that does not answer, a port that cannot be
opened, a board that does not boot: BenchError (a bench problem, never a firmware verdict).
"""

from ..hil.bench import Bench, BenchError
from ..hil.capabilities import BufferLog, Console, ModbusPort


def labgrid_plugin_on(config) -> bool:
    """labgrid's pytest plugin runs in this session (`-p labgrid`; pyproject turns it off)."""
    return config.pluginmanager.has_plugin("labgrid")


def labgrid_env_given(config) -> bool:
    """pytest was given a labgrid environment (--lg-env FILE or LG_ENV) and labgrid's plugin,
    which reads it, runs."""
    import os

    given = getattr(config.option, "lg_env", None) or os.environ.get("LG_ENV")
    return bool(given) and labgrid_plugin_on(config)


class LabgridBench(Bench):
    name = "labgrid"

    def __init__(self, target, place: str | None = None):
        from labgrid.strategy import StrategyError

        from .drivers import GridpodStrategy, LabgridPower

        self.target = target
        self.place = place
        try:
            self.lg_strategy = target.get_driver(GridpodStrategy, activate=False)
            self.lg_strategy.transition("running")
        except StrategyError as e:
            raise BenchError(f"labgrid target {target.name}: {_one_line(_root(e))}") from e
        except Exception as e:  # noqa: BLE001 - labgrid's binding and coordinator errors
            raise BenchError(f"labgrid target {target.name}: {_one_line(e)}") from e
        s = self.lg_strategy
        self.board_name = s.board_name() or s.banner_board()
        bridge = s.console.bridge
        self.console = Console(bridge.path)
        self.console_log = BufferLog(bridge, "log", "dropped")
        self.power = LabgridPower(s.power)
        if s.rs485 is not None:
            target.activate(s.rs485)
            self.modbus = ModbusPort(s.rs485.bridge.path)
        self.deploy_summary = s.deploy_summary
        self.deploy_log = s.deploy_log

    def close(self) -> None:
        """Give the serial ports back (ser2net serves the next client); power stays as it is,
        as on a bench a person leaves."""
        s = self.lg_strategy
        for driver in (s.rs485, s.console):
            if driver is not None:
                self.target.deactivate(driver)


def _root(e: BaseException) -> BaseException:
    """The error that broke the strategy: labgrid's never_retry wraps it (once per nested
    transition) in "... is in broken state"."""
    while e.__cause__ is not None and "in broken state" in str(e):
        e = e.__cause__
    return e


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


def open_labgrid_bench(request, place: str | None) -> LabgridBench:
    """The bench of the pytest session's labgrid environment (labgrid's `env` fixture)."""
    try:
        import labgrid  # noqa: F401
    except ImportError:
        raise BenchError(
            "--bench labgrid needs labgrid: pip install labgrid (make setup installs it)"
        ) from None
    if not labgrid_plugin_on(request.config):
        raise BenchError("--bench labgrid needs labgrid's pytest plugin: add -p labgrid")
    if not labgrid_env_given(request.config):
        raise BenchError(
            "--bench labgrid: give the environment with --lg-env FILE "
            "(host_tools/gridpod/labgrid/env.yaml, LG_PLACE=PLACE)"
        )
    env = request.getfixturevalue("env")
    target = env.get_target("main")
    if target is None:
        raise BenchError(f"{env.config_file}: no target 'main'")
    if place:
        named = _place_name(target)
        if named != place:
            raise BenchError(f"--bench labgrid:{place}, but {env.config_file} names {named}")
    return LabgridBench(target, place)


def _place_name(target) -> str | None:
    from labgrid.resource.remote import RemotePlace

    try:
        return target.get_resource(RemotePlace, wait_avail=False).name
    except Exception:  # noqa: BLE001 - a local target (no coordinator) has no place
        return None
