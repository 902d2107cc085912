"""4-20 mA transmitter on a 150 Ohm shunt; pressure in mbar (0..range_mbar for 4..20 mA).

Below 3.6 mA (broken loop) or above 21 mA (short, failed transmitter) the value is None (NAMUR
NE43): out of band is a sensor fault, never a clamped plausible pressure. A stale sample (the
ADC returning the very same raw counts on stale_reads reads in a row: a frozen converter, a stuck
multiplexer channel; a live 4-20 mA loop always moves by a few LSB) is None as well.
"""

from micropython import const

from drivers.transfer import (
    PRESSURE_RANGE_MBAR,
    TX_FAULT_HIGH_UA,
    TX_FAULT_LOW_UA,
    TX_MAX_UA,
    TX_MIN_UA,
    TX_SHUNT_OHM,
    counts_mv,
)

_STALE_READS = const(50)  # 5 s at the 100 ms control tick


class Transmitter:
    def __init__(self, adc, range_mbar=PRESSURE_RANGE_MBAR, stale_reads=_STALE_READS):
        self._adc = adc
        self._range = range_mbar
        self._stale_reads = stale_reads
        self._last = -1
        self._same = 0

    def current_ua(self):
        return counts_mv(self._adc.read_u16()) * 1000 // TX_SHUNT_OHM

    def value_mbar(self):
        counts = self._adc.read_u16()
        if counts != self._last:
            self._last = counts
            self._same = 0
        elif self._same < self._stale_reads:
            self._same += 1
        if self._same >= self._stale_reads:
            return None
        ua = counts_mv(counts) * 1000 // TX_SHUNT_OHM
        if ua < TX_FAULT_LOW_UA or ua > TX_FAULT_HIGH_UA:
            return None
        return (ua - TX_MIN_UA) * self._range // (TX_MAX_UA - TX_MIN_UA)
