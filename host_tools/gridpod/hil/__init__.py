"""HIL framework: benches (what runs the firmware) and the pytest plugin that hands them to tests.

Tests ask for capabilities, never for a device:
  console   a MicroPython REPL that mpremote can drive
  modbus    the module's RS-485 Modbus port
  plant     a simulated plant (outputs observed, inputs driven) and a simulated clock
  power     power cycle / brown-out on command
A test marked @pytest.mark.needs("plant") is skipped, with the reason, on a bench without it.
"""
