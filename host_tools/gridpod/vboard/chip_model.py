"""Chip-time cost model of one real board: where each role sits (board file), what a frame's
reads, writes, RS-485 bytes and flash operations cost on its chip, and the figures per frame kind.

Used by vboard/chip_time.py (ChipTime charges every frame the virtual board reports); the model,
its sources and its assumptions are described there and in docs/chip-time.md.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..boards.check import load_board
from ..build.tree import FIRMWARE_DIR
from .chip_stats import CATEGORIES, KindStats

if TYPE_CHECKING:
    from .chip_calibration import Calibration

# ----- I2C transactions (bit times at the bus clock) -------------------------------------------
# 9 clocks per byte (8 data + ACK/NACK), 1 bit time per START / repeated START / STOP (the setup
# and hold times of a condition are about half a bit at 400 kHz: rounded up).
BITS_REG_READ_2 = 3 + 9 * 5  # S, addr+W, pointer, Sr, addr+R, 2 bytes, P (ADS1115 register read)
BITS_REG_WRITE_2 = 2 + 9 * 4  # S, addr+W, pointer, 2 bytes, P (ADS1115 config write)
BITS_BYTE_READ = 2 + 9 * 2  # S, addr+R, 1 byte, P (PCF8574 read)
BITS_BYTE_WRITE = 2 + 9 * 2  # S, addr+W, 1 byte, P (PCF8574 write)

# Highest SCL each expander chip is rated for (datasheets: ADS1115 fast mode 400 kHz, HS mode
# needs a master code MicroPython's machine.I2C never sends; PCF8574 standard mode 100 kHz).
EXT_MAX_SCL_HZ = {"ADS1115": 400_000, "PCF8574": 100_000}

PUBLISHED_SOURCE = (
    "github.com/shaoziyang/micropython_benchmarks README, 'Integer addition 1000000 times', "
    "MicroPython v1.23.0"
)


@dataclass(frozen=True)
class ChipSpec:
    """One MCU: published bytecode speed and the I/O costs the model assumes."""

    name: str
    bench_ms: float  # published: 1e6 iterations of the integer-addition loop
    bench_mhz: int  # the clock it was measured at
    stock_mhz: int  # the clock MicroPython boots this chip at
    i2c_overhead_us: float  # driver + machine.I2C call, per transaction (assumed)
    adc_read_us: float  # machine.ADC.read_u16 (assumed)
    pwm_update_us: float  # machine.PWM.duty_u16 (assumed)
    uart_write_us: float = 30.0  # machine.UART.write into the FIFO / TX buffer, per call (assumed)
    flash_erase_us: float = 45_000.0  # 4 KiB sector, typical
    flash_program_us: float = 30.0  # per program operation, first byte (tBP1)
    flash_byte_us: float = 2.5  # each further byte (tBP2)

    def bench_ms_at(self, mhz: float) -> float:
        return self.bench_ms * self.bench_mhz / mhz


CHIPS = {
    "esp32": ChipSpec("ESP32 (Xtensa LX6)", 6112, 160, 160, 50.0, 50.0, 15.0, 30.0),
    "esp32s3": ChipSpec("ESP32-S3 (Xtensa LX7)", 3376, 240, 160, 50.0, 50.0, 15.0, 30.0),
    "rp2040": ChipSpec("RP2040 (Cortex-M0+)", 7984, 125, 125, 10.0, 5.0, 3.0, 5.0),
}

# cpu: the firmware's own work (the VM's frame); hal: the real HAL's Python work beyond the
# virtual HAL's (ADS1115 reads and services, PCF8574 reads); the rest is I/O time.
KINDS = ("fast", "control", "housekeeping")


def _hal_constants() -> dict[str, int]:
    """The ADS1115 timing constants of firmware/hal/mcu.py (read as text: it imports machine)."""
    found = {}
    for node in ast.parse((FIRMWARE_DIR / "hal" / "mcu.py").read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            v = node.value
            if isinstance(v, ast.Call) and getattr(v.func, "id", "") == "const":
                v = v.args[0]
            if isinstance(node.targets[0], ast.Name) and isinstance(v, ast.Constant):
                found[node.targets[0].id] = v.value
    return found


_HAL = _hal_constants()
ADS_CONVERSION_US = _HAL["_ADS_CONVERSION_US"]  # a chip is not asked again sooner
IDLE_SERVICE_MIN_US = _HAL["_IDLE_SERVICE_MIN_MS"] * 1000
# a read services its chip only when nothing did for this long (the idle wait missed a frame)
ADS_READ_SERVICE_US = _HAL["_ADS_READ_SERVICE_US"]
LATE_ROUND_LEAD_MS = _HAL["_LATE_ROUND_LEAD_MS"]
LATE_ROUND_US_PER_CHIP = _HAL["_LATE_ROUND_US_PER_CHIP"]
ADS_CONVERTING_US = 1163  # one conversion at 860 SPS (datasheet), nominal


def i2c_us(bits: int, bus_hz: int, overhead_us: float) -> float:
    """One I2C transaction: its bit times at the bus clock plus the driver's overhead."""
    return bits * 1e6 / bus_hz + overhead_us


def uart_us(n_bytes: int, baud: int, bits_per_char: int = 11) -> float:
    """Time on the wire of n bytes (8E1 or 8N2: start, 8 data, parity or 2nd stop, stop)."""
    return n_bytes * bits_per_char * 1e6 / baud


def uart_writes(n_bytes: int) -> int:
    """UART.write calls for a reply of n bytes: comms/modbus_rtu.py writes it in power-of-two
    views (25 bytes: 16 + 8 + 1)."""
    return bin(n_bytes).count("1")


class AdsModel:
    """hal/mcu.py _Ads1115's conversion cycle, in chip time, for the cost of each service."""

    def __init__(self, read_us: float, write_us: float):
        self.read_us = read_us  # one register read (config or result)
        self.write_us = write_us  # one config write (starts a conversion)
        self.reset()

    def reset(self) -> None:
        self.used: set[int] = set()
        self.ch = -1  # channel converting
        self.rr = -1  # channel started last
        self.t_access: float | None = None  # last bus access that counts (None: long ago)
        self.t_start = 0.0

    def read_service(self, now_us: float) -> float | None:
        """A read at now_us: it services the chip only when nothing did for
        ADS_READ_SERVICE_US (else None: no bus access)."""
        if self.t_access is not None and now_us - self.t_access < ADS_READ_SERVICE_US:
            return None
        return self.service(now_us)

    def service(self, now_us: float) -> float | None:
        """Advance the cycle at now_us; returns the bus time it took (us), None when the HAL
        returns at once (within a conversion time of the last access)."""
        if self.t_access is not None and 0 <= now_us - self.t_access < ADS_CONVERSION_US:
            return None
        cost = 0.0
        if self.ch >= 0:
            cost += self.read_us  # config register: done?
            if now_us - self.t_start < ADS_CONVERTING_US:
                self.t_access = now_us + cost
                return cost
            cost += self.read_us  # the result
            self.ch = -1
        nxt = self._next()
        if nxt < 0:
            return cost
        cost += self.write_us  # start the next channel
        self.ch = self.rr = nxt
        self.t_access = self.t_start = now_us + cost
        return cost

    def _next(self) -> int:
        for k in range(1, 5):
            n = (self.rr + k) % 4
            if n in self.used:
                return n
        return -1


class BoardCost:
    """One real board's cost model: where each role sits (board file), its chip's speed."""

    def __init__(
        self,
        board: str | dict,
        cal: Calibration,
        cpu_mhz: float | None = None,
        uart_baud: int = 19200,
        uart_bits_per_char: int = 11,
        fast_ms: int = 10,
        budget: float = 0.5,
    ):
        self.board = load_board(board) if isinstance(board, str) else board
        self.chip = CHIPS[self.board["chip"]]
        # the clock hal/mcu.py sets from the board file, else the one MicroPython boots at
        self.cpu_mhz = cpu_mhz or self.board.get("cpu_mhz") or self.chip.stock_mhz
        self.name = "%s@%dMHz" % (self.board["board"], self.cpu_mhz)
        self.factor = self.chip.bench_ms_at(self.cpu_mhz) / cal.unix_bench_ms
        f = self.factor
        # the real HAL's Python work in chip us, beyond the virtual HAL's read in the VM frame
        self.ads_read_extra_us = max(0.0, cal.ads_read_us - cal.plain_read_us) * f
        self.ads_service_extra_us = max(0.0, cal.ads_service_us - cal.ads_read_us) * f
        self.ads_idle_call_us = cal.ads_read_us * f  # an idle-wait service() that returns at once
        self.ads_idle_service_us = cal.ads_service_us * f
        self.pcf_read_extra_us = max(0.0, cal.pcf_read_us - cal.plain_read_us) * f
        self.uart_baud = uart_baud
        self.uart_bits_per_char = uart_bits_per_char
        self.period_us = fast_ms * 1000
        self.budget = budget
        self.places = self._places()
        self.ads = {
            dev: AdsModel(self._txn(dev, BITS_REG_READ_2), self._txn(dev, BITS_REG_WRITE_2))
            for dev, spec in self.board.get("ext", {}).items()
            if spec["chip"] == "ADS1115"
        }
        self.stats = {k: KindStats() for k in KINDS}
        self._fast_over = 0  # consecutive fast-slot runs above the tick (scheduler policy)
        # the frames that read request bytes or sent a reply: how many, their TICK_OVERRUN
        # trips, the longest fast-only one
        self.modbus = {"frames": 0, "trips": 0, "fast_max_us": 0.0}
        # hal/mcu.py's late idle round: this long before the deadline
        self.late_lead_us = 1000 * (
            LATE_ROUND_LEAD_MS + (len(self.ads) * LATE_ROUND_US_PER_CHIP + 999) // 1000
        )

    def _bus_hz(self, dev: str) -> int:
        bus = self.board["ext"][dev]["bus"]
        return self.board["i2c"][bus]["freq_hz"]

    def _txn(self, dev: str, bits: int) -> float:
        return i2c_us(bits, self._bus_hz(dev), self.chip.i2c_overhead_us)

    def _places(self) -> dict[str, tuple]:
        """role -> ("ads", dev, ch) | ("pcf_in", dev) | ("pcf_out", dev) | ("adc",) | ("pwm",)
        | ("pin",)"""
        places = {}
        for role, spec in self.board["pins"].items():
            mode = spec["mode"]
            if "ext" in spec:
                dev = spec["ext"]
                chip = self.board["ext"][dev]["chip"]
                if chip == "ADS1115":
                    places[role] = ("ads", dev, spec["ch"])
                else:
                    places[role] = ("pcf_in" if mode == "in" else "pcf_out", dev)
            elif mode in ("adc", "pwm"):
                places[role] = (mode,)
            else:
                places[role] = ("pin",)
        return places

    def warnings(self) -> list[str]:
        """Buses clocked above what a chip on them is rated for."""
        out = []
        for dev, spec in sorted(self.board.get("ext", {}).items()):
            hz, top = self._bus_hz(dev), EXT_MAX_SCL_HZ.get(spec["chip"])
            if top is not None and hz > top:
                out.append(
                    f"{dev} ({spec['chip']}) on {spec['bus']} at {hz // 1000} kHz: rated for "
                    f"{top // 1000} kHz"
                )
        return out

    def reset(self) -> None:
        """A new boot: the MCU's drivers start over (the chips keep converting, unasked)."""
        for a in self.ads.values():
            a.reset()
        self._fast_over = 0

    def frame_cost(
        self,
        start_us: float,
        vm_us: float,
        reads: dict[str, int],
        outputs: list[str],
        uart_bytes: int = 0,
        flash=None,
    ) -> tuple[float, float, dict]:
        """(tick work us, idle-service us, work per category) of one frame starting at
        start_us (chip time)."""
        parts = dict.fromkeys(CATEGORIES, 0.0)
        parts["cpu"] = vm_us * self.factor
        ads_order = []
        for role, n in reads.items():
            place = self.places.get(role, ("pin",))
            if place[0] == "ads":
                dev = place[1]
                self.ads[dev].used.add(place[2])
                if dev not in ads_order:
                    ads_order.append(dev)
                parts["hal"] += n * self.ads_read_extra_us
            elif place[0] == "pcf_in":
                parts["i2c_pcf"] += n * self._txn(place[1], BITS_BYTE_READ)
                parts["hal"] += n * self.pcf_read_extra_us
            elif place[0] == "adc":
                parts["adc"] += n * self.chip.adc_read_us
        cursor = start_us
        for dev in ads_order:
            us = self.ads[dev].read_service(cursor)
            if us is not None:
                parts["i2c_ads"] += us
                parts["hal"] += self.ads_service_extra_us
                cursor += us + self.ads_service_extra_us
        for role in outputs:
            place = self.places.get(role, ("pin",))
            if place[0] == "pcf_out":
                parts["i2c_pcf"] += self._txn(place[1], BITS_BYTE_WRITE)
            elif place[0] == "pwm":
                parts["pwm"] += self.chip.pwm_update_us
        if uart_bytes:
            # hal/rs485.py: the reply goes into the UART's buffer and the slot goes on (the wire
            # time is spent by the UART; DE drops from the idle wait, the next read or the
            # alarm): the tick pays the write calls only
            parts["uart"] = uart_writes(uart_bytes) * self.chip.uart_write_us
        if flash is not None:
            erases, programs, nbytes = flash
            c = self.chip
            parts["flash"] = (
                erases * c.flash_erase_us
                + programs * c.flash_program_us
                + max(0, nbytes - programs) * c.flash_byte_us
            )
        work = sum(parts.values())
        idle = 0.0
        t = start_us + work
        if self.period_us - work >= IDLE_SERVICE_MIN_US:
            idle, t = self._idle_round(t)
        late_at = start_us + self.period_us - self.late_lead_us
        if self.ads and late_at > t:  # the late round, just before the deadline
            us, _ = self._idle_round(late_at)
            idle += us
        return work, idle, parts

    def _idle_round(self, t: float) -> tuple[float, float]:
        """One idle-wait service of every chip from t: (its time, when it ends)."""
        spent = 0.0
        for a in self.ads.values():
            us = a.service(t)
            us = self.ads_idle_call_us if us is None else us + self.ads_idle_service_us
            spent += us
            t += us
        return spent, t

    def charge(
        self,
        kind: str,
        start_us: float,
        vm_us: float,
        reads,
        outputs,
        uart_bytes,
        flash,
        modbus: bool = False,
    ):
        """modbus: the frame read bytes from the RS-485 line (a reply sent, uart_bytes, counts
        too): its figures also go to `modbus`, the frames the Modbus traffic touched."""
        work, idle, parts = self.frame_cost(start_us, vm_us, reads, outputs, uart_bytes, flash)
        stats = self.stats[kind]
        stats.add(work, idle, parts, self.period_us, self.budget)
        trips = self._trips(kind, work)
        stats.trips += trips
        if modbus or uart_bytes:
            m = self.modbus
            m["frames"] += 1
            m["trips"] += trips
            if kind == "fast" and work > m["fast_max_us"]:
                m["fast_max_us"] = work
        return work

    def _trips(self, kind: str, work: float) -> int:
        """app/scheduler.py's overrun policy against chip time: TICK_OVERRUN when one slot run is
        above twice its period or three runs in a row above it. A fast-only frame's work is the
        fast slot's; in a control or housekeeping frame the fast slot ran as in the frames
        around it (it resets the run of overruns) and the rest is that slot's, against its own
        period (100 ms, 1 s)."""
        p = self.period_us
        if kind == "fast":
            if work > p:
                self._fast_over += 1
                return 1 if work > 2 * p or self._fast_over >= 3 else 0
            self._fast_over = 0
            return 0
        self._fast_over = 0
        slot_p = p * (10 if kind == "control" else 100)
        return 1 if work > 2 * slot_p else 0

    def summary(self) -> dict:
        return {
            "board": self.board["board"],
            "chip": self.chip.name,
            "cpu_mhz": self.cpu_mhz,
            "factor": round(self.factor, 1),
            "warnings": self.warnings(),
            "modbus": {
                "frames": self.modbus["frames"],
                "trips": self.modbus["trips"],
                "fast_max_pct": round(100 * self.modbus["fast_max_us"] / self.period_us, 1),
            },
            **{k: s.summary(self.period_us) for k, s in self.stats.items()},
        }
