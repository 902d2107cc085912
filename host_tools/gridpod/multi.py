"""Run one job on many boards in parallel: a thread and a log file per port, one summary table.

    results = run_many(ports, lambda port, log: deploy(port, log=log), log_dir)
    print(summary_table(results))

A job returns a dict with a "summary" string (or anything, shown with str()) and, optionally,
"ok": False for a board that ran but did not pass (a FAT verdict); an exception fails that board
only. Jobs need not be serial ports: any labels work (`gridpod fat --virtual --boards 4`). Ports come from --port (repeatable) or --all (every USB serial port).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import GridpodError

Job = Callable[[str, Callable[[str], None]], Any]


def usb_ports() -> list[str]:
    """Every serial port with a USB id (what --all means); built-in UARTs are left out."""
    from serial.tools import list_ports

    return sorted(p.device for p in list_ports.comports() if p.vid is not None)


def resolve_ports(ports: list[str] | None, all_ports: bool) -> list[str]:
    chosen = list(dict.fromkeys(ports or []))
    if all_ports:
        chosen += [p for p in usb_ports() if p not in chosen]
    if not chosen:
        raise GridpodError("no port: pass --port P (repeatable) or --all")
    return chosen


def log_name(port: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", port.strip("/")) + ".log"


def run_many(
    ports: list[str], job: Job, log_dir: Path, echo: Callable[[str], None] | None = print
) -> list[dict[str, Any]]:
    """Run job(port, log) for every port at once; results in port order, one per port."""
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    echo_lock = threading.Lock()

    def worker(port: str) -> None:
        path = log_dir / log_name(port)
        t0 = time.monotonic()
        with open(path, "w") as f:

            def log(line: str) -> None:
                f.write(line + "\n")
                f.flush()
                if echo is not None:
                    with echo_lock:
                        echo(f"[{port}] {line}")

            try:
                value = job(port, log)
                summary = value.get("summary", "ok") if isinstance(value, dict) else str(value)
                ok = bool(value.get("ok", True)) if isinstance(value, dict) else True
                result = {"ok": ok, "summary": summary, "value": value}
            except GridpodError as exc:
                result = {"ok": False, "summary": str(exc).splitlines()[0], "value": None}
            except Exception as exc:  # noqa: BLE001 - one board's bug must not stop the others
                result = {"ok": False, "summary": f"{type(exc).__name__}: {exc}", "value": None}
            log(("OK: " if result["ok"] else "FAILED: ") + result["summary"])
        result.update(port=port, seconds=round(time.monotonic() - t0, 1), log=str(path))
        results[port] = result

    threads = [threading.Thread(target=worker, args=(p,), name=f"gridpod-{p}") for p in ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [results[p] for p in ports]


def summary_table(results: list[dict[str, Any]], label: str = "port") -> str:
    width = max([len(label)] + [len(r["port"]) for r in results])
    lines = [f"{label:<{width}}  result  time    detail"]
    for r in results:
        status = "ok" if r["ok"] else "FAILED"
        lines.append(f"{r['port']:<{width}}  {status:<6}  {r['seconds']:>5.1f}s  {r['summary']}")
    ok = sum(1 for r in results if r["ok"])
    lines.append(f"{ok}/{len(results)} boards ok; logs: {Path(results[0]['log']).parent}")
    return "\n".join(lines)
