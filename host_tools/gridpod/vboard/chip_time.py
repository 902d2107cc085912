"""Chip time: what each simulated frame of the firmware would cost on a real board.

The virtual board runs the firmware on the MicroPython unix port, ~60-150x faster than an ESP32
or RP2040, and serves every input from memory, so a design that overruns a real chip's 10 ms fast
tick still passes there. With a ChipTime attached (VirtualBoard(chip=...)), the firmware's HAL
sends a record of every frame (hal/chip_record.py: its work in us of the VM's clock, the reads per
input channel, the housekeeping flag, flash operations) and each board model charges it:

  tick work = VM work x chip factor          bytecode speed, chip vs this host's unix port
            + ADS1115 services                 I2C transactions at the bus clock (hal/mcu.py)
            + PCF8574 line reads and writes    one I2C transaction each
            + on-chip ADC reads, PWM updates
            + the real HAL's Python work       hal/mcu.py per read, beyond hal/harness.py's
            + RS-485 replies                   the UART.write calls (hal/rs485.py: no wait)
            + flash erases and programs        the CPU stalls: its code runs from that flash
  idle service = the ADS1115 services hal/mcu.py runs in the scan loop's idle wait (outside the
                 tick's work, inside its 10 ms)

Frames are classed by the scheduler's phase rule (app/scheduler.py): the housekeeping frame
carries the flag, a control period starts every control_ms / fast_ms frames at half a control
period from it, and the frames of the period that run a control phase (app/scheduler.py's
control_frame of PHASE_REQUESTS .. PHASE_PUBLISH, the full module's placement) are control
frames; the rest run the fast slot only. A fast-only frame's work is the fast tick's load
(DOMAIN.md budget: <= 50 % of the tick); any frame above 100 % makes the next tick late on the
chip (an overrun against chip time); the scheduler's policy (one run above 2x its period, or 3
in a row above it) counts the TICK_OVERRUN trips a chip would raise. The figures are statistics
of the virtual board (VirtualBoard.stats()["chip"]), never a firmware fault.

The cost model is vboard/chip_model.py (BoardCost), calibrated on this host's unix port by
vboard/chip_calibration.py. Sources and assumptions (docs/chip-time.md has the table):
- Chip factor: published "Integer addition 1000000 times" (for i in range(n): C = a + b, small
  ints) of github.com/shaoziyang/micropython_benchmarks (README table, MicroPython v1.23.0):
  ESP32 6112 ms at 160 MHz, ESP32-S3 3376 ms at 240 MHz, RP2040 7984 ms at 125 MHz; scaled
  linearly with the clock (ESP32 prime counting 240 vs 160 MHz: 21.26 s vs 31.90 s, 1.50x,
  jalanjalantok.wordpress.com 2021-03-01) to the clock MicroPython boots the chip at (ESP32 and
  ESP32-S3: 160 MHz, the ESP-IDF default: ports/esp32/boards/sdkconfig.base sets none, only
  sdkconfig.240mhz variants do; RP2040: 125 MHz), or to the board file's cpu_mhz, which
  hal/mcu.py sets at boot. The same loop runs on this host's unix port.
- I2C: 9 clocks per byte (8 bits + ACK) and one bit time per START, repeated START and STOP, at
  the board file's freq_hz; plus a per-transaction driver overhead (assumed: ESP32 family 50 us,
  ESP-IDF's command-link driver; RP2040 10 us, the SDK's polled FIFO).
- ADS1115: the HAL's non-blocking cycle (hal/mcu.py _Ads1115, its constants read from that
  file): a service reads the config register, the result and starts the next channel (<= 3
  transactions), at most once per conversion time; the first read of a chip in a frame services
  it, the idle wait services every chip when >= _IDLE_SERVICE_MIN_MS of the frame is left.
  The order of reads inside a frame is not recorded: one in-tick service per chip and frame.
- PCF8574: each line read is a 1-byte read (hal/mcu.py reads the chip per read_bit); a changed
  output line a 1-byte write. Its rated SCL is 100 kHz (NXP/TI datasheets): a faster bus is
  flagged.
- Flash (W25Q32JV-class SPI NOR, typical): 4 KiB sector erase 45 ms (max 400 ms), program 30 us
  + 2.5 us per byte. Counted only when the VM runtime exports flash_ops (hal/chip_record.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .chip_calibration import Calibration
    from .chip_model import BoardCost


def control_phase_frames(control_div: int) -> frozenset[int]:
    """The frames of a control period of control_div frames that run the firmware's control
    phases (app/scheduler.py: PHASE_REQUESTS .. PHASE_PUBLISH, placed by control_frame)."""
    from ..build.tree import import_firmware

    sched = import_firmware("app.scheduler")
    return frozenset(sched.control_frame(p, control_div) for p in range(sched.PHASE_PUBLISH + 1))


class ChipTime:
    """Charges every frame the VM reports to each board model; VirtualBoard(chip=ChipTime(...))
    turns the records on (hello "chip_time") and exchanges every frame."""

    def __init__(
        self,
        boards: list[BoardCost],
        cal: Calibration,
        fast_ms: int = 10,
        control_ms: int = 100,
        keep: bool = False,
        control_frames: frozenset[int] | None = None,
    ):
        """keep: also keep every charged frame (frames), to replay() it on other models later
        (e.g. with a calibration taken after the run); control_frames: the frames of a control
        period that run control phases (default: the firmware's placement, control_phase_frames).
        """
        self.boards = boards
        self.cal = cal
        self.frames: list | None = [] if keep else None
        self.read_overhead_us = cal.read_overhead_us  # VM time a counted read adds
        self.control_div = control_ms // fast_ms
        self.hk_phase = self.control_div // 2  # app/scheduler.py: housekeeping at half a period
        if control_frames is None:
            control_frames = control_phase_frames(self.control_div)
        self.control_frames = control_frames
        self._since_hk: int | None = None
        self.period_frame = 0  # the last classed frame's place in its control period
        self.boot_frames = 0  # frames before the scheduler's first housekeeping: not charged
        self.cpu_bounded = 0  # frames whose VM clock was cut to the VM's CPU time (preempted)

    def on_boot(self) -> None:
        self._since_hk = None
        if self.frames:
            self.frames.append(None)  # replay() resets its model here
        for b in self.boards:
            b.reset()

    def frame_kind(self, housekeeping: bool) -> str | None:
        if housekeeping:
            self._since_hk = 0
            self.period_frame = self.hk_phase
            return "housekeeping"
        if self._since_hk is None:
            return None
        self._since_hk += 1
        frame = (self._since_hk + self.hk_phase) % self.control_div
        self.period_frame = frame
        return "control" if frame in self.control_frames else "fast"

    def frame(
        self,
        now_ms: int,
        rec,
        roles: list[str],
        outputs,
        uart_bytes: int,
        cpu_us=None,
        rx: bool = False,
    ):
        """One frame's record (harness protocol ChipRecord) at simulated now_ms; outputs: the
        channels whose value changed; cpu_us: the VM's CPU time since the previous exchange, a
        bound on the frame's work when the host preempted the VM (None: unknown); rx: bytes
        from the RS-485 line reached the board for this frame (a Modbus frame, as one that
        sent uart_bytes)."""
        kind = self.frame_kind(rec.housekeeping)
        if kind is None:
            self.boot_frames += 1
            return
        vm_us = float(rec.frame_us)
        if cpu_us is not None and cpu_us < vm_us:
            vm_us = cpu_us
            self.cpu_bounded += 1
        counted = sum(rec.reads.values())
        n = len(roles)
        reads = {roles[ch]: k for ch, k in rec.reads.items() if ch < n}
        outs = [roles[ch] for ch in outputs if ch < n]
        frame = (kind, now_ms * 1000.0, vm_us, counted, reads, outs, uart_bytes, rec.flash, rx)
        frame += (self.period_frame,)  # where in the control period (perf.chip's phase figures)
        if self.frames is not None:
            self.frames.append(frame)
        for b in self.boards:
            self._charge(b, frame, self.read_overhead_us)

    @staticmethod
    def _charge(board: BoardCost, frame, read_overhead_us: float) -> float:
        kind, start_us, vm_us, counted, reads, outs, uart_bytes, flash, rx = frame[:9]
        vm_us = max(0.0, vm_us - read_overhead_us * counted)
        return board.charge(kind, start_us, vm_us, reads, outs, uart_bytes, flash, modbus=rx)

    def replay(self, board: BoardCost, cal: Calibration | None = None, each=None) -> BoardCost:
        """Charge every kept frame to `board` (a fresh model), with cal's counted-read overhead
        (default: this run's); each(frame, work_us), when given, sees every charged frame (its
        last item: its place in the control period)."""
        overhead = (cal or self.cal).read_overhead_us
        board.reset()
        for frame in self.frames or ():
            if frame is None:
                board.reset()
            else:
                work = self._charge(board, frame, overhead)
                if each is not None:
                    each(frame, work)
        return board

    def summary(self) -> dict:
        return {
            "boot_frames": self.boot_frames,
            "cpu_bounded": self.cpu_bounded,
            "calibration": self.cal.__dict__,
            "boards": [b.summary() for b in self.boards],
        }
