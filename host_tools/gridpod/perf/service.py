"""The service channel's work per control tick, measured (docs/service-channel.md).

The firmware's App (fake HAL, its console fed by the measurement) runs on the MicroPython unix
port from compiled modules, as on a board, on a chip's clock: the platform's ticks_us() is the
VM's microsecond clock times the chip-time model's factor for that chip (vboard/chip_model.py
CHIPS: the published bytecode speed over this host's unix port, calibrated just before), so the
service's own time budget cuts its work where it would on the chip. Each request kind is sent,
and each service tick (app/service.py Service.tick: read, parse, answer, write the reply; a
deploy check's steps) is timed alone on that clock: the worst tick (median over REPS runs) and
how many ticks the answer took. The characters written per tick are charged to a console on a
USB-UART bridge at 115200 baud, 8N1: what one tick writes beyond the UART's 128-byte FIFO blocks
the loop (the FIFO drains in 11 ms, long before the next control tick). The host may preempt the
VM: single figures are noisy (the medians less), and I/O is scaled like bytecode (an estimate).
Nothing asserts; `python -m gridpod.perf.service`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from ..build.tree import FIRMWARE_DIR, firmware_files
from ..vboard.chip_calibration import calibrate
from ..vboard.chip_model import CHIPS

REPS = 25
UART_CHARS_PER_MS = 115200 / 10 / 1000  # 8N1: 10 bits a character
UART_FIFO = 128

_SCRIPT = """
import gc, json, os, time
from binascii import hexlify
from app.app import App
from support import BOARD, fake_platform, tmp_dir, write_bytes

def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc

def request(seq, cmd, args=b""):
    payload = bytes((seq, ord(cmd))) + args
    return b"#GP>%%04x%%s%%04x\\r" %% (len(payload), hexlify(payload), crc16(payload))

root = tmp_dir()
os.mkdir(root + "lib")
files = {}
for i in range(%(files)d):  # a firmware-sized set for the deploy check
    data = bytes((i + k) & 0xFF for k in range(256)) * 8
    write_bytes(root + "lib/m%%d.mpy" %% i, data)
    files["/lib/m%%d.mpy" %% i] = "0" * 64
write_bytes(root + "manifest.json", json.dumps({"id": "0123456789abcdef", "files": files}).encode())
write_bytes(root + "config.json", b"x" * 1200)
p = fake_platform()
app = App(p, BOARD, root, log_slots=32)
FACTOR = %(factor)d


def chip_us():  # the chip's clock: the VM's, scaled by the chip factor (63-bit small ints here)
    return time.ticks_us() * FACTOR


def diff(a, b):
    return a - b


p.ticks_us = chip_us  # the service's budget runs on it
p.ticks_diff = diff
svc = app.service
con = p.console_port

step_us = [0]


def patch_steps():
    # the deploy check's largest step (it is loaded per request: patch the copy it will use)
    import app.deploy_check as dc
    plain = dc.DeployCheck.step
    def step(self):
        t0 = chip_us()
        done = plain(self)
        dt = chip_us() - t0
        if dt > step_us[0]:
            step_us[0] = dt
        return done
    dc.DeployCheck.step = step


def run(name, data, reps, cold=False):
    for _ in range(reps):
        if cold and svc.answers is not None:
            svc._forget_answers()
        if name == "deploy_check":
            step_us[0] = 0
            patch_steps()
        gc.collect()
        con.take_output()
        left = con.inject(data)
        ticks = []
        most = 0
        while len(ticks) < 400:
            t0 = chip_us()
            before = len(con.out)
            svc.tick(p.ticks_ms())
            ticks.append(chip_us() - t0)
            most = max(most, len(con.out) - before)
            if data[:1] != b"#" or b"\\r\\n" in con.out:
                break
        print("SVC", name, max(ticks), len(ticks), len(con.out), most)
        if name == "deploy_check":
            print("STEP", step_us[0])

run("idle", b"", %(reps)d)
run("noise", b"x" * 127 + b"\\r", %(reps)d)  # a full receive buffer, not a request
run("status_first", request(1, "S"), 5, cold=True)
run("status", request(2, "S"), %(reps)d)
run("file_chunk", request(3, "R", (0).to_bytes(4, "big") + (256).to_bytes(2, "big") + b"/config.json"), %(reps)d)
run("registers", request(4, "G", b"\\x00\\x00\\x00\\x00\\x78"), %(reps)d)
run("deploy_check", request(5, "V"), 5)
"""


def measure(factor: float, reps: int = REPS, files: int = 50) -> dict:
    """{kind: {"chip_us", "ticks", "reply_chars", "tick_chars"}}: per request kind the median
    worst service tick in a chip's microseconds (factor: that chip's over this host's unix
    port), the ticks its answer took, the reply's length and the most written in one tick."""
    src = firmware_files("VIRTUAL", mpy_arch=None)
    with tempfile.TemporaryDirectory() as tmp:
        for path, data in src.items():
            target = Path(tmp) / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        tests = FIRMWARE_DIR / "tests"
        (Path(tmp) / "support.py").write_bytes((tests / "support.py").read_bytes())
        (Path(tmp) / "hal" / "fake.py").write_bytes((FIRMWARE_DIR / "hal" / "fake.py").read_bytes())
        script = Path(tmp) / "measure.py"
        script.write_text(_SCRIPT % {"reps": reps, "files": files, "factor": round(factor)})
        micropython = Path(sys.executable).parent / "micropython"
        proc = subprocess.run(
            [str(micropython), "-X", "heapsize=256k", str(script)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp,
            env={"MICROPYPATH": f".frozen:{tmp}"},
        )
    rows: dict[str, list] = {}
    step = [int(x.split()[1]) for x in proc.stdout.splitlines() if x.startswith("STEP ")]
    for line in proc.stdout.splitlines():
        if line.startswith("SVC "):
            _, name, worst, ticks, out, most = line.split()
            rows.setdefault(name, []).append((int(worst), int(ticks), int(out), int(most)))
    if not rows:
        raise RuntimeError(f"measurement failed: {proc.stdout[-400:]}{proc.stderr[-800:]}")
    out = {
        name: {
            "chip_us": statistics.median(r[0] for r in runs),
            "ticks": max(r[1] for r in runs),
            "reply_chars": max(r[2] for r in runs),
            "tick_chars": max(r[3] for r in runs),
        }
        for name, runs in rows.items()
    }
    out["deploy_check"]["step_chip_us"] = statistics.median(step) if step else None
    return out


def main(argv=None) -> int:
    cal = calibrate()
    print(f"service channel: the worst control tick per request (median of {REPS} runs)")
    figures = {}
    for chip in ("esp32", "rp2040"):
        spec = CHIPS[chip]
        factor = spec.bench_ms_at(spec.stock_mhz) / cal.unix_bench_ms
        figures[chip] = measure(factor)
        print(f"  {spec.name} at {spec.stock_mhz} MHz (chip factor {factor:.0f}x):")
        for name, r in figures[chip].items():
            uart = max(0.0, (r["tick_chars"] - UART_FIFO) / UART_CHARS_PER_MS)
            step = r.get("step_chip_us")
            more = f", its largest step {step / 1000:.1f} ms" if step else ""
            print(
                f"    {name:13s} worst tick {r['chip_us'] / 1000:5.1f} ms, {r['ticks']:3d} "
                f"tick(s){more}; reply {r['reply_chars']} chars, at most {r['tick_chars']} a "
                f"tick (a 115200 bridge console's write blocks {uart:.0f} ms)"
            )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
