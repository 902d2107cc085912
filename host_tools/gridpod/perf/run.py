"""`make bench`: measured performance of the virtual board and the firmware; figures and ratios.

Nothing here asserts: each benchmark prints what it measured. Targets from the issues are shown
beside the figure so a reader sees the margin.
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..boards.check import load_board
from ..build.tree import firmware_files
from ..vboard.flash import create_blank, install_tree
from ..vboard.supervisor import VirtualBoard
from ..vboard.vm import WORD_SCALE

MINIMAL_LOOP = """
import json
from hal import virtual
p = virtual.open_platform(json.load(open('/board.json')))
led = p.digital_out('STATUS_LED')
t = p.ticks_ms()
n = 0
while True:
    t += 10
    p.wait_until_ms(t)
    n += 1
    if n % 50 == 0:
        led.value(not led.value())
"""

APP_STATS = """
import json
from app import startup
a = startup.main(frames=%d)  # the real boot sequence (memory-ordered), then N scan frames
s = a.scheduler
f, c, h = s.slots
print('BENCH ' + json.dumps({'fast_max_us': f.max_us, 'fast_mean_us': f.mean_us(),
    'control_max_us': c.max_us, 'control_mean_us': c.mean_us(),
    'housekeeping_max_us': h.max_us, 'housekeeping_mean_us': h.mean_us(),
    'gc_max_us': s.gc_max_us, 'heap_free_low': s.heap_free_low, 'overruns': s.overruns}))
"""


def _flash(tmp: Path, files: dict) -> Path:
    path = tmp / "flash.img"
    create_blank(path)
    install_tree(path, files)
    return path


def closed_loop_speed(files: dict, sim_s: float, heap_bytes=None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        flash = _flash(Path(tmp), files)
        with VirtualBoard(flash=flash, speed="max", run_for_s=sim_s, heap_bytes=heap_bytes) as vb:
            t0 = time.monotonic()
            vb.finished.wait(600)
            wall = time.monotonic() - t0
            stats = vb.stats()
    return {"sim_s": sim_s, "wall_s": round(wall, 3), "ratio": round(sim_s / wall), **stats}


def firmware_tick_durations(frames: int, heap_bytes: int) -> dict:
    files = firmware_files("VIRTUAL")
    files["/main.py"] = (APP_STATS % frames).encode()
    with tempfile.TemporaryDirectory() as tmp:
        with VirtualBoard(flash=_flash(Path(tmp), files), speed="max", heap_bytes=heap_bytes) as vb:
            out = vb.wait_console(b"}\r\n", timeout_s=120)
    line = out.split(b"BENCH ", 1)[1].split(b"\r\n", 1)[0]
    return json.loads(line)


def mpremote_round_trip(n_cli: int = 5, n_api: int = 50) -> dict:
    from mpremote.transport_serial import SerialTransport

    with tempfile.TemporaryDirectory() as tmp:
        with VirtualBoard(flash=_flash(Path(tmp), {}), speed=1) as vb:
            cli = []
            for _ in range(n_cli):
                t0 = time.monotonic()
                subprocess.run(
                    [sys.executable, "-m", "mpremote", "connect", vb.console_port, "exec", "pass"],
                    check=True,
                    capture_output=True,
                )
                cli.append(time.monotonic() - t0)
            t = SerialTransport(vb.console_port, baudrate=115200)
            t.enter_raw_repl()
            api = []
            for _ in range(n_api):
                t0 = time.monotonic()
                t.exec("pass")
                api.append(time.monotonic() - t0)
            t.exit_raw_repl()
            t.close()
    return {
        "cli_exec_ms": round(statistics.median(cli) * 1000, 1),
        "api_exec_ms": round(statistics.median(api) * 1000, 2),
    }


def main() -> int:
    print("gridpod bench (2-core CI machine class; wall-clock figures vary run to run)")
    minimal = {
        "/main.py": MINIMAL_LOOP.encode(),
        **{k: v for k, v in firmware_files("VIRTUAL").items() if k.startswith(("/hal/", "/board"))},
    }
    r = closed_loop_speed(minimal, 600.0)
    print(
        f"closed loop, minimal 10 ms loop, --speed max: {r['ratio']}x real time "
        f"({r['sim_s']:.0f} sim s in {r['wall_s']} s, {r['ticks']} ticks) [target >= 500x]"
    )
    r = closed_loop_speed(firmware_files("VIRTUAL"), 600.0)  # the board file's budget
    print(
        f"closed loop, platform firmware, VIRTUAL budget: {r['ratio']}x real time "
        f"({r['ticks']} ticks, resets {r['resets']}, overruns {r['overruns']})"
    )
    d = firmware_tick_durations(30000, load_board("VIRTUAL")["heap_bytes"])
    budget = 10_000
    print(
        f"fast tick (10 ms) on the unix port: mean {d['fast_mean_us']} us, max {d['fast_max_us']} us "
        f"= {100 * d['fast_mean_us'] / budget:.1f} % / {100 * d['fast_max_us'] / budget:.1f} % of the tick "
        f"[budget <= 50 %]"
    )
    print(
        f"control tick (100 ms): mean {d['control_mean_us']} us, max {d['control_max_us']} us; "
        f"housekeeping (1 s): mean {d['housekeeping_mean_us']} us, max {d['housekeeping_max_us']} us "
        f"(gc.collect max {d['gc_max_us']} us)"
    )
    low = d["heap_free_low"]
    print(
        f"heap low-water, platform firmware, VIRTUAL budget: {low} B free of the VM heap "
        f"(~{low // WORD_SCALE} B in 32-bit board terms), overruns {d['overruns']}"
    )
    m = mpremote_round_trip()
    print(
        f"mpremote exec round trip: {m['api_exec_ms']} ms via SerialTransport, "
        f"{m['cli_exec_ms']} ms for the whole `mpremote exec` command (process start included)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
