"""Helpers shared by the firmware unit tests; runs on CPython and on the MicroPython unix port."""

import os
import sys
from binascii import hexlify

IS_MICROPYTHON = sys.implementation.name == "micropython"

BOARD = {
    "board": "TEST",
    "hal": "fake",
    "heap_bytes": 65536,
    "pins": {
        "STATUS_LED": {"pin": 2, "mode": "out"},
        "HEALTHY_RELAY": {"pin": 3, "mode": "out"},
        "PUMP1_PWM": {"pin": 4, "mode": "pwm"},
        "ZONE1_VALVE": {"pin": 9, "mode": "out"},
        "K_NEG_COIL": {"pin": 17, "mode": "out"},
        "K_PRE_COIL": {"pin": 19, "mode": "out"},
        "K_POS_COIL": {"pin": 21, "mode": "out"},
        "LEAK_ZONE1": {"pin": 32, "mode": "in"},
        "SAFE_MODE_BUTTON": {"pin": 36, "mode": "in"},
    },
    "uarts": {"RS485": {"id": 1, "tx": 60, "rx": 61, "de": 62}},
}

_counter = [0]
_base = []


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _rmtree(path):
    for name in os.listdir(path):
        full = path + "/" + name
        if os.stat(full)[0] & 0x4000:
            _rmtree(full)
        else:
            os.remove(full)
    os.rmdir(path)


def tmp_dir():
    """A fresh empty directory under /tmp (os.mkdir only, so it works on MicroPython); ends in '/'."""
    if not _base:
        _base.append("/tmp/gridpod-fwtest-" + hexlify(os.urandom(4)).decode())
        os.mkdir(_base[0])
    base = _base[0]
    _counter[0] += 1
    path = "%s/t%d" % (base, _counter[0])
    if _exists(path):
        _rmtree(path)
    os.mkdir(path)
    return path + "/"


def exists(path):
    return _exists(path)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


class WorkTask:
    """A task that spends `work_us` of fake CPU time per tick and checks in while `alive`."""

    def __init__(self, platform, work_us=0, record=True):
        self.platform = platform
        self.work_us = work_us
        self.alive = True
        self.count = 0
        self.calls = [] if record else None

    def tick(self, now_ms):
        self.count += 1
        if self.calls is not None:
            self.calls.append(now_ms)
        if self.work_us:
            self.platform.add_work_us(self.work_us)
        return self.alive


def fake_platform(board=None):
    from hal.fake import open_platform

    return open_platform(board if board is not None else BOARD)


_control_defaults = []


def control_cfg(**overrides):
    """What the control constructors read: every config value and tuning element at its one
    default (app/config.py), plus `overrides`. The defaults are parsed once (heap on the VM)."""
    if not _control_defaults:
        from app import config

        values = config.defaults()
        cfg = config.expand_tuning(values)
        cfg.update(values)
        _control_defaults.append(cfg)
    cfg = dict(_control_defaults[0])
    cfg.update(overrides)
    return cfg
