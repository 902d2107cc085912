"""Virtual-board HAL: the harness platform over the supervisor's socket.

Runs only inside the MicroPython unix port started by `gridpod vboard`, whose runtime exports the
socket link and the boot facts (reset cause) as module `_vboard`.
"""

from hal.harness import HarnessPlatform


def open_platform(board):
    import _vboard

    platform = HarnessPlatform(board, _vboard.link, _vboard.hello)
    platform._cpu_clock = getattr(_vboard, "cpu_us", None)
    platform.console = _console  # type: ignore[method-assign]
    return platform


def _console():
    """The console stream (the runtime relays stdin/stdout to the console pty); imported when
    the App asks for it, after its boot peak."""
    from hal.console import StdioConsole

    return StdioConsole()
