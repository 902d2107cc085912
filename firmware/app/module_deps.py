"""The modules app/module.py imports for each subsystem, so the App can load all the code before
any object is built (boot only; forgotten once the module is built).

Why: on a 64 KiB heap, fragmentation fails first. Imports leave holes (file buffers, loader
temporaries) between the code they load; objects built in between (the cooling drivers before
the battery's modules are imported, say) end up scattered among those holes, and a later
instance dict growing to a few hundred bytes finds no room. Loading every enabled subsystem's
code first, then building the objects, let the full module boot at --heap 78K instead of 84K
(measured, VIRTUAL board, all subsystems). A module missing here is still imported by
app/module.py when needed: this list only orders the work.
"""

COOLING = ("control.cooling", "drivers.sensors", "drivers.actuators")
BATTERY = ("control.contactors", "control.interlocks", "drivers.actuators", "drivers.sensors")
GRID = ("control.grid", "drivers.sensors", "drivers.actuators")


def preload(cfg):
    """Import the code of every subsystem the config enables (and app.module itself)."""
    __import__("app.module")
    for flag, names in (
        ("cooling_enabled", COOLING),
        ("battery_enabled", BATTERY),
        ("grid_enabled", GRID),
    ):
        if cfg[flag]:
            for name in names:
                __import__(name)
