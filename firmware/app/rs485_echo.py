"""RS-485 placeholder service (fast slot): counts received bytes into modbus_rx_bytes and echoes
them back. Real Modbus RTU replaces it later.

Allocation-free: reads go into preallocated power-of-two memoryviews (1..64 bytes) of one buffer,
sized from uart.any(), so each readinto returns exactly the view's length and the same view is
written back. Work is bounded to 128 bytes per tick (115200 baud delivers ~115 bytes per 10 ms;
the UART FIFO absorbs bursts).
"""

from micropython import const

_MAX_BYTES_PER_TICK = const(128)
_COUNT_MASK = const(0x3FFFFFFF)  # wrap like ticks so the counter stays a small int


class Rs485Echo:
    def __init__(self, uart):
        self.uart = uart
        mv = memoryview(bytearray(64))
        self._views = (mv[:64], mv[:32], mv[:16], mv[:8], mv[:4], mv[:2], mv[:1])
        self.modbus_rx_bytes = 0

    def tick(self, now_ms):
        uart = self.uart
        budget = _MAX_BYTES_PER_TICK
        avail = uart.any()
        while avail > 0 and budget > 0:
            for view in self._views:
                size = len(view)
                if size <= avail and size <= budget:
                    break
            n = uart.readinto(view)
            if not n:
                break
            self.modbus_rx_bytes = (self.modbus_rx_bytes + n) & _COUNT_MASK
            uart.write(view if n == size else view[:n])  # short read: only if any() lied
            budget -= n
            avail = uart.any()
        return True
