"""The module's subsystems, one file each: cooling, battery, grid (app/module.py lists them).

A subsystem builds its drivers from the board's roles in __init__ and prints its resolved config
in one boot line, then offers the same methods to the module:
  fast(now_ms)                fast slot (10 ms): safety reactions, no allocation
  commands(bank, now_ms)      control slot: its coils (pulses, consumed) and leased setpoints
  step(now_ms, dt_ms)         control slot (100 ms): sensors -> control -> actuators, fault causes
  publish(bank)               control slot: its input registers, by named row consts
  reset(now_ms)               operator fault reset (never closes or starts anything)
Registers are addressed by `_R_<NAME> = const(row)` beside their use: mpy-cross folds them (no
heap), and host_tools/tests/test_register_bindings.py checks every one against the register map.
"""
