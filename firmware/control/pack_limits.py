"""Battery pack limits (DOMAIN.md "Battery limits are trips"), pure.

The published safety limits pack_voltage_max_v, pack_current_max_a (either direction) and
pack_temp_max_ddegc (holding registers 303, 304, 308) are trips: each reports its cause to a fatal,
latched fault row (control/fault_rows.py FAULT_PACK_*) whose actions open the contactors. The
debounce is the row's (count of fast samples, or ms), so a single noisy sample never trips.

Inputs fail to their unsafe reading: a current or temperature sensor that reads a rail (None from
its driver) is reported as over its limit, with sub-code SUB_SENSOR instead of SUB_LIMIT, so the
event log says which it was. The cause attributes are the sub-codes themselves (0: no cause).
"""

from micropython import const

SUB_LIMIT = const(1)  # the measured value is above its limit
SUB_SENSOR = const(2)  # the sensor failed: an unknown value counts as over the limit


class PackLimits:
    def __init__(self, cfg):
        self.v_max_dv = cfg["pack_voltage_max_v"] * 10
        self.i_max_da = cfg["pack_current_max_a"] * 10
        self.t_max_cdegc = cfg["pack_temp_max_ddegc"] * 10
        self.over_voltage = 0
        self.over_current = 0
        self.over_temp = 0

    def step_fast(self, v_pack_dv, i_da):
        """Fast tick: pack voltage (dV) and current (dA, None when the sensor failed)."""
        self.over_voltage = SUB_LIMIT if v_pack_dv > self.v_max_dv else 0
        if i_da is None:
            self.over_current = SUB_SENSOR
        elif i_da > self.i_max_da or -i_da > self.i_max_da:
            self.over_current = SUB_LIMIT
        else:
            self.over_current = 0

    def step_control(self, t_cdegc):
        """Control tick: pack temperature (0.01 degC, None when the NTC is open or short)."""
        if t_cdegc is None:
            self.over_temp = SUB_SENSOR
        else:
            self.over_temp = SUB_LIMIT if t_cdegc > self.t_max_cdegc else 0
