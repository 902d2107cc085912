"""Boot strategy (labgrid's strategy): bring a bench's board to "application running".

    strategy = bench.strategy            # None without power or a console log
    strategy.bring_up("VIRTUAL")         # deploy with `gridpod deploy`, then reset
    strategy.reset()                     # power-cycle, wait for the application's boot banner

The application announces every boot with one line on its console:
    gridpod: module <id> board <BOARD> boot #<n> reset cause <c>; <config note>
A board that does not print it within the timeout is a BenchError (the bench could not bring
the board up; no firmware verdict).
"""

import time
from collections.abc import Callable
from pathlib import Path

from .. import GridpodError
from .bench import BenchError

BOOT_BANNER = "gridpod: module "


def boot_banners(text: str) -> list[str]:
    """The boot banner lines in console text, each without the 'gridpod: module ' prefix."""
    return [part.split("\n")[0].strip() for part in text.split(BOOT_BANNER)[1:]]


def banner_complete(text: str) -> bool:
    """text holds a whole boot banner line: over a network port (labgrid, ser2net) the line can
    arrive in pieces, and a test reads the banner as soon as reset() returns."""
    at = text.find(BOOT_BANNER)
    return at >= 0 and "\n" in text[at:]


class BootStrategy:
    """Deploy, reset, wait for the banner, on a bench with power and a console log (and a console
    to deploy through)."""

    def __init__(self, power, console_log, console=None, firmware_dir=None):
        self.power, self.console_log, self.console = power, console_log, console
        self.firmware_dir = firmware_dir  # None: the repository's firmware/

    def reset(self, timeout_s: float = 30.0) -> None:
        """Power-cycle and wait until the application printed its boot banner."""
        mark = self.console_log.mark()
        self.power.cycle()
        deadline = time.monotonic() + timeout_s
        while not banner_complete(self.console_log.text_since(mark)):
            if time.monotonic() > deadline:
                tail = self.console_log.text_since(0)[-400:]
                raise BenchError(f"firmware did not boot after reset; console ends: {tail!r}")
            time.sleep(0.01)

    def deploy(self, board: str, log: Callable[[str], None] = lambda _line: None) -> dict:
        """The product's own deploy (mpy-cross, manifest, verify, atomic switch), as a
        technician runs it on a real board; returns its summary."""
        from ..device.deploy import FIRMWARE_DIR, deploy

        if self.console is None:
            raise BenchError("deploy needs a console on this bench")
        tree = Path(self.firmware_dir) if self.firmware_dir else FIRMWARE_DIR
        # a bench brings the board up unattended: a running application may be stopped
        return deploy(self.console.port, board, firmware_dir=tree, log=log, yes=True)

    def bring_up(
        self,
        board: str,
        log: Callable[[str], None] = lambda _line: None,
        where: str = "the board",
    ) -> dict:
        """Deploy, then reset; a failure on the way is a BenchError with the console's end."""
        try:
            summary = self.deploy(board, log)
            self.reset()
        except GridpodError as e:
            tail = self.console_log.text_since(0)[-300:]
            raise BenchError(f"deploy to {where} failed: {e}; console: {tail!r}") from e
        return summary
