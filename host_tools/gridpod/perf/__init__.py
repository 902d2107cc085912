"""Performance figures printed by `make bench` (a benchmark is "perf"; a "bench" is a test rig):
virtual board and firmware (run.py), module control (control.py), deploy (deploy.py) and Modbus
round trips (modbus.py). Nothing here asserts."""
