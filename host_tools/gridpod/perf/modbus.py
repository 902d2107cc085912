"""Modbus round trip on the virtual board: FC03 of 10 holding registers through minimalmodbus,
requests per second and ms per request, at --speed 1 and --speed max, beside the wire-time floor
of the same exchange on a real RS-485 line and the firmware's own service time per request
(modbus_service_us_max, measured by the slave on the unix port).

Nothing here asserts; `python -m gridpod.perf.modbus [N]` prints the figures.
"""

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import minimalmodbus

from ..build.tree import firmware_files
from ..modbus.client import instrument
from ..modbus.register_map import REGISTERS
from ..vboard.flash import create_blank, install_tree
from ..vboard.supervisor import VirtualBoard

READ_REGISTERS = 10
REQUEST_BYTES = 8  # unit, fc, start, quantity, CRC
RESPONSE_BYTES = 5 + 2 * READ_REGISTERS  # unit, fc, byte count, data, CRC
BITS_PER_CHAR = 11  # start, 8 data, parity (8E1) or a second stop bit, stop
BENCH_HEAP_BYTES = None  # the VIRTUAL board file's budget


def t35_us(baud: int) -> float:
    """Inter-frame silence: 3.5 characters, fixed 1750 us above 19200 baud (Modbus serial guide)."""
    return 1750.0 if baud > 19200 else 3.5 * BITS_PER_CHAR * 1e6 / baud


def wire_floor_ms(baud: int) -> float:
    """Least time one request/response can take on the wire: both frames' characters plus the
    t3.5 silence that ends each of them (the slave's processing taken as zero)."""
    chars = REQUEST_BYTES + RESPONSE_BYTES
    return round((chars * BITS_PER_CHAR * 1e6 / baud + 2 * t35_us(baud)) / 1000, 3)


def _input(inst: minimalmodbus.Instrument, name: str) -> int:
    return inst.read_register(REGISTERS[name].addr, functioncode=4)


def modbus_round_trip(n: int = 200, speed: float | str = 1) -> dict:
    """n FC03 reads of 10 registers against a fresh virtual board running the full firmware."""
    with tempfile.TemporaryDirectory() as tmp:
        flash = Path(tmp) / "flash.img"
        create_blank(flash)
        install_tree(flash, firmware_files("VIRTUAL"))
        with VirtualBoard(flash=flash, speed=speed, heap_bytes=BENCH_HEAP_BYTES) as vb:
            vb.run_until(0.5)
            inst = instrument(vb.modbus_port, 1, timeout_s=2.0)
            try:
                for _ in range(5):  # warm-up: first requests pay for imports and caches
                    inst.read_registers(0, READ_REGISTERS)
                per_request_s = []
                sim0_ms = vb.sim_ms
                t0 = time.perf_counter()
                for _ in range(n):
                    t = time.perf_counter()
                    words = inst.read_registers(0, READ_REGISTERS)
                    per_request_s.append(time.perf_counter() - t)
                    if words[0] != 0x4750:
                        raise RuntimeError(f"bad answer {words}")
                wall_s = time.perf_counter() - t0
                sim_ms = vb.sim_ms - sim0_ms
                service_us_max = _input(inst, "modbus_service_us_max")
                service_us_last = _input(inst, "modbus_service_us_last")
            finally:
                inst.serial.close()
    return {
        "speed": speed,
        "requests": n,
        "wall_s": round(wall_s, 3),
        "requests_per_s": round(n / wall_s, 1),
        "ms_per_request_mean": round(wall_s / n * 1000, 2),
        "ms_per_request_median": round(statistics.median(per_request_s) * 1000, 2),
        "ms_per_request_max": round(max(per_request_s) * 1000, 2),
        "sim_ms_per_request": round(sim_ms / n, 2),
        "firmware_service_us_last": service_us_last,
        "firmware_service_us_max": service_us_max,
    }


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 200
    print(f"Modbus FC03 x {READ_REGISTERS} registers, minimalmodbus, virtual board, {n} requests")
    for baud in (19200, 115200):
        print(f"wire floor at {baud} baud: {wire_floor_ms(baud)} ms per request")
    for speed in (1, "max"):
        print(json.dumps(modbus_round_trip(n, speed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
