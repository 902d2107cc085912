"""The Modbus register map: ONE text table, read by the firmware (comms/register_bank.py), the
host client (gridpod.modbus.client) and the generated docs/register-map.md. Columns are separated
by single spaces and carry no prose, because the text is heap on the board; each register's
one-line description lives with the docs generator (gridpod/modbus/register_docs.py, a test
checks that both name the same registers).

Plain Python with no MicroPython-only imports, so CPython loads this very file. Columns:
  kind   H holding (FC03/06/16), I input (FC04), C coil (FC01/05/15), D discrete input (FC02)
  addr   0-based protocol address
  name   unique, with the unit as suffix where there is one
  type   u16 s16 u32 s32 (32-bit: high word first, written atomically), str (ASCII, 2 chars per
         register, high byte first, NUL padded), bit (coils / discrete inputs)
  words  registers (bits for kind C/D) the row covers
  scale  power of ten: physical value = raw x 10**scale
  unit   physical unit ("-" none)
  access R read-only; W1 operator level; L1 operator level + lease (a setpoint that reverts to its
         default when not rewritten within setpoint_lease_s); WA any master (access registers)
  default  value at boot: a number, cfg:<config key> or "-" (computed by the firmware)
  min max  raw limits checked before a write is applied ("-": none)
Not-available sentinels: 0x8000 (s16), 0xFFFF (u16), 0x80000000 (s32), 0xFFFFFFFF (u32).
The firmware unloads this module once the bank is built (app/startup.py): the text is heap.
Bump MAP_VERSION whenever a row's layout columns change; MAP_CRC (identity register) covers them.
"""

from array import array

# 2: peak shaving enable, PCS setpoint, energy per token, battery rows; 3: interlock_status;
# 4: 60 faults (fault_active 60 bits, faults_active_hi / faults_latched_hi for ids 30..59),
# pack_temp_max_c
MAP_VERSION = 4
MAGIC = 0x4750  # "GP"
NA_U16 = 0xFFFF
NA_S16 = 0x8000

# fmt: off
TABLE = """
H 0 magic u16 1 0 - R 19792 - -
H 1 map_version u16 1 0 - R - - -
H 2 map_crc u16 1 0 - R - - -
H 3 firmware_version u16 1 0 - R - - -
H 4 board_id u16 1 0 - R - - -
H 5 config_crc u32 2 0 - R - - -
H 7 modbus_unit u16 1 0 - R cfg:modbus_unit - -
H 8 module_id str 16 0 - R - - -
H 100 flow_setpoint_lpm u16 1 0 L/min L1 cfg:flow_setpoint_lpm 0 1000
H 101 dp_setpoint_kpa u16 1 0 kPa L1 cfg:dp_setpoint_kpa 0 600
H 102 supply_temp_setpoint_c s16 1 -1 degC L1 cfg:supply_temp_setpoint_ddegc 100 600
H 103 grid_import_limit_kw u16 1 0 kW L1 cfg:grid_import_limit_kw 0 20000
H 104 pcs_power_request_kw s16 1 -1 kW L1 0 -10000 10000
H 105 peak_shaving_enable u16 1 0 - L1 0 0 1
H 110 setpoint_lease_s u16 1 0 s W1 30 1 3600
H 120 work_tokens u32 2 0 tokens W1 0 - -
H 200 access_level u16 1 0 - WA - 0 0
H 201 access_pin str 4 0 - WA - - -
H 300 supply_temp_max_c s16 1 -1 degC R cfg:supply_temp_max_ddegc - -
H 301 supply_pressure_max_kpa u16 1 0 kPa R cfg:supply_pressure_max_kpa - -
H 302 return_pressure_min_kpa u16 1 0 kPa R cfg:return_pressure_min_kpa - -
H 303 pack_voltage_max_v u16 1 0 V R cfg:pack_voltage_max_v - -
H 304 pack_current_max_a u16 1 0 A R cfg:pack_current_max_a - -
H 305 pump_min_speed_pct u16 1 0 % R cfg:pump_min_speed_pct - -
H 306 pump_fallback_speed_pct u16 1 0 % R cfg:pump_fallback_speed_pct - -
H 307 soc_floor_pct u16 1 0 % R cfg:soc_floor_pct - -
I 0 supply_temp_c s16 1 -1 degC R - - -
I 1 supply_temp1_c s16 1 -1 degC R - - -
I 2 supply_temp2_c s16 1 -1 degC R - - -
I 3 supply_temp3_c s16 1 -1 degC R - - -
I 4 return_temp_c s16 1 -1 degC R - - -
I 5 dew_point_c s16 1 -1 degC R - - -
I 6 flow_lpm u16 1 -1 L/min R - - -
I 7 dp_kpa u16 1 -1 kPa R - - -
I 8 supply_pressure_kpa u16 1 0 kPa R - - -
I 9 return_pressure_kpa u16 1 0 kPa R - - -
I 10 pump1_speed_pct u16 1 -1 % R - - -
I 11 pump2_speed_pct u16 1 -1 % R - - -
I 12 pump1_tach_rpm u16 1 0 rpm R - - -
I 13 pump2_tach_rpm u16 1 0 rpm R - - -
I 14 zone1_valve_state u16 1 0 - R - - -
I 15 zone2_valve_state u16 1 0 - R - - -
I 16 mix_valve_pct u16 1 -1 % R - - -
I 17 k_neg_state u16 1 0 - R - - -
I 18 k_pre_state u16 1 0 - R - - -
I 19 k_pos_state u16 1 0 - R - - -
I 20 pack_voltage_v u16 1 -1 V R - - -
I 21 link_voltage_v u16 1 -1 V R - - -
I 22 pack_current_a s16 1 -1 A R - - -
I 23 soc_pct u16 1 -1 % R - - -
I 24 it_load_kw s32 2 -1 kW R - - -
I 26 grid_import_kw s32 2 -1 kW R - - -
I 28 battery_power_kw s32 2 -1 kW R - - -
I 30 energy_it_kwh u32 2 -1 kWh R - - -
I 32 energy_cooling_kwh u32 2 -1 kWh R - - -
I 34 energy_battery_in_kwh u32 2 -1 kWh R - - -
I 36 energy_battery_out_kwh u32 2 -1 kWh R - - -
I 38 energy_grid_import_kwh u32 2 -1 kWh R - - -
I 40 pcs_setpoint_kw s32 2 -1 kW R - - -
I 42 mj_per_token_it u32 2 0 mJ R - - -
I 44 mj_per_token_module u32 2 0 mJ R - - -
I 46 battery_temp_c s16 1 -1 degC R - - -
I 47 battery_power_limit_pct u16 1 0 % R - - -
I 48 interlock_status u16 1 0 - R - - -
I 100 faults_active u32 2 0 - R - - -
I 102 faults_latched u32 2 0 - R - - -
I 104 fault_actions u16 1 0 - R - - -
I 105 run_mode u16 1 0 - R - - -
I 106 contactor_state u16 1 0 - R - - -
I 107 cooling_state u16 1 0 - R - - -
I 108 grid_state u16 1 0 - R - - -
I 109 status_flags u16 1 0 - R - - -
I 110 lease_expired u16 1 0 - R - - -
I 111 lease_remaining_s u16 1 0 s R - - -
I 112 access_remaining_s u16 1 0 s R - - -
I 113 access_failures u16 1 0 - R - - -
I 114 access_lockout_s u16 1 0 s R - - -
I 120 fast_tick_last_us u16 1 0 us R - - -
I 121 fast_tick_max_us u16 1 0 us R - - -
I 122 fast_tick_mean_us u16 1 0 us R - - -
I 123 control_tick_max_us u16 1 0 us R - - -
I 124 control_tick_mean_us u16 1 0 us R - - -
I 125 tick_overruns u32 2 0 - R - - -
I 127 missed_frames u32 2 0 - R - - -
I 129 heap_free_bytes u32 2 0 B R - - -
I 131 heap_low_water_bytes u32 2 0 B R - - -
I 133 reset_cause u16 1 0 - R - - -
I 134 boot_count u16 1 0 - R - - -
I 135 uptime_s u32 2 0 s R - - -
I 140 modbus_frames_ok u16 1 0 - R - - -
I 141 modbus_bad_crc u16 1 0 - R - - -
I 142 modbus_other_unit u16 1 0 - R - - -
I 143 modbus_exceptions u16 1 0 - R - - -
I 144 modbus_broadcasts u16 1 0 - R - - -
I 145 modbus_rx_overruns u16 1 0 - R - - -
I 146 modbus_last_error u16 1 0 - R - - -
I 147 modbus_service_us_last u16 1 0 us R - - -
I 148 modbus_service_us_max u16 1 0 us R - - -
C 0 contactor_close_request bit 1 0 - W1 0 - -
C 1 contactor_open_request bit 1 0 - W1 0 - -
C 2 fault_reset bit 1 0 - W1 0 - -
C 3 pump_rotation_request bit 1 0 - W1 0 - -
D 0 maintenance_mode bit 1 0 - R - - -
D 1 safe_mode bit 1 0 - R - - -
D 2 lease_expired_any bit 1 0 - R - - -
D 3 access_unlocked bit 1 0 - R - - -
D 8 fault_active bit 60 0 - R - - -
I 115 faults_active_hi u32 2 0 - R - - -
I 117 faults_latched_hi u32 2 0 - R - - -
H 308 pack_temp_max_c s16 1 -1 degC R cfg:pack_temp_max_ddegc - -
"""
# fmt: on

KINDS = "HICD"
TYPES = ("u16", "s16", "u32", "s32", "str", "bit")
ACCESS = ("R", "W1", "L1", "WA")


def _num(text):
    if text == "-":
        return None
    return int(text)


def rows():
    """Yield (kind, addr, name, type, words, scale, unit, access, default, min, max).
    default is an int, "cfg:<key>" or None; min/max are ints or None."""
    text = TABLE
    end = 0
    while True:
        start = end
        end = text.find("\n", start)
        if end < 0:
            return
        end += 1
        line = text[start : end - 1]
        f = line.split()
        if not f:
            continue
        if len(f) != 11:
            raise ValueError("register map row: " + line)
        d = f[8]
        default = None if d == "-" else (d if d.startswith("cfg:") else int(d))
        yield (
            f[0],
            int(f[1]),
            f[2],
            f[3],
            int(f[4]),
            int(f[5]),
            f[6],
            f[7],
            default,
            _num(f[9]),
            _num(f[10]),
        )


def crc_table():
    t = array("H", range(256))
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t[i] = c
    return t


def crc16(data, crc=0xFFFF, table=None):
    """CRC-16/MODBUS (reflected 0xA001, init 0xFFFF); appended low byte first, a frame's CRC is 0."""
    if table is None:
        table = crc_table()
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


def map_crc():
    """CRC-16 of the layout columns (everything but the description), row by row."""
    table = crc_table()
    crc = 0xFFFF
    for r in rows():
        crc = crc16(" ".join([str(x) for x in r]).encode(), crc, table)
        crc = crc16(b"\n", crc, table)
    return crc
