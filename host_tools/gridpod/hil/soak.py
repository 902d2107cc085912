"""`make bench` figure: a module day. The full firmware on a virtual module at --speed max with
the plant model under an AI load profile; returns simulated and wall time and the speed ratio.

    from gridpod.hil.soak import module_day_benchmark
    module_day_benchmark()            # 24 h, training profile; target < 300 s wall (>= 300x)
"""

import tempfile
import time
from pathlib import Path

from ..firmware_tree import firmware_files
from ..plant import Plant
from ..vboard.flash import create_blank, install_tree
from ..vboard.supervisor import VirtualBoard
from .bench import BenchError
from .monitors import MonitoredPlant

TARGET_RATIO = 300


def module_day_benchmark(
    sim_s: float = 24 * 3600, profile: str = "training", seed: int = 1, heap_bytes=None
) -> dict:
    plant = MonitoredPlant(Plant(seed=seed, profile=profile))
    with tempfile.TemporaryDirectory() as tmp:
        flash = Path(tmp) / "flash.img"
        create_blank(flash)
        install_tree(flash, firmware_files("VIRTUAL"))
        with VirtualBoard(
            flash=flash, speed="max", run_for_s=sim_s, plant=plant, heap_bytes=heap_bytes
        ) as vb:
            t0 = time.monotonic()
            deadline = t0 + max(600.0, sim_s / 50)
            last = (vb.sim_ms, t0)
            while not vb.finished.wait(0.5):
                now = time.monotonic()
                if vb.sim_ms != last[0]:
                    last = (vb.sim_ms, now)
                stalled = now - last[1] > 20.0  # e.g. the firmware fell to the REPL
                if vb.stopped_reason or stalled or now > deadline:
                    tail = bytes(vb.console_log[-300:]).decode(errors="replace")
                    raise BenchError(
                        f"module day stopped at {vb.sim_ms / 1000:.0f} sim s "
                        f"({vb.stopped_reason or 'stalled'}); console ends: {tail!r}"
                    )
            wall_s = time.monotonic() - t0
            stats = vb.stats()
    return {
        "sim_s": sim_s,
        "wall_s": round(wall_s, 2),
        "ratio": round(sim_s / wall_s),
        "profile": profile,
        "resets": stats["resets"],
        "overruns": stats["overruns"],
        "violations": [str(v) for v in plant.violations],
        "it_energy_kwh": round(plant.coolant.energy_in_j / 3.6e6, 1),
    }


def main() -> None:
    r = module_day_benchmark()
    print(
        f"module day, training profile, full firmware + plant, --speed max: {r['ratio']}x real "
        f"time ({r['sim_s'] / 3600:.0f} sim h in {r['wall_s']} s, resets {r['resets']}, "
        f"overruns {r['overruns']}, violations {len(r['violations'])}) [target >= {TARGET_RATIO}x]"
    )


if __name__ == "__main__":
    main()
