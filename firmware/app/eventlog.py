"""Event log: fixed-size ring of binary records on flash, appended in RAM, flushed in batches.

Record (24 bytes, little endian, struct "<IIHHiiI"):
    seq u32, uptime_ms u32, boot_count u16, code u16, arg1 i32, arg2 i32, crc32 u32
crc32 = binascii.crc32 of the first 20 bytes. The file holds `slots` records (default 256, 6 KiB)
and is created zero-filled at that size. Record i of the ring lives at byte i * 24; the writer
continues after the slot with the highest valid seq, so the ring wraps and overwrites the oldest.
A record torn by power loss fails its CRC and is skipped on read (and overwritten next). A file
of another size is kept as <path>.old and a fresh ring continues its sequence numbers. append()
only packs into a preallocated RAM buffer (no flash, no allocation); flush() writes all pending
records in one file session (housekeeping slot, or at once on a fatal fault) to spare flash wear.
If the RAM buffer is full, new records are dropped and counted in `dropped`.
"""

import struct
from binascii import crc32

from micropython import const

from app import fsutil

EV_BOOT = const(1)  # arg1 boot count, arg2 mode flags (1 maintenance, 2 safe mode)
EV_RESET_CAUSE = const(2)  # arg1 hal.RESET_* constant
EV_FAULT_RAISED = const(3)  # arg1 fault id, arg2 severity | sub-code << 8 (control/fault_rows.py)
EV_FAULT_CLEARED = const(4)  # arg1 fault id
EV_CONFIG_CHANGED = const(5)  # a pushed config committed after its trial: arg1 its crc32 as i32
EV_CONFIG_REJECTED = const(6)  # arg1 number of errors
EV_CONFIG_DEFAULTS = const(7)  # no config file: defaults in use
EV_CONTACTOR_OP = const(
    8
)  # an opening of the mains: arg1 closures so far, arg2 current broken (0.1 A)
EV_SAFE_MODE = const(9)  # arg1 consecutive bad boots, arg2 safe mode duration ms
EV_SAFE_MODE_END = const(10)
EV_GOOD_BOOT = const(11)  # arg1 uptime ms when the boot counter was cleared
EV_FAULTS_RESET = const(12)  # arg1 number of latched faults cleared
EV_PIN_FAILED = const(13)  # arg1 wrong PINs in a row, arg2 lockout that follows (s)
# a pushed config was not kept, the previous one restored (app/config_trial.py): arg1 the reason
# (RESTORED_*: 1 refused by validation, 2 the application raised, 3 a reset during the trial,
# 4 not healthy), arg2 its detail (error count, reset cause, task errors)
EV_CONFIG_RESTORED = const(14)

RECORD_BYTES = const(24)
_BODY_BYTES = const(20)
_FMT = "<IIHHiiI"
_FMT_BODY = "<IIHHii"
_I32_MAX = const(0x7FFFFFFF)


def to_i32(value):
    """Fold an unsigned 32-bit value (e.g. a CRC) or clamp any int into the i32 argument range."""
    if value > _I32_MAX:
        value -= 0x100000000
        if value > _I32_MAX:
            return _I32_MAX
    if value < -_I32_MAX - 1:
        return -_I32_MAX - 1
    return value


class EventLog:
    def __init__(self, path="/events.bin", slots=256, buffer_records=32):
        self.path = path
        self.slots = slots
        self._buf = bytearray(RECORD_BYTES * buffer_records)
        self._cap = buffer_records
        self.pending = 0
        self.urgent = False  # a fatal record waits: UrgentFlush writes it at the next control tick
        self.dropped = 0
        self.flash_writes = 0  # flush sessions that wrote records
        self.records_written = 0
        self.write_errors = 0
        self.next_slot = 0
        self.next_seq = 1
        self.last_boot_count = 0  # highest boot count found on flash
        self.boot_count = 0  # stamped on new records; the App sets last_boot_count + 1
        self._rec = bytearray(RECORD_BYTES)

    def open(self):
        """Create or check the ring file and find where to continue. Returns the valid record count."""
        size = RECORD_BYTES * self.slots
        try:
            f = open(self.path, "rb")
        except OSError:
            self._create(size)
            return 0
        try:
            valid = 0
            max_seq = -1
            n = 0
            while n < self.slots:
                if f.readinto(self._rec) != RECORD_BYTES:
                    break
                if self._valid(self._rec):
                    valid += 1
                    seq, _, boot = struct.unpack_from("<IIH", self._rec, 0)
                    if seq > max_seq:
                        max_seq = seq
                        self.next_slot = (n + 1) % self.slots
                    if boot > self.last_boot_count:
                        self.last_boot_count = boot
                n += 1
            extra = f.read(1)
        finally:
            f.close()
        if n != self.slots or extra:
            # Wrong geometry (a firmware with another ring size, or a foreign file): start a fresh
            # ring rather than misread it, but keep the old file as <path>.old for the host tools
            # (safety review m8: the history was wiped) and continue its sequence and boot count.
            fsutil.replace(self.path, self.path + ".old")
            self._create(size)
            self.next_slot = 0
            self.next_seq = max_seq + 1 if max_seq >= 0 else 1
            return 0
        self.next_seq = max_seq + 1 if max_seq >= 0 else 1
        return valid

    def _create(self, size):
        chunk = bytes(RECORD_BYTES * 16)
        with open(self.path, "wb") as f:
            left = size
            while left > 0:
                n = len(chunk) if left > len(chunk) else left
                f.write(chunk[:n])
                left -= n

    @staticmethod
    def _valid(rec):
        stored = struct.unpack_from("<I", rec, _BODY_BYTES)[0]
        return crc32(memoryview(rec)[:_BODY_BYTES]) & 0xFFFFFFFF == stored

    def append(self, code, arg1, arg2, now_ms):
        """Queue one record in RAM; False (and counted) when the buffer is full."""
        if self.pending >= self._cap:
            self.dropped += 1
            return False
        struct.pack_into(
            _FMT_BODY,
            self._buf,
            self.pending * RECORD_BYTES,
            0,
            now_ms,
            self.boot_count & 0xFFFF,
            code,
            to_i32(arg1),
            to_i32(arg2),
        )
        self.pending += 1
        return True

    def flush(self):
        """Write pending records to the ring in one session; False on a flash error (kept pending)."""
        if not self.pending:
            return True
        buf = self._buf
        mv = memoryview(buf)
        seq = self.next_seq
        for i in range(self.pending):
            off = i * RECORD_BYTES
            struct.pack_into("<I", buf, off, seq + i)
            struct.pack_into(
                "<I", buf, off + _BODY_BYTES, crc32(mv[off : off + _BODY_BYTES]) & 0xFFFFFFFF
            )
        try:
            with open(self.path, "r+b") as f:
                done = 0
                slot = self.next_slot
                while done < self.pending:
                    run = self.slots - slot
                    if run > self.pending - done:
                        run = self.pending - done
                    f.seek(slot * RECORD_BYTES)
                    f.write(mv[done * RECORD_BYTES : (done + run) * RECORD_BYTES])
                    done += run
                    slot = (slot + run) % self.slots
        except OSError:
            self.write_errors += 1
            return False
        self.flash_writes += 1
        self.records_written += self.pending
        self.next_seq = seq + self.pending
        self.next_slot = (self.next_slot + self.pending) % self.slots
        self.pending = 0
        return True

    def read(self):
        """All valid records on flash, oldest first: (seq, uptime_ms, boot, code, arg1, arg2)."""
        out: list = []
        rec = bytearray(RECORD_BYTES)
        try:
            f = open(self.path, "rb")
        except OSError:
            return out
        try:
            for _ in range(self.slots):
                if f.readinto(rec) != RECORD_BYTES:
                    break
                if self._valid(rec):
                    out.append(struct.unpack_from(_FMT, rec, 0)[:6])
        finally:
            f.close()
        out.sort(key=lambda r: r[0])
        return out


def dump(path="/events.bin", slots=256):
    """Print the log from the REPL: `import app.eventlog as e; e.dump()`."""
    log = EventLog(path, slots, 1)
    for r in log.read():
        print("#%d t=%dms boot=%d code=%d args=%d,%d" % r)
