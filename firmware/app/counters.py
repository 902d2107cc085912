"""Energy counters that survive reboots (DOMAIN.md "Counters survive reboots", safety review M13).

The grid subsystem saves its Energy counters (control/energy.py: five 32-bit Wh counters kept as
16-bit halves) to <root>energy.json at most once every SAVE_PERIOD_MS, from the housekeeping
slot, atomically (app/fsutil.py write_atomic: a power loss leaves the old or the new file), and
restores them at boot. littlefs spreads the rewrites over the flash (copy on write). A file that
is missing, unreadable or malformed restores nothing: the counters start at 0 and say so.
At most SAVE_PERIOD_MS of energy is lost at a power cut.
"""

from micropython import const

from app import fsutil

SAVE_PERIOD_MS = const(60000)
FILE_NAME = "energy.json"
_COUNTERS = const(5)


def restore(path, energy):
    """Preset `energy` from the file at path; True when it held valid counters."""
    import json

    try:
        with open(path) as f:
            pairs = json.load(f)
    except (OSError, ValueError):
        return False
    if not isinstance(pairs, list) or len(pairs) != 2 * _COUNTERS:
        return False
    for v in pairs:
        if not isinstance(v, int) or v < 0 or v > 0xFFFF:
            return False
    for i in range(_COUNTERS):
        energy.preset(i, pairs[2 * i], pairs[2 * i + 1])
    return True


def save(path, energy):
    """Write the counters atomically (housekeeping slot only: a flash write)."""
    parts = []
    for i in range(_COUNTERS):
        parts.append("%d,%d" % (energy.hi[i], energy.lo[i]))
    fsutil.write_atomic(path, "[" + ",".join(parts) + "]")
