"""The firmware's register map (firmware/comms/register_map.py) loaded on CPython: the one table
the firmware serves, the client reads and the docs are generated from."""

import importlib.util
from typing import NamedTuple

from ..build.tree import FIRMWARE_DIR

MAP_FILE = FIRMWARE_DIR / "comms" / "register_map.py"


def _load():
    spec = importlib.util.spec_from_file_location("gridpod_fw_register_map", MAP_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fw = _load()
MAP_VERSION: int = fw.MAP_VERSION
MAGIC: int = fw.MAGIC


class Register(NamedTuple):
    kind: str
    addr: int
    name: str
    type: str
    words: int
    scale: int
    unit: str
    access: str
    default: object
    min: int | None
    max: int | None


REGISTERS: dict[str, Register] = {r[2]: Register(*r) for r in fw.rows()}
MAP_CRC: int = fw.map_crc()
