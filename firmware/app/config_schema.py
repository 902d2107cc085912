"""Config schema: ONE text table, a row per key: key, type, unit, min, max, default.

Kept as text (parsed row by row at validation time) because a tuple-of-tuples costs ~5 KB more
heap on the unix port. Types: i = integer, b = boolean (0/1), s = string (min/max bound the
length; "|" in the unit lists the allowed values), p = salted sha256 PIN hash (see app/access.py)
or "" (level locked). Values are integers in the unit of the key (*_dc = 0.1 degC), so the
canonical JSON and its CRC are identical on CPython and MicroPython. A default "-" means "".
Bump CONFIG_VERSION whenever a key is added, removed or changes meaning.
"""

from micropython import const

CONFIG_VERSION = const(2)  # 2: cooling_enabled, battery_enabled, grid_enabled

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
supply_temp_max_dc       i  0.1degC   100   800      450
supply_pressure_max_kpa  i  kPa       100   1000     600
return_pressure_min_kpa  i  kPa       0     500      50
pack_voltage_max_v       i  V         0     1500     800
pack_current_max_a       i  A         0     2000     300
grid_import_limit_kw     i  kW        0     20000    500
flow_setpoint_lpm        i  L/min     0     1000     100
dp_setpoint_kpa          i  kPa       0     600      30
supply_temp_setpoint_dc  i  0.1degC   100   600      320
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
"""
# fmt: on

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def rows():
    """Yield (key, type, unit, min, max, default) with min/max/default converted to Python values."""
    for line in SCHEMA.split("\n"):
        f = line.split()
        if len(f) != 6:
            continue
        typ = f[1]
        d = f[5]
        default: object
        if typ == "i":
            default = int(d)
        elif typ == "b":
            default = d == "1"
        else:
            default = "" if d == "-" else d
        yield f[0], typ, f[2], int(f[3]), int(f[4]), default
