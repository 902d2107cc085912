"""Firmware version, published in the Modbus identity block as major x 256 + minor."""

FIRMWARE_VERSION_MAJOR = 0
FIRMWARE_VERSION_MINOR = 4
