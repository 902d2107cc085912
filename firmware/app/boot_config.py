"""The config as the running App keeps it: the values and how loading went, without the parser.

app/config.py (JSON parsing, validation against the schema, canonical JSON, CRC) is needed only
while booting; app/startup.py loads the config through load() before the App's modules are
imported, then unloads app.config, so the heap never holds the parser and the register bank
at the same time (measured: app/startup.py BOOT_ONLY). This module imports app.config only inside
load(): app.config does not import this one (no import cycle).
"""


def _interned(values):
    """values with its keys interned (qstrs, as identifiers are). A parsed key is a heap str of
    its own (~64 bytes on the VM); interned, the dict keys cost nothing more, and so does every
    later-loaded module's constant with the same text (cfg["flow_setpoint_lpm"] in the control
    code): the .mpy loader shares a constant string with an existing qstr. Interning happens
    through setattr on a throwaway class, the one portable way to make a qstr at run time.
    (qstrs are never freed; these are the config schema's keys, a fixed set.)"""

    class _Keys:
        pass

    for key in values:
        setattr(_Keys, key, None)
    out = {}
    for key in _Keys.__dict__:
        if key in values:
            out[key] = values[key]
    return out


class LoadedConfig:
    """path, values (dict), status (app.config CONFIG_*), invalid (the file was rejected: defaults
    in use, maintenance mode), from_defaults (no file), errors (list of str), note (console line),
    crc;
    trial: these values are a pushed config on trial (app/config_trial.py), not committed yet;
    restored: (reason code, detail, text) when this boot restored the previous config;
    tuning: the tuning vectors by element name (app.config.expand_tuning), for the control
    objects' constructors only: the App drops it once the module is built."""

    def __init__(self, store, tuning, invalid, from_defaults):
        self.path = store.path
        self.invalid = invalid
        self.from_defaults = from_defaults
        self.tuning = tuning
        self.values = _interned(store.values)
        self.status = store.status
        self.errors = store.errors
        self.note = store.note
        self.crc = store.crc
        self.trial = False
        self.restored = None

    def get(self, key):
        return self.values[key]


def load(path):
    """LoadedConfig of the file at path (defaults when missing, maintenance values if invalid)."""
    from app.config import (  # boot only; unloaded afterwards
        CONFIG_DEFAULTS,
        CONFIG_INVALID,
        ConfigStore,
        expand_tuning,
    )

    store = ConfigStore(path)
    status = store.load()
    tuning = expand_tuning(store.values)
    return LoadedConfig(store, tuning, status == CONFIG_INVALID, status == CONFIG_DEFAULTS)
