"""Harness protocol between the supervisor and the firmware's hal/virtual.py.

One AF_UNIX stream socket per VM. Every message is [u8 type][u16 length][payload], little endian;
the VM sends a request, the supervisor answers with the lower-case type. The board side mirrors
this table in vboard/runtime/vm_main.py and firmware/hal/ (harness.py, hil.py, window.py);
host_tools/tests/test_harness_tables.py fails when a copy drifts.

  H hello     payload "{}"                       -> h  JSON: reset_cause, board, kill_after_ops, romfs
  R register  u8 kind, role name (ascii)         -> r  u16 channel, u32 initial input value
  X exchange  u32 deadline_ms, u32 now_ms, u32 ticks, u32 max_tick_us, u32 overruns, u32 heap_free,
              u32 wdt_last_feed_ms, u16 n, n x (u16 ch, u32 value), u8 m, m x (u16 ch, u16 len, bytes)
              [chip-time record, when the hello asked for it ("chip_time"): u32 frame_us,
              u8 flags (1: housekeeping frame), u16 flash erases (0xFFFF: not counted),
              u16 flash programs, u32 bytes programmed, u8 k, k x (u8 ch, u8 reads)]
                                                 -> x  u32 now_ms, u32 hold_until_ms,
                                                       u16 n, n x (u16 ch, u32 value),
                                                       u8 m, m x (u16 ch, u16 len, bytes)
  W watchdog  u32 timeout_ms                     -> w
  M maintenance u32 window_ms, u32 wdt_timeout_ms -> m  the HAL's maintenance window: the host
              plays its timer (feeds the watchdog until window_ms is over, then a hard reset);
              window_ms 0 closes it (the scan loop feeds again); a watchdog not started yet is
              started with wdt_timeout_ms (boot.py opens a window at every boot)
  K intr      u8 enabled (Ctrl-C raises KeyboardInterrupt while user code runs)  -> k
  Z reset     (hard reset requested by firmware) -> no answer, the VM is restarted
  B brown-out (armed flash kill point reached)   -> no answer, the VM is killed
  C resume    (new connection after an interrupted exchange)                       -> c
  i           answers an X when Ctrl-C arrived on the console: the HAL raises KeyboardInterrupt

Times are ms since the VM booted (a board's ticks_ms); the supervisor keeps the absolute
simulated clock. `hold_until_ms` lets the firmware run further ticks without an exchange while its
outputs do not change: the plant promises its inputs stay as sent until then. At --speed 1 it
equals the deadline (one exchange per tick); at --speed max it spans up to max_hold_ms.
"""

import struct

HELLO = ord("H")
REGISTER = ord("R")
EXCHANGE = ord("X")
WATCHDOG = ord("W")
MAINTENANCE = ord("M")
INTR = ord("K")
RESET = ord("Z")
BROWN_OUT = ord("B")
RESUME = ord("C")
INTERRUPTED = ord("i")  # answer to an exchange when Ctrl-C arrived: raise KeyboardInterrupt

KIND_OUT = 1
KIND_IN = 2
KIND_ADC = 3
KIND_PWM = 4
KIND_COUNTER = 5
KIND_UART = 6
KIND_DE = 7  # a UART's RS-485 driver enable: an output the host keeps, not a plant role
KIND_NAMES = {
    KIND_OUT: "out",
    KIND_IN: "in",
    KIND_ADC: "adc",
    KIND_PWM: "pwm",
    KIND_COUNTER: "counter",
    KIND_UART: "uart",
    KIND_DE: "de",
}

HEADER = struct.Struct("<BH")
EXCHANGE_HEAD = struct.Struct("<IIIIIII")
NO_FEED = 0xFFFFFFFF
CHIP_RECORD_HEAD = struct.Struct("<IBHHIB")
FLASH_NOT_COUNTED = 0xFFFF


class ChipRecord:
    """One frame as the firmware measured it (chip-time mode): work in us of the VM's clock,
    housekeeping flag, flash operations (None when the runtime does not count them) and the
    reads per input channel."""

    __slots__ = ("frame_us", "housekeeping", "flash", "reads")

    def __init__(self, frame_us: int, housekeeping: bool, flash, reads: dict[int, int]):
        self.frame_us = frame_us
        self.housekeeping = housekeeping
        self.flash = flash  # (erases, programs, bytes) or None
        self.reads = reads

    @classmethod
    def decode(cls, payload: bytes, pos: int) -> "ChipRecord":
        frame_us, flags, erases, programs, nbytes, k = CHIP_RECORD_HEAD.unpack_from(payload, pos)
        pos += CHIP_RECORD_HEAD.size
        reads = {payload[pos + 2 * i]: payload[pos + 2 * i + 1] for i in range(k)}
        flash = None if erases == FLASH_NOT_COUNTED else (erases, programs, nbytes)
        return cls(frame_us, bool(flags & 1), flash, reads)


def frame(msg_type: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(msg_type, len(payload)) + payload


def decode_exchange(payload: bytes):
    """Return (deadline_ms, now_ms, stats dict, {ch: value}, {ch: bytes}); stats["chip"] is the
    chip-time record (ChipRecord) or None."""
    fields = EXCHANGE_HEAD.unpack_from(payload)
    deadline, now_ms, ticks, max_tick_us, overruns, heap_free, last_feed = fields
    pos = EXCHANGE_HEAD.size
    (n,) = struct.unpack_from("<H", payload, pos)
    pos += 2
    outputs = {}
    for _ in range(n):
        ch, value = struct.unpack_from("<HI", payload, pos)
        outputs[ch] = value
        pos += 6
    uart_tx = {}
    (m,) = struct.unpack_from("<B", payload, pos)
    pos += 1
    for _ in range(m):
        ch, length = struct.unpack_from("<HH", payload, pos)
        pos += 4
        uart_tx[ch] = bytes(payload[pos : pos + length])
        pos += length
    chip = ChipRecord.decode(payload, pos) if pos < len(payload) else None
    stats = {
        "ticks": ticks,
        "max_tick_us": max_tick_us,
        "overruns": overruns,
        "heap_free": heap_free,
        "wdt_last_feed_ms": None if last_feed == NO_FEED else last_feed,
        "chip": chip,
    }
    return deadline, now_ms, stats, outputs, uart_tx


def encode_exchange_reply(now_ms: int, hold_until_ms: int, inputs: dict, uart_rx: dict) -> bytes:
    parts = [struct.pack("<IIH", now_ms, hold_until_ms, len(inputs))]
    parts += [struct.pack("<HI", ch, value & 0xFFFFFFFF) for ch, value in inputs.items()]
    parts.append(struct.pack("<B", len(uart_rx)))
    for ch, data in uart_rx.items():
        parts.append(struct.pack("<HH", ch, len(data)) + data)
    return frame(EXCHANGE + 32, b"".join(parts))
