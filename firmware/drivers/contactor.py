"""Contactor: coil output (1 = energised = closed) and an auxiliary contact input (1 = closed)."""


class Contactor:
    def __init__(self, coil, aux):
        self._coil = coil
        self._aux = aux
        self.commanded = False
        coil.value(0)

    def set(self, closed):
        self.commanded = bool(closed)
        self._coil.value(1 if closed else 0)

    def aux_closed(self):
        return bool(self._aux.value())
