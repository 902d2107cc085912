"""HIL framework: benches (what runs the firmware), their capability objects, the boot strategy
and the pytest plugin that hands them to tests.

Tests ask for capabilities, never for a device (hil/bench.py has the list):
  console       a MicroPython REPL that mpremote can drive
  console_log   what the board printed
  modbus        the module's RS-485 Modbus port
  plant         a simulated plant (outputs observed, inputs driven) and a simulated clock
  power         power cycle / brown-out on command
  harness       the host end of the harness (registered channels, values sent)
A test marked @pytest.mark.needs("plant") is skipped, with the reason, on a bench without it.
"""
