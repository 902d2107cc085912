"""NTC thermistor (10 kOhm @ 25 degC, beta 3950) on the low side of a 10 kOhm divider from 3.3 V.

Temperature in 0.01 degC (int). Open NTC reads near full scale, a short near 0: both give None.
Integer only: the beta curve is sampled once (at the first Ntc built, float math at boot) every
_STEP_COUNTS ADC counts into one shared table, and a reading interpolates linearly between two
points. Worst interpolation error 0.07 degC at 100 degC, below 0.03 degC from -20 to 80 degC;
a reading allocates nothing (no float garbage every control tick, a few us on a chip).
"""

from array import array

from micropython import const

from drivers.transfer import ADC_FULL_SCALE, NTC_BETA_K, NTC_DIVIDER_OHM, NTC_R25_OHM

_MARGIN_COUNTS = const(100)  # ~ -90 degC / +250 degC: beyond any real coolant temperature
_SHIFT = const(9)
_STEP_COUNTS = const(512)  # 1 << _SHIFT: 128 intervals over the 16-bit range
_POINTS = const(129)

_curve: list = []  # [array of cdegc at every _STEP_COUNTS counts], built by the first Ntc


def _beta_cdegc(counts):
    import math

    counts = min(max(counts, _MARGIN_COUNTS), ADC_FULL_SCALE - _MARGIN_COUNTS)
    r = NTC_DIVIDER_OHM * counts / (ADC_FULL_SCALE - counts)
    inv_t = 1.0 / 298.15 + math.log(r / NTC_R25_OHM) / NTC_BETA_K
    return int(round((1.0 / inv_t - 273.15) * 100.0))


def _table():
    if not _curve:
        _curve.append(array("i", [_beta_cdegc(i * _STEP_COUNTS) for i in range(_POINTS)]))
    return _curve[0]


class Ntc:
    def __init__(self, adc):
        self._adc = adc
        self._curve = _table()

    def temp_cdegc(self):
        counts = self._adc.read_u16()
        if counts < _MARGIN_COUNTS or counts > ADC_FULL_SCALE - _MARGIN_COUNTS:
            return None
        curve = self._curve
        i = counts >> _SHIFT
        t0 = curve[i]
        return t0 + (curve[i + 1] - t0) * (counts & (_STEP_COUNTS - 1)) // _STEP_COUNTS
