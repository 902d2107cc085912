"""`gridpod stop` / `gridpod start`: the two explicit ways to stop a board's application and to
start it again. Stopping says what it does (outputs safe: contactors open, alarm on) and asks
first; the board starts the application again by itself when its maintenance window ends
(hal maintenance(), README "When a host tool stops the application"), or at `gridpod start`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import GridpodError
from .session import Device

DEFAULT_WINDOW_MS = 300000  # firmware hal MAINTENANCE_WINDOW_MS


def stop(
    port: str,
    yes: bool = False,
    ask: Callable[[str], str] = input,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    with Device(port, log=log) as dev:
        app = dev.probe()
        if app is None:
            raise GridpodError(
                f"{port}: no application answers (stopped already, or none installed): "
                "nothing to stop"
            )
        question = (
            f"{port}: stop the application of module {app.get('module_id')} "
            f"(board {app.get('board')}, {app.get('mode')})? Its outputs go safe: contactors "
            "open, alarm on, until it starts again."
        )
        if yes:
            log(question)
        elif ask(question + " [y/N] ").strip() not in ("y", "yes"):
            raise GridpodError("not confirmed: the application runs on")
        dev.stop_app()
        window_ms = (dev.read_json("/board.json") or {}).get(
            "maintenance_window_ms", DEFAULT_WINDOW_MS
        )
    window_s = window_ms // 1000
    return {
        "port": port,
        "window_s": window_s,
        "summary": f"application stopped, outputs safe; the board resets into it in {window_s} s "
        "(its maintenance window) unless `gridpod start` starts it sooner",
    }


def start(port: str, log: Callable[[str], None] = print, timeout_s: float = 30.0) -> dict:
    with Device(port, log=log) as dev:
        app = dev.probe()
        if app is not None:
            return {
                "port": port,
                "summary": f"already running (module {app.get('module_id')}, boot "
                f"#{app.get('boot')}): nothing done",
            }
        banner = dev.restart_app(timeout_s)
    health = "MAINTENANCE MODE (config rejected)" if banner["maintenance"] else "healthy"
    return {
        "port": port,
        "boot": banner["boot"],
        "summary": f"application started: module {banner['module']} board {banner['board']} "
        f"boot #{banner['boot']}, {health}",
    }
