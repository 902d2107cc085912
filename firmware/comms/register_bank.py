"""Register bank: the register map (comms/register_map.py) turned into preallocated images that the
Modbus slave reads and writes without allocating.

Holding and input registers live in big-endian byte images (wire order, so a read is a byte copy);
coils and discrete inputs in one byte per bit. Addresses inside a table that no row covers are
reserved: they read as 0 and refuse writes (exception 02). Addresses past the last row are outside
the map (exception 02).

Writes are all-or-nothing: the whole request is checked first (02: reserved, read-only, or a
multi-register row covered only in part; then 04: value outside min..max or refused by the hooks)
and only then copied into the image, followed by hooks.written(row, now_ms) for each row.
The hooks object (app/modbus_points.py) decides access levels, PINs, leases and command effects;
this module knows only the table. Building the images from the map text and looking rows up by
name are boot-only work, in comms/bank_build.py (forgotten once the App is built).
"""

from micropython import const

K_HOLDING = const(0)
K_INPUT = const(1)
K_COIL = const(2)
K_DISCRETE = const(3)

T_U16 = const(0)
T_S16 = const(1)
T_U32 = const(2)
T_S32 = const(3)
T_STR = const(4)
T_BIT = const(5)

A_R = const(0)
A_W1 = const(1)
A_L1 = const(2)
A_WA = const(3)

EX_ILLEGAL_ADDRESS = const(2)
EX_FAILURE = const(4)

# modbus_last_error reason codes (why the last exception 04 was sent)
REASON_RANGE = const(1)
REASON_ACCESS = const(2)
REASON_PIN = const(3)
REASON_LOCKOUT = const(4)

_NONE = const(255)  # row_of value of a reserved address (comms/bank_build.py)


class RegisterBank:
    def __init__(self, hooks=None):
        from comms.bank_build import build  # boot only (app/startup.py forgets it)

        self.hooks = hooks
        self.broadcast = False  # set by the slave while it executes a broadcast (unit 0) write
        (
            self.tables,
            self.r_kind,
            self.r_addr,
            self.r_words,
            self.r_type,
            self.r_access,
            self.r_min,
            self.r_max,
            self.r_hash,
            self.r_default,
        ) = build()
        self.last_error = 0

    def find(self, names):
        """Row numbers of registers by name (boot time); KeyError names a missing register."""
        from comms.bank_build import find

        return find(self, names)

    def row(self, name):
        """Row number of one register by name (boot time); KeyError names a missing register."""
        return self.find((name,))[0]

    # ----- values (used by the hooks; no allocation for small ints) ---------------------------
    def set(self, row, value):
        """Store an integer (s16/s32 may be negative; 32-bit values below 2**30 stay small ints)."""
        t = self.tables[self.r_kind[row]]
        if self.r_type[row] == T_BIT:
            t.data[self.r_addr[row]] = 1 if value else 0
            return
        p = self.r_addr[row] * 2
        d = t.data
        if self.r_words[row] == 2:
            hi = (value >> 16) & 0xFFFF
            d[p] = hi >> 8
            d[p + 1] = hi & 0xFF
            p += 2
        d[p] = (value >> 8) & 0xFF
        d[p + 1] = value & 0xFF

    def set_na(self, row):
        """Store the not-available sentinel of the row's type."""
        typ = self.r_type[row]
        p = self.r_addr[row] * 2
        d = self.tables[self.r_kind[row]].data
        signed = typ == T_S16 or typ == T_S32
        d[p] = 0x80 if signed else 0xFF
        d[p + 1] = 0 if signed else 0xFF
        if self.r_words[row] == 2:
            d[p + 2] = 0 if signed else 0xFF
            d[p + 3] = 0 if signed else 0xFF

    def put(self, row, value):
        """A reading into its register: the value, or not-available when it is None."""
        if value is None:
            self.set_na(row)
        else:
            self.set(row, value)

    def get(self, row):
        t = self.tables[self.r_kind[row]]
        if self.r_type[row] == T_BIT:
            return t.data[self.r_addr[row]]
        p = self.r_addr[row] * 2
        d = t.data
        v = (d[p] << 8) | d[p + 1]
        typ = self.r_type[row]
        if self.r_words[row] == 2:
            v = (v << 16) | (d[p + 2] << 8) | d[p + 3]
            if typ == T_S32 and v & 0x80000000:
                v -= 0x100000000
        elif typ == T_S16 and v & 0x8000:
            v -= 0x10000
        return v

    def set_bits(self, row, mask, offset=0):
        """Spread one bitfield word (at most 30 bits: a small int) over a multi-bit row, from
        bit `offset` of the row on (mask bit i -> address addr + offset + i)."""
        d = self.tables[self.r_kind[row]].data
        a = self.r_addr[row] + offset
        n = self.r_words[row] - offset
        if n > 30:
            n = 30
        for i in range(n):
            d[a + i] = (mask >> i) & 1

    def set_text(self, row, text):
        p = self.r_addr[row] * 2
        d = self.tables[self.r_kind[row]].data
        for i in range(self.r_words[row] * 2):
            d[p + i] = ord(text[i]) if i < len(text) else 0

    def is_na(self, row):
        v = self.get(row)
        typ = self.r_type[row]
        if typ == T_S16:
            return v == -0x8000
        if typ == T_U16:
            return v == 0xFFFF
        return False

    # ----- the slave's side -------------------------------------------------------------------
    def hooks_refresh(self, now_ms):
        """Bring the dynamic registers up to date before a read."""
        if self.hooks is not None:
            self.hooks.refresh(now_ms)

    def size(self, kind):
        return self.tables[kind].size

    def read_regs(self, kind, start, qty, dst, pos):
        """Copy qty registers into dst[pos:]; returns 0 or the exception code."""
        t = self.tables[kind]
        if start + qty > t.size:
            return EX_ILLEGAL_ADDRESS
        d = t.data
        s = start * 2
        for i in range(qty * 2):
            dst[pos + i] = d[s + i]
        return 0

    def read_bits(self, kind, start, qty, dst, pos):
        """Pack qty bits LSB first into dst[pos:]; returns 0 or the exception code."""
        t = self.tables[kind]
        if start + qty > t.size:
            return EX_ILLEGAL_ADDRESS
        d = t.data
        nbytes = (qty + 7) >> 3
        for i in range(nbytes):
            dst[pos + i] = 0
        for i in range(qty):
            if d[start + i]:
                dst[pos + (i >> 3)] |= 1 << (i & 7)
        return 0

    def _check_span(self, t, start, qty):
        """02 checks of a write: outside, reserved, read-only, or a row covered in part."""
        if start + qty > t.size:
            return EX_ILLEGAL_ADDRESS
        row_of = t.row_of
        end = start + qty
        for a in range(start, end):
            r = row_of[a]
            if r == _NONE or self.r_access[r] == A_R:
                return EX_ILLEGAL_ADDRESS
            first = self.r_addr[r]
            if first < start or first + self.r_words[r] > end:
                return EX_ILLEGAL_ADDRESS
        return 0

    def write_regs(self, start, qty, src, pos, now_ms):
        """Write qty holding registers from src[pos:] (big-endian); returns 0 or the exception."""
        t = self.tables[K_HOLDING]
        code = self._check_span(t, start, qty)
        if code:
            return code
        hooks = self.hooks
        a = start
        while a < start + qty:
            r = t.row_of[a]
            p = pos + (a - start) * 2
            if self.r_words[r] == 1:
                v = (src[p] << 8) | src[p + 1]
                if self.r_type[r] == T_S16 and v & 0x8000:
                    v -= 0x10000
                if v < self.r_min[r] or v > self.r_max[r]:
                    return self._fail(REASON_RANGE)
            if hooks is not None:
                reason = hooks.check_write(r, src, p, now_ms)
                if reason:
                    return self._fail(reason)
            a += self.r_words[r]
        d = t.data
        s = start * 2
        for i in range(qty * 2):
            d[s + i] = src[pos + i]
        if hooks is not None:
            a = start
            while a < start + qty:
                r = t.row_of[a]
                hooks.written(r, now_ms)
                a += self.r_words[r]
        return 0

    def write_bits(self, start, qty, src, pos, now_ms):
        """Write qty coils packed LSB first in src[pos:]; returns 0 or the exception code."""
        t = self.tables[K_COIL]
        code = self._check_span(t, start, qty)
        if code:
            return code
        hooks = self.hooks
        if hooks is not None:
            for i in range(qty):
                bit = (src[pos + (i >> 3)] >> (i & 7)) & 1
                reason = hooks.check_bit(t.row_of[start + i], bit, now_ms)
                if reason:
                    return self._fail(reason)
        for i in range(qty):
            t.data[start + i] = (src[pos + (i >> 3)] >> (i & 7)) & 1
        if hooks is not None:
            for i in range(qty):
                hooks.written(t.row_of[start + i], now_ms)
        return 0

    def _fail(self, reason):
        self.last_error = reason
        return EX_FAILURE
