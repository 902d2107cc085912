"""Performance figures printed by `make bench` (a benchmark is "perf"; a "bench" is a test rig):
virtual board and firmware (run.py), module control (control.py), where the VM's time goes per
task (tasks.py), chip time per real board (chip.py), the service channel (service.py), heap
(heap.py), deploy (deploy.py), Modbus round trips (modbus.py) and the module FAT (fat.py); the
module-day soak is gridpod.hil.soak. Nothing here asserts."""
