"""Generate docs/register-map.md from the firmware's register map (the one table) plus a one-line
description per register. `python -m gridpod.modbus.register_docs` rewrites the file; `--check` exits 1
when the file is stale. A test fails when the file, the table or DESCRIPTIONS drift apart."""

import sys
from pathlib import Path

from ..build.tree import REPO_ROOT
from .register_map import MAP_CRC, MAP_VERSION, REGISTERS

DOC_PATH = REPO_ROOT / "docs" / "register-map.md"
KIND_TITLES = {
    "H": "Holding registers (FC03 read, FC06/FC16 write)",
    "I": "Input registers (FC04)",
    "C": "Coils (FC01 read, FC05/FC15 write)",
    "D": "Discrete inputs (FC02)",
}
DESCRIPTIONS = {
    "magic": '0x4750 "GP": a Gridpod register map',
    "map_version": "layout version of this map",
    "map_crc": "CRC-16/MODBUS of the layout columns of the map",
    "firmware_version": "major x 256 + minor",
    "board_id": "CRC-16/MODBUS of the board name",
    "config_crc": "CRC-32 of the active config (0: config rejected)",
    "modbus_unit": "this slave's unit address",
    "module_id": "module id from the config, ASCII",
    "flow_setpoint_lpm": "pump loop flow setpoint",
    "dp_setpoint_kpa": "differential pressure setpoint",
    "supply_temp_setpoint_c": "supply temperature setpoint",
    "grid_import_limit_kw": "peak-shaving grid import limit",
    "pcs_power_request_kw": "manual PCS power request (+ discharge) while peak shaving is off",
    "peak_shaving_enable": "1 = hold grid import at grid_import_limit_kw with the battery",
    "setpoint_lease_s": "lease of every L1 setpoint",
    "work_tokens": "AI work counter written by the host",
    "access_level": "0 none, 1 operator, 2 service; write 0 to lock",
    "access_pin": "write the PIN (ASCII) to unlock; reads 0",
    "supply_temp_max_c": "safety limit: supply over-temperature trip (fault 33)",
    "supply_pressure_max_kpa": "safety limit",
    "return_pressure_min_kpa": "safety limit",
    "pack_voltage_max_v": "safety limit: pack over-voltage trip (fault 30)",
    "pack_current_max_a": "safety limit: pack over-current trip, either direction (fault 31)",
    "pack_temp_max_c": "safety limit: pack over-temperature trip (fault 32)",
    "pump_min_speed_pct": "safety limit",
    "pump_fallback_speed_pct": "safety limit",
    "soc_floor_pct": "safety limit",
    "supply_temp_c": "supply temperature (average)",
    "supply_temp1_c": "supply sensor 1",
    "supply_temp2_c": "supply sensor 2",
    "supply_temp3_c": "supply sensor 3",
    "return_temp_c": "return temperature",
    "dew_point_c": "dew point",
    "flow_lpm": "coolant flow",
    "dp_kpa": "differential pressure",
    "supply_pressure_kpa": "supply pressure",
    "return_pressure_kpa": "return pressure",
    "pump1_speed_pct": "pump 1 speed command",
    "pump2_speed_pct": "pump 2 speed command",
    "pump1_tach_rpm": "pump 1 tach",
    "pump2_tach_rpm": "pump 2 tach",
    "zone1_valve_state": "0 closed 1 open 2 moving 3 fault",
    "zone2_valve_state": "0 closed 1 open 2 moving 3 fault",
    "mix_valve_pct": "mixing valve position",
    "k_neg_state": "0 open 1 closed 2 mismatch",
    "k_pre_state": "0 open 1 closed 2 mismatch",
    "k_pos_state": "0 open 1 closed 2 mismatch",
    "pack_voltage_v": "battery pack voltage",
    "link_voltage_v": "DC link voltage",
    "pack_current_a": "pack current (+ discharge)",
    "soc_pct": "state of charge",
    "it_load_kw": "IT load",
    "grid_import_kw": "grid import",
    "battery_power_kw": "battery power (+ discharge)",
    "energy_it_kwh": "energy delivered to IT",
    "energy_cooling_kwh": "energy used by cooling",
    "energy_battery_in_kwh": "energy into the battery",
    "energy_battery_out_kwh": "energy out of the battery",
    "energy_grid_import_kwh": "energy imported from the grid",
    "pcs_setpoint_kw": "PCS setpoint commanded (+ discharge, - charge)",
    "mj_per_token_it": "energy per AI token at the IT boundary (since the previous token write)",
    "mj_per_token_module": "energy per AI token at the module boundary (cooling, storage losses)",
    "battery_temp_c": "battery cold-plate temperature",
    "battery_power_limit_pct": "battery power allowed by the cooling derate (100 = full)",
    "interlock_status": "interlocks for the IT side: bit 0 cooling lost, 1 battery derated, 2 battery close permitted, 3 alarm",
    "faults_active": "active faults 0..29, bit n = fault id n",
    "faults_latched": "latched faults 0..29, bit n = fault id n",
    "faults_active_hi": "active faults 30..59, bit n = fault id 30 + n",
    "faults_latched_hi": "latched faults 30..59, bit n = fault id 30 + n",
    "fault_actions": "1 open contactors 2 pumps fallback 4 alarm",
    "run_mode": "1 maintenance 2 safe mode 4 safe boot",
    "contactor_state": "contactor state machine state",
    "cooling_state": "cooling state machine state",
    "grid_state": "0 off, 1 standby (not permitted), 2 discharging, 3 charging, 4 idle",
    "status_flags": "1 lease expired 2 unlocked 4 PIN lockout 8 close req 16 open req 32 rotation req 64 resets locked",
    "lease_expired": "bit n: L1 setpoint n (address order) reverted",
    "lease_remaining_s": "until the next lease expires (0xFFFF none)",
    "access_remaining_s": "until the unlock expires",
    "access_failures": "consecutive wrong PINs",
    "access_lockout_s": "PIN attempts refused for this long",
    "fast_tick_last_us": "fast tick work, last (saturates)",
    "fast_tick_max_us": "fast tick work, max",
    "fast_tick_mean_us": "fast tick work, mean",
    "control_tick_max_us": "control tick work, max",
    "control_tick_mean_us": "control tick work, mean",
    "tick_overruns": "frames with an overrun",
    "missed_frames": "fast frames lost",
    "heap_free_bytes": "heap free now",
    "heap_low_water_bytes": "lowest heap free seen",
    "reset_cause": "1 power-on 2 hard 3 watchdog 5 soft 6 brown-out",
    "boot_count": "boots logged",
    "uptime_s": "since boot",
    "modbus_frames_ok": "requests for this unit (wraps)",
    "modbus_bad_crc": "frames dropped: CRC or too short",
    "modbus_other_unit": "frames for other units",
    "modbus_exceptions": "exception responses",
    "modbus_broadcasts": "broadcast requests",
    "modbus_rx_overruns": "receive buffer overflows",
    "modbus_last_error": "why the last exception 04: 1 range 2 access 3 PIN 4 lockout",
    "modbus_service_us_last": "firmware time for the last request",
    "modbus_service_us_max": "firmware time per request, max",
    "contactor_close_request": "request to close on a rising edge of the written value (open wins; never by broadcast)",
    "contactor_open_request": "request to open",
    "fault_reset": "write 1 (a rising edge: 0 then 1 to repeat): reset latched faults, 3 per 10 min; reads 0",
    "pump_rotation_request": "request a lead/lag rotation",
    "maintenance_mode": "config rejected",
    "safe_mode": "boot-loop safe mode",
    "lease_expired_any": "a setpoint reverted to its default",
    "access_unlocked": "a PIN level is active",
    "fault_active": "bit n: fault id n active",
}

HEADER = """# Gridpod Modbus register map

Generated by `python -m gridpod.modbus.register_docs` from `firmware/comms/register_map.py`; do not edit.
Map version {version}, map CRC {crc:#06x} (holding registers 1 and 2).

- Addresses are 0-based protocol addresses. Unit address from the config (`modbus_unit`, default 1);
  unit 0 is broadcast: writes are executed and never answered.
- 32-bit values: high word first; a write must cover both words in one FC16 request, a write of
  half a value (or of part of a `str`) gets exception 02. Reads of any part are allowed.
- Physical value = raw x 10^scale. Not available: 0x8000 (s16), 0xFFFF (u16), 0x80000000 (s32),
  0xFFFFFFFF (u32). Physical telemetry is not available until its sensor drivers exist.
- Addresses inside a table that no row covers are reserved: they read 0 and refuse writes (02).
- Exceptions, checked in this order: 01 function not supported; 03 quantity out of limits (FC01/02
  1-2000, FC03/04 1-125, FC15 1-1968, FC16 1-123), byte count wrong, FC05 value other than
  0xFF00/0x0000, malformed frame; 02 start + quantity outside the table, reserved or read-only
  register, part of a multi-register value; 04 the request could not be executed: a value outside
  its min..max (**never applied**), access level missing, wrong PIN, PIN lockout. The reason of the
  last 04 is in input register `modbus_last_error` (1 range, 2 access, 3 PIN, 4 lockout).
  A request that gets an exception changes nothing.
- Access: W1/L1 registers and the command coils need the operator level: write the PIN (ASCII) to
  `access_pin` (service PIN gives level 2, operator PIN level 1). From the 3rd wrong PIN in a row
  each one locks PIN attempts for 30 s, doubled per further failure up to 15 min, and is logged;
  an unlock expires 300 s after the PIN (writes do not extend it: send the PIN again); write 0 to
  `access_level` to lock. A broadcast never carries a PIN, a close or a fault reset. Close and
  reset act on a rising edge of the written value (0 then 1); at most 3 resets per 10 min, then
  resets are locked until a reboot. Safety limits (holding 300-307) are read-only over Modbus.
- Leases: an L1 setpoint reverts to its default when it is not rewritten within
  `setpoint_lease_s`; its bit is set in `lease_expired` and status flag 1 until it is written again.
- Bad CRC and frames for other units are dropped silently and counted (`modbus_bad_crc`,
  `modbus_other_unit`).
"""


def _fmt(v):
    return "" if v is None else str(v)


def render() -> str:
    lines = [HEADER.format(version=MAP_VERSION, crc=MAP_CRC)]
    for kind, title in KIND_TITLES.items():
        lines.append(f"\n## {title}\n")
        lines.append(
            "| addr | name | type | words | scale | unit | access | default | min | max | description |"
        )
        lines.append("|---:|---|---|---:|---:|---|---|---|---:|---:|---|")
        for r in sorted((r for r in REGISTERS.values() if r.kind == kind), key=lambda r: r.addr):
            lines.append(
                f"| {r.addr} | `{r.name}` | {r.type} | {r.words} | {r.scale} | {r.unit} | "
                f"{r.access} | {_fmt(r.default)} | {_fmt(r.min)} | {_fmt(r.max)} | "
                f"{DESCRIPTIONS[r.name]} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        current = DOC_PATH.read_text() if DOC_PATH.exists() else ""
        if current != text:
            print(
                f"{DOC_PATH} is stale: run python -m gridpod.modbus.register_docs", file=sys.stderr
            )
            return 1
        return 0
    Path(DOC_PATH).parent.mkdir(parents=True, exist_ok=True)
    DOC_PATH.write_text(text)
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
