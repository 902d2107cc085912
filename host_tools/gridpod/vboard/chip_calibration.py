"""Calibration of the chip-time model on this host's MicroPython unix port: the published
benchmark loop (the chip factor's denominator) and the HAL's Python work per read, measured on the
virtual HAL (hal/harness.py) and on the real boards' HAL (hal/mcu.py, against a do-nothing
`machine`). See vboard/chip_time.py and docs/chip-time.md."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..build.tree import FIRMWARE_DIR

# The published figure is for 1e6 iterations of the loop (chip_model.CHIPS).
_BENCH_ITERATIONS = 1_000_000

# Short chunks (well under a host scheduler time slice), the median of each: a chunk the host
# preempted is an outlier, as a preempted frame is (frames are bounded by the VM's CPU time).
# The real board's HAL (hal/mcu.py) runs against a do-nothing `machine` to measure the Python work
# of an ADS1115 read or service and of a PCF8574 read, less the bus calls themselves (the model
# charges those as bus time plus driver overhead); the virtual HAL's read (hal/harness.py _Input),
# which the VM's frame already contains, is measured beside it.
_STUB_MACHINE = """
OS = 0x8000


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 4

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.v = 0

    def value(self, v=None):
        return self.v


class I2C:
    def __init__(self, id, scl=None, sda=None, freq=0):
        self.cfg = 0

    def writeto_mem(self, addr, reg, buf):
        self.cfg = (buf[0] << 8) | buf[1]

    def readfrom_mem_into(self, addr, reg, buf):
        w = self.cfg | OS if reg == 1 else 0x1234
        buf[0] = w >> 8
        buf[1] = w & 0xFF

    def readfrom_into(self, addr, buf):
        buf[0] = 0xFF

    def writeto(self, addr, buf):
        pass
"""

_CALIBRATION = """
import time
from array import array

import machine
from hal import mcu
from hal.chip_record import ChipRecorder
from hal.harness import _Input


def add_loop(p):
    for i in range(p[0]):
        C = p[1] + p[2]


class P:
    pass


def reads(objs, frames):
    for f in range(frames):
        for o in objs:
            o.value()
        for o in objs:
            rec.reads[o._ch] = 0
        rec.n_touched = 0


def ads_due(n):  # every read finds the chip unserviced for a frame: a full service (3 bus calls)
    for i in range(n):
        ads._t_us = ticks_add(ticks_us(), -20000)
        ads_ch.read_u16()


def ads_bus(n):  # the same loop's bus calls and clock reset alone
    buf = bytearray(2)
    cfg = ads._config[0]
    for i in range(n):
        ads._t_us = ticks_add(ticks_us(), -20000)
        i2c.readfrom_mem_into(72, 1, buf)
        i2c.readfrom_mem_into(72, 0, buf)
        i2c.writeto_mem(72, 1, cfg)


def ads_early(n):  # a read within a conversion time of the last access: no bus call
    ads._t_us = ticks_us()
    for i in range(n):
        ads_ch.read_u16()


def pcf_reads(n):
    for i in range(n):
        line.value()


def pcf_bus(n):
    buf = bytearray(1)
    for i in range(n):
        i2c.readfrom_into(32, buf)


def plain_reads(n):
    for i in range(n):
        plain_in.value()


def timed(fn, n):
    t = ticks_us()
    fn(n)
    return ticks_diff(ticks_us(), t)


ticks_us = time.ticks_us
ticks_diff = time.ticks_diff
ticks_add = time.ticks_add
p = P()
p._inputs = array('I', bytes(4 * 32))
rec = ChipRecorder(p, 32)
plain = [_Input(p, ch) for ch in range(16)]
counted = [rec.input(p, ch) for ch in range(16)]
plain_in = plain[0]
i2c = machine.I2C(0)
ads = mcu._Ads1115(i2c, 72)
ads_ch = mcu._ExtChannel(ads, 0)
ads_ch.read_u16()
line = mcu._ActiveLow(mcu._ExtChannel(mcu._Pcf8574(i2c, 32), 5))
args = [%(n)d, 12345678, 56781234]
R = %(reads)d
for _ in range(%(chunks)d):
    t = ticks_us()
    add_loop(args)
    a = ticks_diff(ticks_us(), t)
    t = ticks_us()
    reads(plain, %(frames)d)
    b = ticks_diff(ticks_us(), t)
    t = ticks_us()
    reads(counted, %(frames)d)
    c = ticks_diff(ticks_us(), t)
    print('CAL', a, b, c, timed(plain_reads, R), timed(ads_due, R), timed(ads_bus, R),
          timed(ads_early, R), timed(pcf_reads, R), timed(pcf_bus, R))
"""


@dataclass(frozen=True)
class Calibration:
    """This host's unix port: the published loop, and the HAL work per read in us."""

    unix_bench_ms: float  # the published loop, 1e6 iterations
    read_overhead_us: float = 0.0  # what counting one read adds to the VM's frame (chip time)
    plain_read_us: float = 0.0  # hal/harness.py _Input.value(): in the VM's frame already
    ads_read_us: float = 0.0  # hal/mcu.py ADS1115 read_u16 with no service due
    ads_service_us: float = 0.0  # the same read servicing the chip, bus calls excluded
    pcf_read_us: float = 0.0  # hal/mcu.py PCF8574 line read (active low), bus call excluded
    chunks: int = 0


def calibrate(chunks: int = 200, iterations: int = 5000, frames: int = 40) -> Calibration:
    """Measure on the unix port; each figure the median of `chunks` short runs (well under
    1 ms each: the machine may be shared). About a second."""
    micropython = Path(sys.executable).parent / "micropython"
    reads = 100
    script = _CALIBRATION % {"chunks": chunks, "n": iterations, "frames": frames, "reads": reads}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "machine.py").write_text(_STUB_MACHINE)
        path = Path(tmp) / "calibrate.py"
        path.write_text(script)
        proc = subprocess.run(
            [str(micropython), str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            env={"MICROPYPATH": f".frozen:{tmp}:{FIRMWARE_DIR}"},
        )
    rows = [
        [int(x) for x in line.split()[1:]]
        for line in proc.stdout.splitlines()
        if line.startswith("CAL ")
    ]
    if not rows:
        raise RuntimeError(f"unix port calibration failed: {proc.stdout}{proc.stderr}")
    med = [statistics.median(r[i] for r in rows) for i in range(len(rows[0]))]
    add, plain_f, counted_f, plain_r, ads_due, ads_bus, ads_early, pcf, pcf_bus = med
    return Calibration(
        unix_bench_ms=round(add / 1000 * _BENCH_ITERATIONS / iterations, 2),
        read_overhead_us=round(max(0.0, (counted_f - plain_f) / (frames * 16)), 4),
        plain_read_us=round(plain_r / reads, 4),
        ads_read_us=round(ads_early / reads, 4),
        ads_service_us=round(max(0.0, ads_due - ads_bus) / reads, 4),
        pcf_read_us=round(max(0.0, pcf - pcf_bus) / reads, 4),
        chunks=len(rows),
    )
