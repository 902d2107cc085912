"""Config store: versioned JSON at /config.json, validated against the schema below.

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

from micropython import const

from app import fsutil
from app.access import is_valid_hash
from app.canonical_json import canonical_json, emit_json
from app.config_rules import cross_key_errors

CONFIG_OK = const(0)
CONFIG_DEFAULTS = const(1)
CONFIG_INVALID = const(2)

# ---- schema --------------------------------------------------------------------------------------
# Config schema: ONE text table, a row per key: key, type, unit, min, max, default[, since].
#
# Kept as text (parsed row by row at validation time) because a tuple-of-tuples costs ~5 KB more
# heap on the unix port. Types: i = integer, b = boolean (0/1), s = string (min/max bound the
# length; "|" in the unit lists the allowed values), p = salted sha256 PIN hash (see app/access.py)
# or "" (level locked). Values are integers in the unit of the key (*_ddegc = 0.1 degC), so the
# canonical JSON and its CRC are identical on CPython and MicroPython. A default "-" means "".
# Bump CONFIG_VERSION whenever a key is added, removed or changes meaning. A key added in a later
# version carries that version in a 7th column ("since"): a file of an older version (down to
# MIN_READ_VERSION) is read with those keys at their defaults, so a firmware upgrade never drops a
# module into maintenance mode; the next save writes the current version.
#
# Type v = a tuning vector: a list of integers whose elements are the rows of TUNING with that key,
# in order (name, unit, min, max, default). The control numbers of DOMAIN.md (contactor timing,
# cooling supervision, PCS and battery limits) live there: one config key per subsystem instead of
# ~50 keys, because every config key is a qstr and a dict entry for the whole run on the heap.
# The element names exist only while booting (app/boot_config.py expands the vectors for the
# control objects' constructors, then drops them). `gridpod config diff` names changed elements.
CONFIG_VERSION = const(6)  # 2: cooling/battery/grid_enabled; 3: tuning vectors; 4: _ddegc;
# 5: pack_temp_max_ddegc (the pack over-temperature trip);
# 6: fill_max_ms, relief_pressure_kpa (reservoir fill timer, relief-valve pressure warning)
# Keys renamed since a version (old name, new name, version of the new name): a file of an older
# version is read with its old keys under their new names.
_RENAMED = (
    ("supply_temp_max_dc", "supply_temp_max_ddegc", 4),
    ("supply_temp_setpoint_dc", "supply_temp_setpoint_ddegc", 4),
)
_MIN_READ_VERSION = const(2)

# fmt: off
SCHEMA = """
module_id                s  text      1     32       GRIDPOD-0000
has_cooling              b  flag      0     1        1
has_battery              b  flag      0     1        1
has_grid                 b  flag      0     1        1
cooling_enabled          b  flag      0     1        0
battery_enabled          b  flag      0     1        0
grid_enabled             b  flag      0     1        0
pump_count               i  pumps     0     2        2
leak_zone_count          i  zones     0     2        2
supply_temp_sensor_count i  sensors   0     3        3
supply_temp_max_ddegc       i  0.1degC   100   800      450
supply_pressure_max_kpa  i  kPa       100   1000     600
return_pressure_min_kpa  i  kPa       0     500      50
relief_pressure_kpa      i  kPa       100   1000     600      6
fill_max_ms              i  ms        0     600000   180000   6
pack_voltage_max_v       i  V         0     1500     876
pack_current_max_a       i  A         0     2000     300
pack_temp_max_ddegc      i  0.1degC   0     1000     550      5
grid_import_limit_kw     i  kW        0     20000    500
flow_setpoint_lpm        i  L/min     0     1000     100
dp_setpoint_kpa          i  kPa       0     600      30
supply_temp_setpoint_ddegc  i  0.1degC   100   600      320
pump_min_speed_pct       i  %         0     100      15
pump_fallback_speed_pct  i  %         0     100      100
soc_floor_pct            i  %         0     100      20
fast_tick_ms             i  ms        5     50       10
control_tick_ms          i  ms        20    1000     100
housekeeping_ms          i  ms        200   5000     1000
watchdog_timeout_ms      i  ms        1000  8388     2000
good_boot_ms             i  ms        1000  600000   60000
bad_boot_limit           i  boots     2     100      10
safe_mode_ms             i  ms        1000  3600000  300000
modbus_unit              i  address   1     247      1
modbus_baud              i  baud      1200  115200   19200
modbus_parity            s  E|N       1     1        E
modbus_stop_bits         i  bits      1     2        1
modbus_frame_margin_us   i  us        0     10000    0
pin_operator             p  sha256    0     0        -
pin_service              p  sha256    0     0        -
contactor_tuning         v  vector    0     0        -        3
cooling_tuning           v  vector    0     0        -        3
grid_tuning              v  vector    0     0        -        3
"""

TUNING = """
contactor_tuning precharge_tau_ms      ms      10    60000    470
contactor_tuning precharge_done_i_da   0.1A    1     10000    10
contactor_tuning precharge_tries       tries   1     10       3
contactor_tuning precharge_retry_ms    ms      3000  600000   3000
contactor_tuning precharge_margin_dv   0.1V    0     100      10
contactor_tuning toggle_window_ms      ms      1000  600000   10000
contactor_tuning toggle_max_closes     closes  1     100      3
contactor_tuning toggle_lockout_ms     ms      0     3600000  10000
contactor_tuning contactor_aux_ms      ms      10    10000    300
contactor_tuning contactor_dropout_ms  ms      10    10000    10
contactor_tuning contactor_close_ms    ms      10    10000    500
contactor_tuning contactor_pole_gap_ms ms      0     10000    100
contactor_tuning break_current_a       A       1     5000     500
contactor_tuning break_wait_ms         ms      0     60000    3000
contactor_tuning weld_check_ms         ms      100   60000    1000
contactor_tuning link_bleed_tau_ms     ms      1000  9999999  235000
contactor_tuning derate_pct            %       0     100      50
cooling_tuning   pump_on_dp            flag    0     1        0
cooling_tuning   flow_kp_milli         milli   0     100000   5000
cooling_tuning   flow_ki_milli         milli   0     100000   5000
cooling_tuning   temp_kp_milli         milli   0     100000   2000
cooling_tuning   temp_ki_milli         milli   0     100000   200
cooling_tuning   pump_fail_tach_ms     ms      100   60000    2000
cooling_tuning   pump_fail_flow_pct    %       0     100      50
cooling_tuning   pump_fail_flow_ms     ms      100   600000   5000
cooling_tuning   flow_prove_ms         ms      100   60000    5000
cooling_tuning   pump_max_rpm          rpm     100   20000    3000
cooling_tuning   low_flow_pct          %       0     100      90
cooling_tuning   low_flow_ms           ms      1000  3600000  100000
cooling_tuning   filter_dp_max_kpa     kPa     0     1000     60
cooling_tuning   sensor_disagree_ddegc    0.1degC 1     100      10
cooling_tuning   sensor_disagree_ms    ms      1000  600000   30000
cooling_tuning   temp_warn_band_ddegc     0.1degC 1     200      20
cooling_tuning   temp_warn_hyst_ddegc     0.1degC 0     100      10
cooling_tuning   temp_warn_ms          ms      0     3600000  120000
cooling_tuning   startup_inhibit_ms    ms      0     7200000  1200000
cooling_tuning   dew_margin_ddegc         0.1degC 0     200      30
cooling_tuning   valve_stroke_ms       ms      100   120000   10000
cooling_tuning   valve_fb_tol_pct      %       1     100      10
cooling_tuning   valve_settle_ms       ms      0     600000   45000
grid_tuning      pcs_max_kw            kW      0     10000    100
grid_tuning      pcs_ramp_kw_s         kW/s    1     10000    50
grid_tuning      pcs_charge_kw         kW      0     10000    10
grid_tuning      grid_tolerance_kw     kW      0     1000     2
grid_tuning      pcs_deadband_w        W       0     10000    500
grid_tuning      battery_temp_min_ddegc   0.1degC -400  800      50
grid_tuning      battery_temp_max_ddegc   0.1degC -400  800      450
grid_tuning      battery_cells         cells   1     1000     240
grid_tuning      battery_capacity_ah   Ah      1     100000   100
"""
# fmt: on

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def rows():
    """Yield (key, type, unit, min, max, default, since) with min/max/default as Python values."""
    for line in SCHEMA.split("\n"):
        f = line.split()
        if len(f) != 6 and len(f) != 7:
            continue
        typ = f[1]
        d = f[5]
        default: object
        if typ == "i":
            default = int(d)
        elif typ == "b":
            default = d == "1"
        elif typ == "v":
            default = [r[4] for r in tuning_rows(f[0])]
        else:
            default = "" if d == "-" else d
        yield f[0], typ, f[2], int(f[3]), int(f[4]), default, int(f[6]) if len(f) == 7 else 1


def tuning_rows(key):
    """Yield (name, unit, min, max, default) of the elements of tuning vector `key`, in order."""
    for line in TUNING.split("\n"):
        f = line.split()
        if len(f) == 6 and f[0] == key:
            yield f[1], f[2], int(f[3]), int(f[4]), int(f[5])


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
    elif typ == "v":
        return _check_vector(key, value)
    return None


def _check_vector(key, value):
    elements = list(tuning_rows(key))
    if not isinstance(value, list) or len(value) != len(elements):
        return "%s: not a list of %d integers (%s)" % (
            key,
            len(elements),
            " ".join([e[0] for e in elements]),
        )
    for i in range(len(elements)):
        name, unit, lo, hi, _default = elements[i]
        v = value[i]
        if v is True or v is False or not isinstance(v, int):
            return "%s[%d] %s: %r is not an integer [%s]" % (key, i, name, v, unit)
        if v < lo or v > hi:
            return "%s[%d] %s: %d outside %d..%d [%s]" % (key, i, name, v, lo, hi, unit)
    return None


def expand_tuning(values):
    """{element name: value} of every tuning vector in `values` (for the control constructors)."""
    out = {}
    for row in rows():
        if row[1] == "v":
            vector = values[row[0]]
            i = 0
            for element in tuning_rows(row[0]):
                out[element[0]] = vector[i]
                i += 1
    return out


def validate(values, version=CONFIG_VERSION):
    """Every problem in `values` (a dict), each naming its key and unit; [] when valid. For a file
    of an older `version`, keys added since then are filled in with their defaults."""
    errors = []
    if not isinstance(values, dict):
        return ["config: not a JSON object"]
    for old_key, new_key, since in _RENAMED:
        if version < since and old_key in values and new_key not in values:
            values[new_key] = values.pop(old_key)
    known = {}
    for row in rows():
        known[row[0]] = True
        if row[0] not in values:
            if row[6] > version:
                values[row[0]] = row[5]  # added after this file was written: the default
            else:
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
    return cross_key_errors(values, expand_tuning(values))


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
    readable = isinstance(version, int) and _MIN_READ_VERSION <= version <= CONFIG_VERSION
    if not readable:
        errors.append(
            "version: %r not supported (this firmware reads %d..%d)"
            % (version, _MIN_READ_VERSION, CONFIG_VERSION)
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
    errors.extend(validate(values, version if readable else CONFIG_VERSION))
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
