"""`make bench` figure: a module day. The full firmware on a virtual module at --speed max with
the plant model under an AI load profile; returns simulated and wall time, the speed ratio and
the soak figures (resets, overruns, MemoryError / Traceback lines on the console, monitor
violations, heap low-water).

    from gridpod.hil.soak import module_day_benchmark
    module_day_benchmark()                       # 24 h, training profile, platform only
    module_day_benchmark(full_module=True)   # what `make bench` runs (the board's budget)

full_module: config flags cooling_enabled, battery_enabled and grid_enabled on (the 24-hour soak
at the VIRTUAL board's budget). Every invariant monitor runs (hil/monitors.py MONITORS, named
explicitly); the stock main.py sends no close request, so the contactor monitors watch a battery
that stays open (a coil energised by itself, a PCS enabled with it open, a pump above 6 bar
would still be caught). close_at_s (`--close-at S`, what `make bench` runs): the operator's main
(hil/operator.py) asks for a close at S, so the day runs with the contactors closed and the peak
shaver at work (the figure says how long K_POS was energised). The heap low-water is the
harness's lowest free-heap report (VM bytes; the firmware samples gc.mem_free() once per housekeeping second, before its gc.collect()),
also given in 32-bit board terms (VM bytes / WORD_SCALE, as gridpod.perf.run does).
Where the wall time goes: the VM's CPU (firmware and its end of the harness) and this process's
CPU (plant, invariant monitors, harness host, supervisor) per simulated 10 ms tick, and the
harness exchanges per simulated second (lockstep: the two run in turn, so 10000 / (VM + host)
us is the ratio an idle machine reaches, less the round trips' scheduling).

    python -m gridpod.hil.soak [--heap BYTES] [--hours H] [--platform-only] [--close-at S]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from ..boards.check import load_board
from ..build.tree import firmware_files, import_firmware, romfs_layout
from ..plant import Plant
from ..vboard.flash import create_blank, install_tree
from ..vboard.supervisor import VirtualBoard
from ..vboard.vm import WORD_SCALE
from .bench import BenchError
from .monitors import MONITORS, MonitoredPlant
from .operator import module_flash

TARGET_RATIO = 300
# Wall-clock guards of a bench, not of the firmware: a run that makes no simulated progress for
# STALL_S (the firmware fell to the REPL) or runs below 20x real time (a day in 72 min) stops.
# A loaded 2-core host measured 40-60x and 20 s without progress once.
STALL_S = 60.0
MIN_RATIO = 20
FAST_TICK_MS = 10
SOAK_HEAP_BYTES = load_board("VIRTUAL")["heap_bytes"]  # 110000 B, ESP32_DEVKITC's


def full_module_config() -> bytes:
    """/config.json with every subsystem composed (schema defaults otherwise)."""
    cfg = import_firmware("app.config")
    values = dict(cfg.defaults(), cooling_enabled=True, battery_enabled=True, grid_enabled=True)
    data = cfg.encode(values)
    return data.encode() if isinstance(data, str) else data


def _flash(tmp: Path, full_module: bool) -> tuple[Path, bytes | None]:
    """The stock firmware (main.py sends no close request); the full module's layout: compiled
    modules in ROMFS, run in place."""
    files = firmware_files("VIRTUAL", rom=full_module)
    image = None
    if full_module:
        files["/config.json"] = full_module_config()
        files, image = romfs_layout(files)
    flash = tmp / "flash.img"
    create_blank(flash)
    install_tree(flash, files)
    return flash, image


def _on_ms(edges, end_s: float) -> int:
    """How long a coil's edges (simulated ms, value) held it energised up to end_s."""
    on_ms, since = 0, None
    for t, v in edges:
        if v and since is None:
            since = t
        elif not v and since is not None:
            on_ms, since = on_ms + t - since, None
    return on_ms + (int(end_s * 1000) - since if since is not None else 0)


def module_day_benchmark(
    sim_s: float = 24 * 3600,
    profile: str = "training",
    seed: int = 1,
    heap_bytes=None,
    full_module: bool = False,
    close_at_s: float | None = None,
) -> dict:
    plant = MonitoredPlant(Plant(seed=seed, profile=profile), enabled=MONITORS)
    with tempfile.TemporaryDirectory() as tmp:
        if close_at_s is not None:  # the operator's close request (hil/operator.py), full module
            flash = module_flash(tmp, close_at_ms=(int(close_at_s * 1000),))
            image = flash.with_suffix(".romfs").read_bytes()
        else:
            flash, image = _flash(Path(tmp), full_module)
        with VirtualBoard(
            flash=flash,
            speed="max",
            run_for_s=sim_s,
            plant=plant,
            heap_bytes=heap_bytes,
            romfs=image,
        ) as vb:
            t0 = time.monotonic()
            host0, vm0, sim0 = time.process_time(), vb.vm_cpu_s(), vb.sim_ms
            deadline = t0 + max(600.0, sim_s / MIN_RATIO)
            last = (vb.sim_ms, t0)
            while not vb.finished.wait(0.5):
                now = time.monotonic()
                if vb.sim_ms != last[0]:
                    last = (vb.sim_ms, now)
                stalled = now - last[1] > STALL_S  # e.g. the firmware fell to the REPL
                died = b"Traceback" in vb.console_log  # the scan loop left: no need to wait
                if vb.stopped_reason or stalled or died or now > deadline:
                    tail = bytes(vb.console_log[-600:]).decode(errors="replace")
                    why = vb.stopped_reason or (
                        "traceback"
                        if died
                        else f"no progress for {STALL_S:.0f} s"
                        if stalled
                        else f"below {MIN_RATIO}x real time: is the host overloaded?"
                    )
                    raise BenchError(
                        f"module day stopped at {vb.sim_ms / 1000:.0f} sim s ({why}); "
                        f"console ends: {tail!r}"
                    )
            wall_s = time.monotonic() - t0
            host_cpu_s, vm1 = time.process_time() - host0, vb.vm_cpu_s()
            stats = vb.stats()
            console = bytes(vb.console_log)
    low = stats.get("heap_min_free")
    ticks = (stats["sim_s"] * 1000 - sim0) / FAST_TICK_MS  # fast ticks simulated while timed
    vm_cpu_s = None if vm0 is None or vm1 is None else vm1 - vm0
    return {
        "sim_s": sim_s,
        "wall_s": round(wall_s, 2),
        "ratio": round(sim_s / wall_s),
        "profile": profile,
        "full_module": full_module,
        "heap_budget": stats["heap_budget"],
        "vm_heap_bytes": stats["vm_heap_bytes"],
        "resets": stats["resets"],
        "overruns": stats["overruns"],
        "memory_errors": console.count(b"MemoryError"),
        # the scheduler's own words for each trip (app/scheduler.py, the first three)
        "overrun_lines": [
            ln.decode(errors="replace").strip()
            for ln in console.splitlines()
            if ln.startswith(b"scheduler: overrun")
        ],
        "tracebacks": console.count(b"Traceback"),
        "violations": [str(v) for v in plant.violations],
        "heap_low_water_vm": low,
        "heap_low_water_board": None if low is None else low // WORD_SCALE,
        "it_energy_kwh": round(plant.coolant.energy_in_j / 3.6e6, 1),
        "battery_closed_h": round(_on_ms(plant.edges.get("K_POS_COIL", []), sim_s) / 3.6e6, 4),
        "battery_closes": sum(1 for _t, v in plant.edges.get("K_POS_COIL", []) if v),
        # where the wall time goes, per simulated 10 ms tick: the VM's CPU (firmware + its end of
        # the harness), this process's (plant, invariant monitors, harness host, supervisor)
        "vm_us_per_tick": None if vm_cpu_s is None else round(vm_cpu_s / ticks * 1e6, 1),
        "host_us_per_tick": round(host_cpu_s / ticks * 1e6, 1),
        "exchanges_per_sim_s": round(stats["exchanges"] / stats["sim_s"], 2),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gridpod.hil.soak")
    ap.add_argument("--heap", type=int, default=SOAK_HEAP_BYTES, help="board heap budget, bytes")
    ap.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    ap.add_argument("--platform-only", action="store_true", help="no subsystem composed")
    ap.add_argument(
        "--close-at",
        type=float,
        metavar="S",
        help="the operator closes the battery at S simulated s (contactors, peak shaver at work)",
    )
    args = ap.parse_args(argv)
    full = not args.platform_only
    what = "full module (cooling+battery+grid)" if full else "platform only"
    if args.close_at is not None:
        if not full:
            print("module day soak: --close-at needs the full module (no --platform-only)")
            return 2
        what += f", battery closed at {args.close_at:g} s"
    heap_k = args.heap // 1024
    try:
        r = module_day_benchmark(
            sim_s=args.hours * 3600,
            heap_bytes=args.heap,
            full_module=full,
            close_at_s=args.close_at,
        )
    except BenchError as e:
        print(f"module day soak, {what}, --heap {heap_k}K: FAILED: {e}")
        return 1
    low = r["heap_low_water_vm"]
    print(
        f"module day soak, {what}, --heap {heap_k}K, training profile, --speed max: "
        f"{r['ratio']}x real time ({r['sim_s'] / 3600:.1f} sim h in {r['wall_s']} s) "
        f"[target >= {TARGET_RATIO}x]; resets {r['resets']}, overruns {r['overruns']}, "
        f"MemoryError {r['memory_errors']}, tracebacks {r['tracebacks']}, "
        f"monitor violations {len(r['violations'])}, heap low-water {low} B free of "
        f"{r['vm_heap_bytes']} B VM heap (~{r['heap_low_water_board']} B in 32-bit board terms, budget {r['heap_budget']} B)"
    )
    vm = r["vm_us_per_tick"]
    print(
        f"  where the time goes, per simulated 10 ms tick: VM {vm if vm is not None else '?'} us "
        f"CPU (firmware + harness end), host {r['host_us_per_tick']} us CPU (plant, monitors, "
        f"harness host); {r['exchanges_per_sim_s']} harness exchanges per simulated second; "
        f"{os.getloadavg()[0]:.1f} load average"
    )
    if args.close_at is not None:
        print(
            f"  battery: closed {r['battery_closes']} time(s), K_POS energised "
            f"{r['battery_closed_h']:.2f} of {r['sim_s'] / 3600:.2f} sim h"
        )
    for v in r["violations"][:5]:
        print("  violation:", v)
    for line in r["overrun_lines"]:
        print("  " + line)
    ok = (
        r["resets"] == 0
        and r["overruns"] == 0
        and r["memory_errors"] == 0
        and r["tracebacks"] == 0
        and not r["violations"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
