"""Byte rate of a serial line, for consoles behind a USB-UART bridge (an ESP32 DevKitC's CP2102
at 115200 baud moves 11.5 kB/s; a native-USB RP2040 has no such limit)."""

import time

BITS_PER_BYTE = 10  # start + 8 data + stop
BURST_BYTES = 64  # one USB packet may leave the bridge at once


class LineRate:
    def __init__(self, baud: int | None, clock=time.monotonic):
        self.bytes_per_s = None if not baud else baud / BITS_PER_BYTE
        self._clock = clock
        self._credit = float(BURST_BYTES)
        self._t = clock()

    def allow(self, wanted: int) -> int:
        """How many of `wanted` bytes may go now; call take() with what was really sent."""
        if self.bytes_per_s is None:
            return wanted
        now = self._clock()
        self._credit = min(BURST_BYTES, self._credit + (now - self._t) * self.bytes_per_s)
        self._t = now
        return min(wanted, int(self._credit + 1e-6))  # 1e-6: float rounding, not a byte

    def take(self, sent: int) -> None:
        if self.bytes_per_s is not None:
            self._credit -= sent

    def wait_s(self) -> float:
        """Time until one more byte may go (0 when unlimited)."""
        if self.bytes_per_s is None or self._credit >= 1:
            return 0.0
        return (1 - self._credit) / self.bytes_per_s
