"""Access PINs stored as salted SHA-256: "sha256$<salt hex>$<digest hex>", digest = sha256(salt +
PIN as UTF-8). "" means the access level has no PIN set, so writes at that level are refused.

PinGuard throttles PIN attempts (safety review M7): from the _FAILURES_TO_LOCKOUT-th wrong PIN in
a row on, each one locks attempts for _LOCKOUT_MS, doubled with every further failure up to
_LOCKOUT_MAX_MS (a brute force slows down exponentially; a stranger's wrong PINs never lock the
operator out for longer than the cap); the count is forgotten after _FAILURE_FORGET_MS without a
failure, or by a right PIN. Every wrong PIN is logged (EV_PIN_FAILED).
"""

import os
from binascii import hexlify, unhexlify
from hashlib import sha256

from control.ticks import ticks_add, ticks_diff
from micropython import const

LEVEL_NONE = const(0)
LEVEL_OPERATOR = const(1)
LEVEL_SERVICE = const(2)

_FAILURES_TO_LOCKOUT = const(3)
_LOCKOUT_MS = const(30000)  # the first lockout; doubled by each failure after it
_LOCKOUT_MAX_MS = const(900000)  # 15 min
_FAILURE_FORGET_MS = const(3600000)

_PREFIX = "sha256$"


def hash_pin(pin, salt=None):
    if salt is None:
        salt = os.urandom(8)
    digest = sha256(salt + pin.encode()).digest()
    return _PREFIX + hexlify(salt).decode() + "$" + hexlify(digest).decode()


def is_valid_hash(stored):
    if stored == "":
        return True
    if not stored.startswith(_PREFIX):
        return False
    parts = stored[len(_PREFIX) :].split("$")
    if len(parts) != 2 or len(parts[1]) != 64 or not 8 <= len(parts[0]) <= 64:
        return False
    try:
        unhexlify(parts[0])
        unhexlify(parts[1])
    except ValueError:
        return False
    return True


def check_pin(stored, pin):
    if not stored or not is_valid_hash(stored):
        return False
    salt_hex, digest_hex = stored[len(_PREFIX) :].split("$")
    digest = sha256(unhexlify(salt_hex) + pin.encode()).digest()
    expected = unhexlify(digest_hex)
    diff = 0
    for i in range(len(expected)):  # constant time: no early exit on the first wrong byte
        diff |= digest[i] ^ expected[i]
    return diff == 0


class PinGuard:
    def __init__(self, now_ms):
        self.failures = 0
        self.lockout_until_ms = now_ms
        self._failure_ms = now_ms

    def locked_out(self, now_ms):
        return self.failures >= _FAILURES_TO_LOCKOUT and (
            ticks_diff(now_ms, self.lockout_until_ms) < 0
        )

    def attempt(self, cfg, pin, now_ms, log, log_code):
        """The level `pin` unlocks (LEVEL_NONE for a wrong one, counted and logged); None while
        locked out (not checked). Rare path: may allocate (sha256)."""
        if self.locked_out(now_ms):
            return None
        if self.failures and ticks_diff(now_ms, self._failure_ms) >= _FAILURE_FORGET_MS:
            self.failures = 0
        if pin and check_pin(cfg["pin_service"], pin):
            return LEVEL_SERVICE
        if pin and check_pin(cfg["pin_operator"], pin):
            return LEVEL_OPERATOR
        self.failures += 1
        self._failure_ms = now_ms
        lock_ms = 0
        if self.failures >= _FAILURES_TO_LOCKOUT:
            doublings = self.failures - _FAILURES_TO_LOCKOUT
            lock_ms = _LOCKOUT_MAX_MS
            if doublings < 5:  # 30 s << 5 = 16 min: past the cap
                lock_ms = min(_LOCKOUT_MS << doublings, _LOCKOUT_MAX_MS)
            self.lockout_until_ms = ticks_add(now_ms, lock_ms)
        log.append(log_code, self.failures, lock_ms // 1000, now_ms)
        return LEVEL_NONE
