"""Canonical JSON (sorted keys, no spaces, ASCII), streamed: the config file's bytes and its CRC.

Byte-identical to CPython's json.dumps(obj, sort_keys=True, separators=(",", ":")) for ints,
bools, str, None, lists and dicts, so host tools recompute the firmware's CRCs exactly. Streamed as
small str pieces to a callback: no large contiguous string on a fragmented heap.
"""

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
    which matters on a fragmented heap. Byte-identical to CPython's
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
