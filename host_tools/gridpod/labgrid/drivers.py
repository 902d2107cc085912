"""labgrid driver and strategy for a Gridpod bench (listed under `imports:` in env.yaml).

  GridpodPortDriver   one serial port of the board (console or RS-485) as a local pty path
                      (bridge.SerialBridge), whatever the resource: NetworkSerialPort (raw or
                      RFC 2217 through ser2net on an exporter), or a SerialPort on this host.
  GridpodStrategy     brings the board to a state, labgrid's way (strategy.transition(...)):
                        off        power off
                        deployed   power on, `gridpod deploy` through the console, then the
                                   optional config push (`config:` in the env file)
                        running    deployed, then power-cycled until the boot banner is seen
                      It is gridpod's own boot strategy (hil/strategy.py) on labgrid's power
                      driver and the bridged console, so a bench reached through labgrid boots
                      exactly as a local one does.

The board name (boards/<name>/) is the strategy's `board:` in the env file, else the place's tag
`board` (`labgrid-client -p PLACE set-tags board=ESP32_DEVKITC`), else what the device's own
/board.json says at deploy.
"""

import enum
import time
from pathlib import Path

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.resource import NetworkSerialPort
from labgrid.resource.remote import RemotePlace
from labgrid.step import step
from labgrid.strategy import Strategy, StrategyError, never_retry
from labgrid.util.proxy import proxymanager

from .. import GridpodError
from ..hil.capabilities import BufferLog, Console, Power
from ..hil.strategy import BOOT_BANNER, BootStrategy, banner_complete, boot_banners
from .bridge import SerialBridge, port_url


@target_factory.reg_driver
@attr.s(eq=False)
class GridpodPortDriver(Driver):
    """A board's serial port as a pty path the product's tools open (mpremote, gridpod deploy
    and config, minimalmodbus); what the board sends is kept in `log`."""

    bindings = {"port": {"SerialPort", "NetworkSerialPort"}}

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.bridge = None

    def url(self) -> str:
        if isinstance(self.port, NetworkSerialPort):
            host, port = proxymanager.get_host_and_port(self.port)  # ssh proxy when isolated
            return port_url(host, port, self.port.protocol)
        return self.port.port

    def on_activate(self):
        self.bridge = SerialBridge(self.url(), self.port.speed, name=self.name or "port")

    def on_deactivate(self):
        if self.bridge is not None:
            self.bridge.close()
            self.bridge = None

    @Driver.check_active
    def path(self) -> str:
        return self.bridge.path


class LabgridPower(Power):
    """gridpod's Power capability on any labgrid PowerProtocol driver (NetworkPowerDriver with
    the virtual PDU or a real one, ManualPowerDriver, ...)."""

    def __init__(self, driver):
        self.driver = driver

    def cycle(self) -> None:
        self.driver.cycle()


class Status(enum.Enum):
    unknown = 0
    off = 1
    deployed = 2
    running = 3


@target_factory.reg_driver
@attr.s(eq=False)
class GridpodStrategy(Strategy):
    """Power, deploy, config push and the boot banner on a Gridpod bench."""

    bindings = {
        "power": "PowerProtocol",
        "console": "GridpodPortDriver",
        "rs485": {"GridpodPortDriver", None},
    }
    board = attr.ib(
        default=None, validator=attr.validators.optional(attr.validators.instance_of(str))
    )
    config = attr.ib(
        default=None, validator=attr.validators.optional(attr.validators.instance_of(str))
    )
    boot_timeout = attr.ib(default=30.0, converter=float)
    status = attr.ib(default=Status.unknown)

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.deploy_summary: dict = {}
        self.deploy_log: list[str] = []

    # ----- what a bench built on this strategy uses ----------------------------------------
    def board_name(self) -> str | None:
        """boards/<name>: the env file's, else the place's tag, else None (the device's)."""
        if self.board:
            return self.board
        try:
            place = self.target.get_resource(RemotePlace, wait_avail=False)
        except Exception:  # noqa: BLE001 - a local target has no place: no tag either
            return None
        return place.tags.get("board") or None

    def boot_strategy(self) -> BootStrategy:
        """gridpod's boot strategy (reset: power-cycle, wait for the banner) on this target."""
        self.target.activate(self.power)
        self.target.activate(self.console)
        bridge = self.console.bridge
        return BootStrategy(
            LabgridPower(self.power), BufferLog(bridge, "log", "dropped"), Console(bridge.path)
        )

    def banner_board(self) -> str | None:
        """The board named in the last boot banner ("... board VIRTUAL boot #3 ...")."""
        if self.console.bridge is None:
            return None
        banners = boot_banners(bytes(self.console.bridge.log).decode(errors="replace"))
        words = banners[-1].split() if banners else []
        return words[words.index("board") + 1] if "board" in words[:-1] else None

    # ----- labgrid's interface -------------------------------------------------------------
    @never_retry
    @step(args=["status"])
    def transition(self, status, *, step):  # pylint: disable=redefined-outer-name
        if not isinstance(status, Status):
            status = Status[status]
        if status == Status.unknown:
            raise StrategyError(f"can not transition to {status}")
        if status == self.status:
            step.skip("nothing to do")
            return
        if status == Status.off:
            self.target.activate(self.power)
            self.power.off()
        elif status == Status.deployed:
            self._deploy()
        elif status == Status.running:
            if self.status != Status.deployed:
                self.transition(Status.deployed)
            self._boot()
        else:
            raise StrategyError(f"no transition found from {self.status} to {status}")
        self.status = status

    @never_retry
    @step(args=["status"])
    def force(self, status, *, step):  # pylint: disable=redefined-outer-name
        if not isinstance(status, Status):
            status = Status[status]
        if status == Status.unknown:
            raise StrategyError(f"can not force state {status}")
        self.target.activate(self.power)
        if status != Status.off:
            self.target.activate(self.console)
        self.status = status

    def _powered(self) -> bool | None:
        """The supply's state when the power driver can tell (labgrid's get()), else None."""
        if self.status == Status.off:
            return False
        get = getattr(self.power, "get", None)
        try:
            return None if get is None else bool(get())
        except NotImplementedError:
            return None

    def _power_on_and_settle(self, boot: BootStrategy) -> None:
        """Power on; a board that was off is left to boot before the console is used: during
        its first moments it ignores Ctrl-C, and mpremote would wait for a raw REPL for ever."""
        if self._powered() is not False:
            self.power.on()  # already on (or unknown): nothing boots that we could wait for
            return
        mark = boot.console_log.mark()
        self.power.on()
        deadline = time.monotonic() + self.boot_timeout
        while time.monotonic() < deadline:
            text = boot.console_log.text_since(mark)
            if banner_complete(text) or text.rstrip().endswith(">>>"):
                return  # the application runs, or the REPL waits (no application yet)
            time.sleep(0.05)

    def _deploy(self) -> None:
        boot = self.boot_strategy()
        self._power_on_and_settle(boot)
        try:
            self.deploy_summary = boot.deploy(self.board_name(), self.deploy_log.append)
            if self.config:
                from ..device.config import push

                path = Path(self.target.env.config.resolve_path(self.config))
                push(boot.console.port, path, yes=True, log=self.deploy_log.append)
        except GridpodError as e:
            tail = boot.console_log.text_since(0)[-300:]
            raise StrategyError(
                f"deploy through {self.target.name} failed: {e}; console: {tail!r}"
            ) from e

    def _boot(self) -> None:
        boot = self.boot_strategy()
        try:
            boot.reset(self.boot_timeout)
        except GridpodError as e:
            raise StrategyError(str(e)) from e


__all__ = ["BOOT_BANNER", "GridpodPortDriver", "GridpodStrategy", "LabgridPower", "Status"]
