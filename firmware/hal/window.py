"""The maintenance window (README "When a host tool stops the application"): while no scan loop
feeds the hardware watchdog (boot, or the application stopped for a host tool with Ctrl-C), a
timer feeds it for at most the board's window (board file "maintenance_window_ms", default
hal.MAINTENANCE_WINDOW_MS), then the board resets into the application.

A module of its own, so that boot.py opens the window at every boot without building a Platform
(boot(); the hardware watchdog survives a soft reset, a timer does not):
  "mcu"      a machine.Timer (a soft IRQ: it runs at the REPL too) feeds machine.WDT, then
             machine.reset(); the state lives here, shared by boot.py and hal/mcu.py's Platform
  "virtual"  the supervisor plays the watchdog and the timer: one harness message
             (hal/harness.py send_maintenance); boot.py forgets this module again
  "hil"      nothing here: the host plays the watchdog over the link (HarnessPlatform)
"""

from micropython import const

from hal import boot_wdt_ms, window_ms

_MIN_FEED_PERIOD_MS = const(100)
_open: list = [None]  # the open window on a board (mcu)


class _Window:
    """machine.Timer feeding wdt until length_ms is over, then machine.reset()."""

    def __init__(self, machine, wdt, length_ms, wdt_timeout_ms):
        self._machine = machine
        self._wdt = wdt
        self._left_ms = length_ms
        self._period_ms = max(_MIN_FEED_PERIOD_MS, wdt_timeout_ms // 4)
        try:
            self._timer = machine.Timer(-1)  # a software timer where the port has them (rp2)
        except (ValueError, OSError):
            self._timer = machine.Timer(0)  # esp32: hardware timer 0
        wdt.feed()
        self._timer.init(period=self._period_ms, mode=machine.Timer.PERIODIC, callback=self._tick)

    def _tick(self, _timer):
        self._left_ms -= self._period_ms
        if self._left_ms <= 0:
            print("gridpod: maintenance window over: reset")
            self._machine.reset()
        self._wdt.feed()

    def close(self):
        self._timer.deinit()


def open_mcu(length_ms, wdt_timeout_ms, wdt=None):
    """Start (or restart) the window on a board; wdt None: start the hardware watchdog (a
    running one is re-armed with this timeout: machine.WDT may be created again on esp32/rp2)."""
    import machine

    close_mcu()
    if wdt is None:
        wdt = machine.WDT(id=0, timeout=wdt_timeout_ms)
    _open[0] = _Window(machine, wdt, length_ms, wdt_timeout_ms)


def close_mcu():
    w = _open[0]
    if w is not None:
        _open[0] = None
        w.close()


def boot(path="/board.json"):
    """boot.py, at every boot: open the window the board's HAL needs (nothing without a board
    file: no firmware deployed yet). True when a timer of this module runs."""
    import json

    try:
        with open(path) as f:
            board = json.load(f)
    except OSError:
        return False
    hal = board.get("hal")
    if hal == "mcu":
        open_mcu(window_ms(board), boot_wdt_ms(board))
        return True
    if hal == "virtual":
        import _vboard

        from hal.harness import send_maintenance

        send_maintenance(_vboard.link, window_ms(board), boot_wdt_ms(board))
    return False
