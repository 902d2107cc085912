"""Modbus on the host: the firmware's register map loaded on CPython (register_map.py), the client
that reads and writes registers by name (client.py) and the generated register docs."""
