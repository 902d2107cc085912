"""Config store: versioned JSON at /config.json, validated against app/config_schema.py.

File layout (canonical JSON: sorted keys, no spaces, ASCII):
    {"config":{...},"crc32":N,"version":1}
crc32 = binascii.crc32 (zlib-compatible, unsigned) of canonical_json({"config":..,"version":..})
encoded as UTF-8. Saves are atomic (app.fsutil.write_atomic). load() sets `status`:
    CONFIG_OK        the file is valid
    CONFIG_DEFAULTS  no file: schema defaults in use (say so on the console)
    CONFIG_INVALID   bad JSON, bad CRC, wrong version, unknown/missing key, wrong type or range:
                     `errors` lists every problem with its key and unit; values fall back to the
                     defaults so the loop can run, and the App enters maintenance mode.
"""

from binascii import crc32

from app import fsutil
from app.access import is_valid_hash
from app.boot_config import CONFIG_DEFAULTS, CONFIG_INVALID, CONFIG_OK
from app.config_schema import BAUD_RATES, CONFIG_VERSION, rows

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _emit_str(s, out):
    # Same bytes as CPython json.dumps(s) with ensure_ascii=True, so host tools can recompute CRCs.
    plain = True
    for ch in s:
        if ch in _SHORT_ESCAPES or not " " <= ch <= "~":
            plain = False
            break
    if plain:
        out('"')
        out(s)
        out('"')
        return
    parts = ['"']
    for ch in s:
        o = ord(ch)
        esc = _SHORT_ESCAPES.get(ch)
        if esc is not None:
            parts.append(esc)
        elif o < 0x20 or 0x7E < o < 0x10000:
            parts.append("\\u%04x" % o)
        elif o >= 0x10000:
            o -= 0x10000
            parts.append("\\u%04x\\u%04x" % (0xD800 | (o >> 10), 0xDC00 | (o & 0x3FF)))
        else:
            parts.append(ch)
    parts.append('"')
    out("".join(parts))


def emit_json(obj, out):
    """Stream canonical JSON of obj as small str pieces to out(piece): no large contiguous string,
    which matters on a fragmented 64 KiB heap. Byte-identical to CPython's
    json.dumps(obj, sort_keys=True, separators=(",", ":")) for ints, bools, str, None, lists, dicts."""
    if obj is None:
        out("null")
    elif obj is True:
        out("true")
    elif obj is False:
        out("false")
    elif isinstance(obj, int):
        out(str(obj))
    elif isinstance(obj, str):
        _emit_str(obj, out)
    elif isinstance(obj, (list, tuple)):
        out("[")
        for i in range(len(obj)):
            if i:
                out(",")
            emit_json(obj[i], out)
        out("]")
    elif isinstance(obj, dict):
        out("{")
        first = True
        for key in sorted(obj.keys()):
            if not first:
                out(",")
            first = False
            _emit_str(key, out)
            out(":")
            emit_json(obj[key], out)
        out("}")
    else:
        raise ValueError("not canonical-JSON serialisable: " + repr(obj))


def canonical_json(obj):
    """emit_json collected into one string (tests and host-side comparisons)."""
    parts: list = []
    emit_json(obj, parts.append)
    return "".join(parts)


class _Crc:
    def __init__(self):
        self.value = 0

    def add(self, piece):
        self.value = crc32(piece.encode(), self.value)


def config_crc(values, version=CONFIG_VERSION):
    crc = _Crc()
    emit_json({"config": values, "version": version}, crc.add)
    return crc.value & 0xFFFFFFFF


def defaults():
    return {row[0]: row[5] for row in rows()}


def _doc(values, version=CONFIG_VERSION):
    return {"config": values, "crc32": config_crc(values, version), "version": version}


def encode(values, version=CONFIG_VERSION):
    """The exact bytes of a config file holding `values`."""
    return canonical_json(_doc(values, version)).encode()


def _check_value(row, value):
    key, typ, unit, lo, hi = row[0], row[1], row[2], row[3], row[4]
    if typ == "b":
        if value is not True and value is not False:
            return "%s: %r is not a boolean [%s]" % (key, value, unit)
    elif typ == "i":
        if value is True or value is False or not isinstance(value, int):
            return "%s: %r is not an integer [%s]" % (key, value, unit)
        if value < lo or value > hi:
            return "%s: %d outside %d..%d [%s]" % (key, value, lo, hi, unit)
        if key == "modbus_baud" and value not in BAUD_RATES:
            return "%s: %d is not a standard rate [%s]" % (key, value, unit)
    elif typ == "s":
        if not isinstance(value, str):
            return "%s: %r is not a string [%s]" % (key, value, unit)
        if len(value) < lo or len(value) > hi:
            return "%s: length %d outside %d..%d [%s]" % (key, len(value), lo, hi, unit)
        if "|" in unit and value not in unit.split("|"):
            return "%s: %r not one of %s" % (key, value, unit)
    elif typ == "p":
        if not isinstance(value, str) or not is_valid_hash(value):
            return '%s: not a salted sha256 PIN hash or "" [%s]' % (key, unit)
    return None


def validate(values):
    """Every problem in `values` (a dict), each naming its key and unit; [] when valid."""
    errors = []
    if not isinstance(values, dict):
        return ["config: not a JSON object"]
    known = {}
    for row in rows():
        known[row[0]] = True
        if row[0] not in values:
            errors.append("%s: missing [%s]" % (row[0], row[2]))
            continue
        err = _check_value(row, values[row[0]])
        if err:
            errors.append(err)
    for key in sorted(values.keys()):
        if key not in known:
            errors.append("%s: unknown key" % key)
    if errors:
        return errors
    # Cross-key rules, checked once every value is individually sane.
    fast, ctl, hk = values["fast_tick_ms"], values["control_tick_ms"], values["housekeeping_ms"]
    if ctl % fast:
        errors.append("control_tick_ms: %d not a multiple of fast_tick_ms %d [ms]" % (ctl, fast))
    if hk % ctl:
        errors.append("housekeeping_ms: %d not a multiple of control_tick_ms %d [ms]" % (hk, ctl))
    if values["watchdog_timeout_ms"] < 2 * hk:
        errors.append(
            "watchdog_timeout_ms: below 2 x housekeeping_ms (fed once per housekeeping) [ms]"
        )
    if values["safe_mode_ms"] < values["good_boot_ms"]:
        errors.append("safe_mode_ms: shorter than good_boot_ms [ms]")
    if values["modbus_parity"] == "E" and values["modbus_stop_bits"] != 1:
        errors.append(
            "modbus_stop_bits: 8E%d is not a Modbus frame; use 8E1 [bits]"
            % values["modbus_stop_bits"]
        )
    if values["pump_min_speed_pct"] > values["pump_fallback_speed_pct"]:
        errors.append("pump_fallback_speed_pct: below pump_min_speed_pct [%]")
    return errors


def parse(stream):
    """(values, errors) from an open config file (streamed: no whole-file buffer)."""
    import json

    try:
        doc = json.load(stream)
    except (ValueError, UnicodeError) as e:
        return None, ["file: not valid JSON (%s)" % e]
    if not isinstance(doc, dict):
        return None, ["file: not a JSON object"]
    errors = []
    for key in sorted(doc.keys()):
        if key not in ("config", "crc32", "version"):
            errors.append("%s: unknown top-level key" % key)
    version = doc.get("version")
    if version != CONFIG_VERSION:
        errors.append(
            "version: %r not supported (this firmware reads %d)" % (version, CONFIG_VERSION)
        )
    values = doc.get("config")
    if not isinstance(values, dict):
        errors.append("config: missing or not an object")
        return None, errors
    stored_crc = doc.get("crc32")
    if not isinstance(stored_crc, int) or stored_crc is True or stored_crc is False:
        errors.append("crc32: missing")
    else:
        computed = config_crc(values, version)
        if stored_crc != computed:
            errors.append(
                "crc32: stored %08x, computed %08x (file corrupt)" % (stored_crc, computed)
            )
    errors.extend(validate(values))
    return values, errors


class ConfigStore:
    def __init__(self, path="/config.json"):
        self.path = path
        self.values = defaults()
        self.status = CONFIG_DEFAULTS
        self.errors = []
        self.note = ""
        self.crc = config_crc(self.values)
        self.rename = None  # test hook: replaces os.rename (e.g. to simulate power loss)

    def _parse(self, path):
        with open(path) as f:
            return parse(f)

    def load(self):
        tmp_path = self.path + ".tmp"
        recovered = False
        if fsutil.exists(self.path):
            path = self.path
            fsutil.remove_quietly(tmp_path)  # an unfinished save: the old file stays authoritative
        elif fsutil.exists(tmp_path):
            path = tmp_path  # power lost between remove and rename on a FAT-like fs
            recovered = True
        else:
            self.values = defaults()
            self.status = CONFIG_DEFAULTS
            self.errors = []
            self.crc = config_crc(self.values)
            self.note = "no %s: using defaults" % self.path
            return self.status
        values, errors = self._parse(path)
        if errors:
            self.values = defaults()
            self.status = CONFIG_INVALID
            self.errors = errors
            self.crc = 0
            self.note = "%s rejected: %d error(s)" % (self.path, len(errors))
            return self.status
        if recovered:
            fsutil.replace(tmp_path, self.path, self.rename)
        self.values = values
        self.status = CONFIG_OK
        self.errors = []
        self.crc = config_crc(values)
        self.note = "%s ok, crc32 %08x" % (self.path, self.crc)
        return self.status

    def save(self, values):
        """Validate then write atomically; returns the error list ([] = saved and now current)."""
        errors = validate(values)
        if errors:
            return errors
        fsutil.write_atomic(self.path, lambda out: emit_json(_doc(values), out), self.rename)
        self.values = values
        self.status = CONFIG_OK
        self.errors = []
        self.crc = config_crc(values)
        return []

    def get(self, key):
        return self.values[key]
