"""On/off zone isolation valve: one coil output and two limit switches (1 = at the limit).

The coil energises to CLOSE (fail-open: a dead controller keeps the zone cooled).
"""


class OnOffValve:
    def __init__(self, coil, open_ls, closed_ls):
        self._coil = coil
        self._open_ls = open_ls
        self._closed_ls = closed_ls
        self.close_commanded = False
        coil.value(0)

    def command_close(self, close):
        """Every fast tick; the coil is written when the command changes (this driver alone
        drives it), so a steady valve costs the tick no output call."""
        close = bool(close)
        if close != self.close_commanded:
            self.close_commanded = close
            self._coil.value(1 if close else 0)

    def at_open(self):
        return bool(self._open_ls.value())

    def at_closed(self):
        return bool(self._closed_ls.value())
