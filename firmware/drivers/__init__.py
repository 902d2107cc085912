"""Device drivers: one device per module, built from HAL objects (never pin numbers).

Every reading is an int in the unit its name carries, or None when the signal is invalid (open,
short, out of band): never a clamped plausible value. The numbers come from drivers/transfer.py.
"""
