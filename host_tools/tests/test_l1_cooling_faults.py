"""L1 closed loop, cooling part of the DOMAIN.md fault catalogue (issue #6): every fault injected
into the real plant under the real firmware on the virtual module, with the invariant monitors on.

Each case schedules one catalogue fault (host_tools/gridpod/plant/faults.py) at a simulated time,
runs the board in simulated time and checks the firmware's documented safe reaction against the
DOMAIN.md numbers (config defaults, firmware/app/config_schema.py and control/*.py):
  * the fault id (control/control_faults.py) raised in the event log, with its uptime (= sim ms),
  * the outputs from the plant's edge log: PUMPk_PWM (inverted: 65535 stop, 0 full speed),
    ZONEk_VALVE (1 = close), MIX_VALVE_PWM (inverted: 0 = full cooling, the fail position),
    ALARM_RELAY, K_*_COIL,
  * that the fault is not raised before the injection (the healthy part of the same run) and, where
    a timer or a side effect could raise it falsely, in a healthy twin run.
Reaction times are measured from the injection (or from the physical onset, e.g. a temperature
crossing a threshold, taken from the plant through a trace recorder) to the event's uptime.
Heap 110000 B, like test_control_closed_loop.py, whose helpers this file reuses.
"""

import pytest
from gridpod.firmware_tree import firmware_files
from test_control_closed_loop import (
    OPERATOR_MAIN,
    _board,
    _config,
    _edges,
    _faults,
    _first,
    _healthy,
)
from vboard_helpers import make_flash

# control/control_faults.py ids
PUMP_FAILED = 15
TACH_LOST = 16
PUMP_PWM_WIRE = 17
COOLING_LOST = 18
ROTATION_FAILED = 19
LOW_FLOW = 20
FILTER_CLOGGED = 21
RESERVOIR_LOW = 22
PRESSURE = 23
LEAK = 24
LEAK_CABLE = 25
CONDENSATION = 26
SENSOR = 27
VALVE = 28
COOLANT_OVER_TEMP = 29
COOLING_IDS = tuple(range(15, 30))

PWM_STOP = 65535  # inverted PWM: full duty = stop / no cooling, 0 = full speed / full cooling
FAST_TICK_MS = 10
CONTROL_TICK_MS = 100
TACH_WINDOW_MS = 500  # drivers/pump.py: rpm refreshed once per window
CLOSE_AT_MS = 15000  # contactor close request (closed at ~17.8 s: precharge ~2.7 s)


def _flash_with(tmp_path, close_at_ms=(), rotate_at_ms=()):
    """Firmware image: the operator main of test_control_closed_loop.py; with rotate_at_ms its
    pulse register is pump_rotation_request (Modbus coil of the lead/lag proof test) instead."""
    files = firmware_files("VIRTUAL")
    files["/config.json"] = _config(cooling_enabled=True, battery_enabled=True, grid_enabled=True)
    main = OPERATOR_MAIN
    at = close_at_ms
    if rotate_at_ms:
        assert not close_at_ms
        main = main.replace("('contactor_close_request',", "('pump_rotation_request',")
        at = rotate_at_ms
    files["/main.py"] = (main % (tuple(at), ())).encode()
    return make_flash(tmp_path / "f.img", files, with_hal=False)


class _Trace:
    """Trace recorder (MonitoredPlant.recorders): the first sim ms a predicate on the plant holds."""

    def __init__(self, predicate, after_ms=0):
        self.predicate = predicate
        self.after_ms = after_ms
        self.t_ms = None

    def on_outputs(self, now_ms, plant, changes):
        pass

    def on_advance(self, now_ms, plant):
        if self.t_ms is None and now_ms >= self.after_ms and self.predicate(plant):
            self.t_ms = now_ms


def _run(tmp_path, faults, until_s, close_at_ms=(), rotate_at_ms=(), traces=()):
    flash = _flash_with(tmp_path, close_at_ms=close_at_ms, rotate_at_ms=rotate_at_ms)
    vb, plant = _board(flash)
    plant.recorders.extend(traces)
    for name, params in faults:
        plant.faults.schedule(name, **params)
    with vb:
        vb.run_until(until_s)
        _healthy(vb, plant)
    return _faults(flash), plant


def _raised(faults, fid):
    return [e["uptime_ms"] for f, e in faults if f == fid]


def _ids(faults):
    return {f for f, _ in faults}


def _pwm_after(plant, role, t_ms):
    """The PWM duty in force at t_ms (last edge at or before it)."""
    duty = None
    for t, d in _edges(plant, role):
        if t > t_ms:
            break
        duty = d
    return duty


def _check_alarm(plant, t_fault_ms):
    on = _first(plant, "ALARM_RELAY", 1)
    assert on is not None, _edges(plant, "ALARM_RELAY")
    # SafeOutputs (fast slot) follows the fault table within one fast tick
    assert t_fault_ms <= on <= t_fault_ms + FAST_TICK_MS + 1, (on, t_fault_ms)


def _check_no_alarm(plant):
    assert _first(plant, "ALARM_RELAY", 1) is None, _edges(plant, "ALARM_RELAY")


def _check_coils_open(plant, t_fault_ms, limit_ms):
    """The contactors were closed (operator request at 15 s) and every coil dropped by
    t_fault_ms + limit_ms."""
    for role in ("K_NEG_COIL", "K_POS_COIL"):
        on = _first(plant, role, 1)
        assert on is not None and on < t_fault_ms, (role, _edges(plant, role))
        off = _first(plant, role, 0, after_ms=on)
        assert off is not None and off <= t_fault_ms + limit_ms, (role, off, t_fault_ms)
        assert _edges(plant, role)[-1][1] == 0, (role, _edges(plant, role))  # no re-close


# ---------------------------------------------------------------------------------------------
# One fault, one run: (fault, params, inject at s, run until s, fault id, reaction window in ms
# after the injection, alarm relay expected, ids that must NOT be raised)
# ---------------------------------------------------------------------------------------------
SIMPLE = [
    # Sensors. An open/short NTC reads None and the voter drops it at once (next control tick).
    pytest.param("ntc_open", {"role": "T_SUPPLY2"}, 30, 32, SENSOR, (0, 200), True, (),
                 id="ntc_open"),
    pytest.param("ntc_short", {"role": "T_SUPPLY1"}, 30, 32, SENSOR, (0, 200), True, (),
                 id="ntc_short"),
    # One of three supply sensors 1.5 K off the two others (limit 1.0 K) for 30 s: dropped.
    pytest.param("sensor_drift", {"role": "T_SUPPLY3", "offset": 1.5}, 30, 62, SENSOR,
                 (30000, 30300), True, (), id="redundant_sensors_disagree"),
    # 4-20 mA below 3.6 mA / above 21 mA: invalid (None), never a plausible pressure; the flow
    # loop keeps the pumps going; a 22 mA return transmitter is no over-pressure trip.
    pytest.param("transmitter_out_of_band", {"role": "P_SUPPLY", "i_ma": 2.0}, 30, 32, SENSOR,
                 (0, 200), True, (PRESSURE,), id="4_20mA_below_3.6mA"),
    pytest.param("transmitter_out_of_band", {"role": "P_RETURN", "i_ma": 22.0}, 30, 32, SENSOR,
                 (0, 200), True, (PRESSURE,), id="4_20mA_above_21mA"),
    # Tach 0 at >= min speed for 2 s while the flow is fine: the wire, not the pump (warn only).
    # The rpm reads 0 one to two tach windows after the wire breaks (the window holding the
    # break still counts pulses), then the 2 s run.
    pytest.param("tach_wire_broken", {"pump": 1}, 30, 40, TACH_LOST,
                 (2000, 2000 + 2 * TACH_WINDOW_MS + CONTROL_TICK_MS), False, (PUMP_FAILED,),
                 id="tach_wire_broken_warn_only"),
    # Valves: both limit switches at once on 2 samples = wiring fault.
    pytest.param("valve_both_limit_switches", {"zone": 1}, 30, 32, VALVE, (0, 300), True, (),
                 id="valve_both_limit_switches"),
]  # fmt: skip


@pytest.mark.parametrize("name, params, at_s, until_s, fid, window, alarm, never", SIMPLE)
def test_fault_raised_in_time(tmp_path, name, params, at_s, until_s, fid, window, alarm, never):
    faults, plant = _run(tmp_path, [(name, dict(params, at_s=at_s))], until_s)
    at_ms = at_s * 1000
    raised = _raised(faults, fid)
    assert raised, faults
    assert not [t for t in raised if t < at_ms], ("raised before the injection", raised)
    dt = raised[0] - at_ms
    assert window[0] <= dt <= window[1], (name, "reaction ms", dt, window)
    assert not _ids(faults) & set(never), faults
    if alarm:
        _check_alarm(plant, raised[0])
    else:
        _check_no_alarm(plant)
    # the lead pump keeps running on the flow loop (none of these stops cooling)
    assert plant.coolant.flow_lpm >= 90.0, plant.coolant.flow_lpm
