"""The firmware's own numbers for the state words a FAT reads over Modbus (contactor and cooling
states, interlock status bits, fault action bits, the battery's, valves' and grid's status bits),
read from its modules so that a renumbering in the firmware never silently breaks a verdict."""

from ..build.tree import import_firmware


def _const(module: str, name: str) -> int:
    return getattr(import_firmware(module), name)


class States:
    """The firmware's own numbers for the state registers (read from its modules)."""

    def __init__(self):
        c = "control.contactors"
        self.OPEN, self.PRECHARGING = _const(c, "OPEN"), _const(c, "PRECHARGING")
        self.CLOSED, self.FAULT = _const(c, "CLOSED"), _const(c, "FAULT")
        self.COOLING_OK = _const("control.cooling", "HEALTH_OK")
        self.PERMIT = _const("control.interlocks", "_STATUS_BATTERY_PERMIT")
        self.ALARM = _const("control.interlocks", "_STATUS_ALARM")
        self.ACTION_ALARM = _const("control.faults", "ACTION_ALARM")  # fault_actions bit
        self.POLE_COMMANDED = _const("app.subsystems.battery", "_POLE_COMMANDED")
        self.POLE_AUX = _const("app.subsystems.battery", "_POLE_AUX_CLOSED")
        cooling = "app.subsystems.cooling"
        self.VALVE_CLOSE = _const(cooling, "_VALVE_CLOSE_COMMANDED")
        self.VALVE_AT_OPEN = _const(cooling, "_VALVE_AT_OPEN")
        self.VALVE_AT_CLOSED = _const(cooling, "_VALVE_AT_CLOSED")
        self.GRID_DISCHARGING = _const("app.subsystems.grid", "_GRID_DISCHARGING")
        self.RESET_LOCKOUT = _const("app.modbus_points", "FLAG_RESET_LOCKOUT")
