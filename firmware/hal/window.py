"""The maintenance window (README "When a host tool stops the application"): while no scan loop
feeds the hardware watchdog (boot, or the application stopped for a host tool with Ctrl-C), a
timer feeds it for at most the board's window (board file "maintenance_window_ms", default
hal.MAINTENANCE_WINDOW_MS), then the board resets into the application.

A small module of its own, so that boot.py opens the window at every boot without building a
Platform (boot(); the hardware watchdog survives a soft reset, a timer does not):
  "mcu"      hal/mcu.py open_window: a machine.Timer (a soft IRQ: it runs at the REPL too)
             feeds machine.WDT, then machine.reset()
  "virtual"  the supervisor plays the watchdog and the timer: one harness message
             (send_maintenance, also what hal/harness.py's Platform sends)
  "hil"      nothing at boot: the host plays the watchdog over the link (HarnessPlatform)
"""

from micropython import const

from hal import boot_wdt_ms, window_ms

_MSG_MAINTENANCE = const(0x4D)  # 'M': harness message (gridpod/harness/protocol.py)


def send_maintenance(link, length_ms, wdt_timeout_ms):
    """The window on a harness board: length_ms > 0 opens it (a watchdog not started yet is
    started with wdt_timeout_ms), 0 closes it."""
    buf = link.buf
    for pos, v in ((3, length_ms), (7, wdt_timeout_ms)):
        for i in range(4):
            buf[pos + i] = (v >> (8 * i)) & 0xFF
    link.request(_MSG_MAINTENANCE, 8)


def boot(path="/board.json"):
    """boot.py, at every boot: open the window the board's HAL needs (nothing without a board
    file: no firmware deployed yet)."""
    import json

    try:
        with open(path) as f:
            board = json.load(f)
    except OSError:
        return
    hal = board.get("hal")
    if hal == "mcu":
        from hal.mcu import open_window

        open_window(window_ms(board), boot_wdt_ms(board))
    elif hal == "virtual":
        import _vboard

        send_maintenance(_vboard.link, window_ms(board), boot_wdt_ms(board))
