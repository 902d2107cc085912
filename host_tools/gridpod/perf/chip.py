"""`make bench`: the fast-tick load a real board would see, from the chip-time model.

The full module (cooling + battery + grid, battery closed by the operator at 15 s, training load,
every invariant monitor on) runs on the virtual board with chip time on (vboard/chip_time.py):
every frame's record is kept, then charged to each real board's model with the unix port
calibrated just before and just after the run (their mean; the spread is printed: the machine
may be shared). A Modbus master polls 10 holding registers every POLL_MS, as a SCADA would, so
the RS-485 replies the fast tick sends are in the figures.

Printed per real board at the clock its board file sets (cpu_mhz, hal/mcu.py): the fast tick
(frames that run the fast slot only) mean, p99 and max as % of the 10 ms tick against
DOMAIN.md's 50 % budget, what dominates it, the control and housekeeping frames (above 100 % the
next fast tick starts late), the overruns counted against chip time and the TICK_OVERRUN trips
the scheduler's policy would raise on that chip. Nothing asserts here (test_perf_chip.py does on
a short run); `python -m gridpod.perf.chip [SIM_S]`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace

from ..build.tree import import_firmware
from ..hil.monitors import MonitoredPlant
from ..hil.operator import module_board, module_flash
from ..plant import Plant
from ..vboard.chip_calibration import Calibration, calibrate
from ..vboard.chip_model import BoardCost
from ..vboard.chip_time import ChipTime

SIM_S = 120.0
CLOSE_AT_MS = 15000
POLL_MS = 1010  # not a multiple of the control period: replies fall in every frame phase
POLL_REGISTERS = 10
BUDGET_PCT = 50  # DOMAIN.md: fast tick work <= 50 % of the tick
# (board, CPU clock in MHz or None for the board file's cpu_mhz, the clock hal/mcu.py sets)
BOARDS = (
    ("ESP32_DEVKITC", None),
    ("ESP32_S3_DEVKITC", None),
    ("RPI_PICO", None),
)


class ModbusPoller:
    """Wraps the plant: a Modbus master on the RS-485 line sending one FC03 request for
    `registers` holding registers from address 0 every period_ms of simulated time (the
    board's replies go out on the rs485 pty, unread)."""

    def __init__(self, plant, period_ms: int = POLL_MS, registers: int = POLL_REGISTERS, unit=1):
        self.plant = plant
        self.host = None  # set once the board exists: its HarnessHost takes the bytes
        self.period_ms = period_ms
        self.next_ms = period_ms
        self.requests = 0
        crc16 = import_firmware("comms.modbus_rtu").crc16
        pdu = bytearray([unit, 3, 0, 0, registers >> 8, registers & 0xFF])
        crc = crc16(pdu, len(pdu))
        self.request = bytes(pdu + bytearray([crc & 0xFF, crc >> 8]))

    def __getattr__(self, name):
        return getattr(self.plant, name)

    def advance(self, now_ms):
        self.plant.advance(now_ms)
        if self.host is not None and self.period_ms and now_ms >= self.next_ms:
            self.host.uart_rx += self.request
            self.requests += 1
            self.next_ms = now_ms + self.period_ms


def _uart_framing() -> tuple[int, int]:
    """(baud, bits per character) of the firmware's default Modbus config."""
    cfg = import_firmware("app.config").defaults()
    bits = 1 + 8 + (cfg["modbus_parity"] != "N") + cfg["modbus_stop_bits"]
    return cfg["modbus_baud"], bits


def mean_calibration(a: Calibration, b: Calibration) -> Calibration:
    fields = {k: round((getattr(a, k) + getattr(b, k)) / 2, 4) for k in a.__dict__ if k != "chunks"}
    return replace(a, **fields)


def board_models(cal: Calibration, boards=BOARDS) -> list[BoardCost]:
    baud, bits = _uart_framing()
    return [BoardCost(b, cal, mhz, uart_baud=baud, uart_bits_per_char=bits) for b, mhz in boards]


def chip_figures(
    sim_s: float = SIM_S, boards=BOARDS, poll_ms: int = POLL_MS, chunks: int = 200
) -> dict:
    """Run the full module with chip time on; returns the per-board summaries and the run
    (chunks: calibration runs before and after, see chip_time.calibrate)."""
    cal0 = calibrate(chunks)
    recorder = ChipTime([], cal0, keep=True)
    with tempfile.TemporaryDirectory() as tmp:
        flash = module_flash(tmp, close_at_ms=(CLOSE_AT_MS,))
        monitored = MonitoredPlant(Plant(seed=1, profile="training"))
        plant = ModbusPoller(monitored, poll_ms)
        with module_board(flash, plant, None, chip=recorder) as vb:
            plant.host = vb.host
            t0 = time.monotonic()
            vb.run_until(sim_s)
            wall = time.monotonic() - t0
            stats = vb.stats()
            console = bytes(vb.console_log)
    cal1 = calibrate(chunks)
    cal = mean_calibration(cal0, cal1)
    phases: list[dict] = []
    models = []
    for m in board_models(cal, boards):
        works: dict[int, list[float]] = {}

        def each(frame, work, works=works):
            if frame[0] == "control":
                works.setdefault(frame[-1], []).append(work)

        models.append(recorder.replay(m, cal, each))
        phases.append(_phase_figures(works, m.period_us))
    return {
        "sim_s": sim_s,
        "wall_s": round(wall, 2),
        "calibrations": (cal0, cal1),
        "calibration": cal,
        "boards": [m.summary() for m in models],
        "control_phases": phases,
        "frames": len([f for f in recorder.frames if f is not None]),
        "cpu_bounded": recorder.cpu_bounded,
        "modbus_requests": plant.requests,
        "firmware_overruns": stats["overruns"],
        "rs485_collisions": stats["rs485_collisions"],
        "resets": stats["resets"],
        "violation": None if monitored.violation is None else str(monitored.violation),
        "tracebacks": console.count(b"Traceback"),
    }


def _phase_figures(works: dict[int, list[float]], period_us: float) -> dict:
    """Per frame of the control period that runs a control phase: frames, mean and max % of
    the tick, frames over 100 % (the fast slot included: it runs first in every frame)."""
    out = {}
    for frame in sorted(works):
        w = works[frame]
        out[frame] = {
            "frames": len(w),
            "mean_pct": round(100 * sum(w) / len(w) / period_us, 1),
            "max_pct": round(100 * max(w) / period_us, 1),
            "over_100": sum(1 for x in w if x > period_us),
        }
    return out


def _parts(parts: dict) -> str:
    total = sum(parts.values()) or 1
    top = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
    return ", ".join(f"{k} {v / 1000:.2f} ms ({100 * v / total:.0f} %)" for k, v in top)


def print_figures(r: dict) -> None:
    c0, c1 = r["calibrations"]
    spread = abs(c0.unix_bench_ms - c1.unix_bench_ms) / min(c0.unix_bench_ms, c1.unix_bench_ms)
    print(
        f"chip time: full module, {r['sim_s']:.0f} sim s ({r['frames']} frames charged, "
        f"{r['cpu_bounded']} bounded by the VM's CPU time), Modbus FC03 x{POLL_REGISTERS} "
        f"every {POLL_MS} ms ({r['modbus_requests']} requests, {r['rs485_collisions']} "
        f"collisions with DE high); unix port "
        f"{c0.unix_bench_ms}/{c1.unix_bench_ms} ms per 1e6 loop iterations before/after "
        f"(spread {100 * spread:.0f} %)"
    )
    if r["violation"] or r["tracebacks"] or r["resets"]:
        print(
            f"  run not clean: violation {r['violation']}, tracebacks {r['tracebacks']}, "
            f"resets {r['resets']}"
        )
    for b, phases in zip(r["boards"], r["control_phases"], strict=True):
        f, c, h = b["fast"], b["control"], b["housekeeping"]
        verdict = "OVER BUDGET" if f["mean_pct"] > BUDGET_PCT else "within budget"
        print(
            f"{b['board']:17s} {b['cpu_mhz']:3d} MHz (x{b['factor']:.0f} the unix port): fast "
            f"tick mean {f['mean_pct']:.0f} %, p99 {f['p99_pct']} %, max {f['max_pct']:.0f} % "
            f"of 10 ms [budget <= {BUDGET_PCT} %: {verdict}]"
        )
        print(f"    fast tick mean: {_parts(f['mean_parts_us'])}")
        print(f"    fast tick max:  {_parts(f['max_parts_us'])}")
        print(
            f"    control frames mean {c['mean_pct']:.0f} % max {c['max_pct']:.0f} %, "
            f"housekeeping frames mean {h['mean_pct']:.0f} % max {h['max_pct']:.0f} % "
            f"(control mean: {_parts(c['mean_parts_us'])})"
        )
        print(
            "    control frames by frame of the period: "
            + "; ".join(
                f"{k}: mean {v['mean_pct']:.0f} % max {v['max_pct']:.0f} % "
                f"({v['over_100']} of {v['frames']} over 10 ms)"
                for k, v in phases.items()
            )
        )
        over = f["overruns"] + c["overruns"] + h["overruns"]
        trips = f["trips"] + c["trips"] + h["trips"]
        print(
            f"    against chip time: {f['over_budget']} of {f['frames']} fast ticks over "
            f"{BUDGET_PCT} %, {f['overruns']} over 100 % ({f['over_2x']} over 200 %); "
            f"TICK_OVERRUN trips {trips}; {over} of "
            f"{f['frames'] + c['frames'] + h['frames']} frames over 10 ms (next tick late); "
            f"the firmware on the unix port counted {r['firmware_overruns']}"
        )
        m = b["modbus"]
        print(
            f"    Modbus: {m['frames']} frames read a request or sent a reply, the longest "
            f"fast-only one {m['fast_max_pct']:.0f} %, TICK_OVERRUN trips in them {m['trips']}"
        )
        for w in b["warnings"]:
            print(f"    note: {w}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sim_s = float(argv[0]) if argv else SIM_S
    print_figures(chip_figures(sim_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
