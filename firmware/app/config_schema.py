"""Config schema: one row per key (key, type, unit, min, max, default), plus allowed-value sets.

Values are integers in the unit named by the key (fixed point where needed: *_dc = 0.1 degC), so
the canonical JSON and its CRC32 are identical on CPython and MicroPython (no float formatting).
For T_STR min/max bound the length. T_PIN is a salted hash string (see app/access.py) or "".
Bump CONFIG_VERSION whenever a key is added, removed or changes meaning.
"""

from micropython import const

CONFIG_VERSION = const(1)

T_INT = const(0)
T_BOOL = const(1)
T_STR = const(2)
T_PIN = const(3)

# fmt: off
SCHEMA = (
    # key                        type    unit        min     max      default
    # identity and which subsystems/devices exist
    ("module_id",                T_STR,  "text",     1,      32,      "GRIDPOD-0000"),
    ("has_cooling",              T_BOOL, "flag",     0,      1,       True),
    ("has_battery",              T_BOOL, "flag",     0,      1,       True),
    ("has_grid",                 T_BOOL, "flag",     0,      1,       True),
    ("pump_count",               T_INT,  "pumps",    0,      2,       2),
    ("leak_zone_count",          T_INT,  "zones",    0,      2,       2),
    ("supply_temp_sensor_count", T_INT,  "sensors",  0,      3,       3),
    # limits
    ("supply_temp_max_dc",       T_INT,  "0.1 degC", 100,    800,     450),
    ("supply_pressure_max_kpa",  T_INT,  "kPa",      100,    1000,    600),
    ("return_pressure_min_kpa",  T_INT,  "kPa",      0,      500,     50),
    ("pack_voltage_max_v",       T_INT,  "V",        0,      1500,    800),
    ("pack_current_max_a",       T_INT,  "A",        0,      2000,    300),
    ("grid_import_limit_kw",     T_INT,  "kW",       0,      20000,   500),
    # setpoints
    ("flow_setpoint_lpm",        T_INT,  "L/min",    0,      1000,    100),
    ("dp_setpoint_kpa",          T_INT,  "kPa",      0,      600,     30),
    ("supply_temp_setpoint_dc",  T_INT,  "0.1 degC", 100,    600,     320),
    ("pump_min_speed_pct",       T_INT,  "%",        0,      100,     15),
    ("pump_fallback_speed_pct",  T_INT,  "%",        0,      100,     100),
    ("soc_floor_pct",            T_INT,  "%",        0,      100,     20),
    # timings
    ("fast_tick_ms",             T_INT,  "ms",       5,      50,      10),
    ("control_tick_ms",          T_INT,  "ms",       20,     1000,    100),
    ("housekeeping_ms",          T_INT,  "ms",       200,    5000,    1000),
    ("watchdog_timeout_ms",      T_INT,  "ms",       1000,   8388,    2000),
    ("good_boot_ms",             T_INT,  "ms",       1000,   600000,  60000),
    ("bad_boot_limit",           T_INT,  "boots",    2,      100,     10),
    ("safe_mode_ms",             T_INT,  "ms",       1000,   3600000, 300000),
    # Modbus RTU slave
    ("modbus_unit",              T_INT,  "address",  1,      247,     1),
    ("modbus_baud",              T_INT,  "baud",     1200,   115200,  19200),
    ("modbus_parity",            T_STR,  "E|N",      1,      1,       "E"),
    ("modbus_stop_bits",         T_INT,  "bits",     1,      2,       1),
    ("modbus_frame_margin_us",   T_INT,  "us",       0,      10000,   0),
    # access PINs (salted sha256, "" = level locked)
    ("pin_operator",             T_PIN,  "sha256",   0,      0,       ""),
    ("pin_service",              T_PIN,  "sha256",   0,      0,       ""),
)
# fmt: on

CHOICES = {
    "modbus_baud": (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200),
    "modbus_parity": ("E", "N"),
}
