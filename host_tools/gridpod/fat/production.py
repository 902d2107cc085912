"""The unit's production config: what the FAT pushes first and judges everything against.

A module leaves the factory with its own config (module id, subsystems on, tuning, operator PIN).
`gridpod fat --config FILE` names that file (checked by the firmware's own rules, as
`gridpod config validate`); without it the FAT builds the full module's: the schema defaults with
cooling, battery and grid enabled, the module id of --module-id and an operator PIN hash.

The FAT needs the operator PIN to write setpoints and commands over Modbus. It never travels on a
command line: `--pin` is read from the environment (GRIDPOD_FAT_PIN) or, for the built-in config,
is the FAT's own DEFAULT_PIN (the virtual module's).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import GridpodError

DEFAULT_MODULE_ID = "POD-FAT-0001"
DEFAULT_PIN = "2468"
PIN_ENV = "GRIDPOD_FAT_PIN"
SUBSYSTEMS = ("cooling_enabled", "battery_enabled", "grid_enabled")


class ProductionConfigError(GridpodError):
    pass


def full_module_values(module_id: str = DEFAULT_MODULE_ID, pin: str = DEFAULT_PIN) -> dict:
    """The full module's production values: schema defaults, every subsystem on."""
    from ..build.tree import import_firmware
    from ..device.config import firmware_config

    values = dict(firmware_config().defaults(), module_id=module_id)
    values.update(dict.fromkeys(SUBSYSTEMS, True))
    values["pin_operator"] = import_firmware("app.access").hash_pin(pin)
    return values


def production_values(path: str | Path | None, module_id: str | None) -> dict[str, Any]:
    """The values to push: the file's (validated; --module-id must agree when both are given),
    else the built-in full module's."""
    if path is None:
        return full_module_values(module_id or DEFAULT_MODULE_ID, fat_pin(None))
    from ..device.config import validate_file

    values = validate_file(Path(path))
    if module_id and values["module_id"] != module_id:
        raise ProductionConfigError(
            f"--config {path} is for module {values['module_id']}, not --module-id {module_id}"
        )
    if not values.get("pin_operator"):
        raise ProductionConfigError(
            f"--config {path} has no operator PIN (pin_operator): the FAT cannot write setpoints"
        )
    return values


def fat_pin(path: str | Path | None) -> str:
    """The operator PIN the FAT unlocks with: GRIDPOD_FAT_PIN, or DEFAULT_PIN for the built-in
    config (a file of the user's needs its own PIN in the environment)."""
    pin = os.environ.get(PIN_ENV)
    if pin:
        return pin
    if path is not None:
        raise ProductionConfigError(
            f"--config {path}: set {PIN_ENV} to its operator PIN (never on the command line)"
        )
    return DEFAULT_PIN


def write_values(values: dict[str, Any], path: Path) -> Path:
    """A values file `gridpod config push` accepts (the pushed copy kept with the report)."""
    path = Path(path)
    path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    return path


def tuning(values: dict[str, Any], vector: str) -> dict[str, int]:
    """{element name: value} of a tuning vector (contactor_tuning, cooling_tuning, grid_tuning)."""
    from ..device.config import firmware_config

    names = [row[0] for row in firmware_config().tuning_rows(vector)]
    return dict(zip(names, values[vector], strict=True))
