"""Chip-time record of the virtual board's frames: hal/harness.py imports this only when the
host's hello asks for "chip_time" (host_tools/gridpod/vboard/chip_time.py charges each frame what
a real chip would spend on it); a board never loads it.

Per frame: its work in us of the VM's clock (from the end of one wait_until_ms to the start of
the next), whether it was a housekeeping frame (report() ran), the reads per input channel (the
host knows which roles a real board serves over I2C) and the flash operations when the VM runtime
counts them (_vboard.flash_ops() -> erases, programs, bytes programmed since power-on). Wire
format: host_tools/gridpod/harness/protocol.py. Fixed buffers: nothing allocated per frame (but
the runtime's flash tuple).
"""

import time

from micropython import const

_NOT_COUNTED = const(0xFFFF)
_MAX_READS = const(255)


def _put_u16(buf, pos, v):
    buf[pos] = v & 0xFF
    buf[pos + 1] = (v >> 8) & 0xFF


def _put_u32(buf, pos, v):
    _put_u16(buf, pos, v & 0xFFFF)
    _put_u16(buf, pos + 2, (v >> 16) & 0xFFFF)


class _CountedInput:
    """hal/harness.py's input channel whose reads the recorder counts per frame (this module
    imports nothing from hal.harness, which imports it)."""

    def __init__(self, platform, recorder, ch):
        self._p = platform
        self._ch = ch
        self._r = recorder

    def value(self):
        r = self._r
        ch = self._ch
        n = r.reads[ch]
        if not n:
            r.touched[r.n_touched] = ch
            r.n_touched += 1
        if n < _MAX_READS:
            r.reads[ch] = n + 1
        return self._p._inputs[ch]

    read_u16 = value
    count = value


class ChipRecorder:
    def __init__(self, platform, channels):
        self._p = platform
        self.reads = bytearray(channels)  # reads per channel in this frame (at most 255)
        self.touched = bytearray(channels)  # the channels read in this frame, in order
        self.n_touched = 0
        self.housekeeping = 0  # report() ran in this frame
        self.frame_us = 0
        self._t0 = time.ticks_us()
        self._flash = [0, 0, 0]  # the runtime's flash counts at the last record
        try:
            import _vboard

            self._flash_ops = getattr(_vboard, "flash_ops", None)
        except ImportError:
            self._flash_ops = None

    def input(self, platform, ch):
        return _CountedInput(platform, self, ch)

    def frame_end(self):
        self.frame_us = self._p.ticks_diff(time.ticks_us(), self._t0)

    def frame_start(self):
        self._t0 = time.ticks_us()

    def put(self, buf, pos):
        """Append the record of the frame that just ended at buf[pos:]: u32 work us, u8 flags
        (1: housekeeping), u16 flash erases (0xFFFF: not counted), u16 programs, u32 bytes
        programmed, u8 n, n x (u8 channel, u8 reads). Returns the position after it."""
        _put_u32(buf, pos, self.frame_us)
        buf[pos + 4] = self.housekeeping
        self.housekeeping = 0
        ops = self._flash_ops
        if ops is None:
            _put_u16(buf, pos + 5, _NOT_COUNTED)
            _put_u16(buf, pos + 7, 0)
            _put_u32(buf, pos + 9, 0)
        else:
            last = self._flash
            erases, programs, nbytes = ops()
            _put_u16(buf, pos + 5, min(erases - last[0], _NOT_COUNTED - 1))
            _put_u16(buf, pos + 7, min(programs - last[1], 0xFFFF))
            _put_u32(buf, pos + 9, nbytes - last[2])
            last[0] = erases
            last[1] = programs
            last[2] = nbytes
        n = self.n_touched
        buf[pos + 13] = n
        pos += 14
        reads = self.reads
        touched = self.touched
        for i in range(n):
            ch = touched[i]
            buf[pos] = ch
            buf[pos + 1] = reads[ch]
            reads[ch] = 0
            pos += 2
        self.n_touched = 0
        return pos
