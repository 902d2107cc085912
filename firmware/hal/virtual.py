"""Virtual-board HAL: the harness platform over the supervisor's socket.

Runs only inside the MicroPython unix port started by `gridpod vboard`, whose runtime exports the
socket link and the boot facts (reset cause) as module `_vboard`.
"""

from hal.harness import HarnessPlatform


def open_platform(board):
    import _vboard

    platform = HarnessPlatform(board, _vboard.link, _vboard.hello)
    platform._cpu_clock = getattr(_vboard, "cpu_us", None)
    from hal.console import StdioConsole  # the runtime relays stdin/stdout to the console pty

    platform._console = StdioConsole()  # type: ignore[assignment]
    return platform
