"""Access PINs stored as salted SHA-256: "sha256$<salt hex>$<digest hex>", digest = sha256(salt +
PIN as UTF-8). "" means the access level has no PIN set, so writes at that level are refused."""

import os
from binascii import hexlify, unhexlify
from hashlib import sha256

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
