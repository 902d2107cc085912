"""Reservoir level switch: 1 = level above the low switch (pump may run)."""


class LevelSwitch:
    def __init__(self, din):
        self._in = din

    def ok(self):
        return bool(self._in.value())
