"""Pure control logic: no I/O, no clock. Every function takes readings and now_ms as arguments.

Unit suffixes, the same in config keys, control, drivers and the HAL (foxBMS style):
  _ms  milliseconds            _us   microseconds          _s    seconds
  _dv  0.1 V (decivolt)        _da   0.1 A (deciampere)    _mv   millivolt    _ua  microampere
  _w   watt                    _kw   kilowatt              _kwh  kilowatt-hour
  _ddegc  0.1 degC             _cdegc  0.01 degC
  _dlpm   0.1 L/min            _lpm    L/min
  _mbar   millibar             _kpa    kilopascal
  _pct    percent              _cpct   0.01 %              _pm   0.1 % (per mille)
  _rpm    revolutions per minute
Registers (comms/register_map.py) name the physical unit (`supply_temp_c`) and carry the
resolution in their scale column (-1: 0.1 degC), as SunSpec does.
"""
