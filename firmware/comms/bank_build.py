"""Boot-only half of comms/register_bank.RegisterBank: the images built from the register map
text (comms/register_map.py), and row lookup by name. app/startup.py forgets this module and the
map text once the App is built, so neither the parser nor the text stays on the heap.

Names are not kept on the board: each row keeps a 32-bit FNV-1a hash of its name (4 bytes a row),
and find() matches hashes, so looking rows up needs no map text (the composition looks up its
telemetry rows after the map module is gone). Two rows matching one name (a hash collision) is a
ValueError, never a silent wrong row; a test checks the map has none.
"""

from array import array

from micropython import const

_NONE = const(255)
# Raw limits of rows without one ("-"): wider than any 16-bit register value, signed or not.
_NO_MIN = const(-0x10000)
_NO_MAX = const(0x1FFFF)


class _Table:
    def __init__(self, size, words):
        self.size = size
        self.row_of = bytearray(b"\xff" * size)
        self.data = bytearray(size * 2 if words else size)


def name_hash(name):
    """32-bit FNV-1a of the name's bytes."""
    h = 0x811C9DC5
    for c in name.encode():
        h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
    return h


def build():
    """(tables, r_kind, r_addr, r_words, r_type, r_access, r_min, r_max, r_hash, r_default)."""
    from comms.register_map import ACCESS, KINDS, TYPES, rows

    # Two passes over the row generator: never a list of all rows on the heap.
    n = 0
    sizes = [0, 0, 0, 0]
    for r in rows():
        k = KINDS.index(r[0])
        end = r[1] + r[4]
        if end > sizes[k]:
            sizes[k] = end
        n += 1
    if n >= _NONE:
        raise ValueError("register map: too many rows")
    tables = (
        _Table(sizes[0], True),
        _Table(sizes[1], True),
        _Table(sizes[2], False),
        _Table(sizes[3], False),
    )
    r_kind = bytearray(n)
    # Per-row columns as byte/word arrays, not lists (8 bytes per item on a 64-bit VM).
    r_addr = array("H", bytes(2 * n))
    r_words = bytearray(n)
    r_type = bytearray(n)
    r_access = bytearray(n)
    r_min = array("i", bytes(4 * n))
    r_max = array("i", bytes(4 * n))
    r_hash = array("I", bytes(4 * n))
    r_default: list = [None] * n
    i = 0
    for r in rows():
        k = KINDS.index(r[0])
        t = tables[k]
        for a in range(r[1], r[1] + r[4]):
            if t.row_of[a] != _NONE:
                raise ValueError("register map: overlap at " + r[2])
            t.row_of[a] = i
        r_kind[i] = k
        r_addr[i] = r[1]
        r_words[i] = r[4]
        r_type[i] = TYPES.index(r[3])
        r_access[i] = ACCESS.index(r[7])
        r_min[i] = _NO_MIN if r[9] is None else r[9]
        r_max[i] = _NO_MAX if r[10] is None else r[10]
        r_hash[i] = name_hash(r[2])
        r_default[i] = r[8]
        i += 1
    return tables, r_kind, r_addr, r_words, r_type, r_access, r_min, r_max, r_hash, r_default


def find(bank, names):
    """Row numbers of registers by name, in one pass over the rows per name (no dict: a large
    dict is one big block, hard to find on a fragmented heap)."""
    hashes = bank.r_hash
    found = [-1] * len(names)
    for j in range(len(names)):
        h = name_hash(names[j])
        for i in range(len(hashes)):
            if hashes[i] == h:
                if found[j] >= 0:
                    raise ValueError("register name hash collision: " + names[j])
                found[j] = i
        if found[j] < 0:
            raise KeyError(names[j])
    return found
