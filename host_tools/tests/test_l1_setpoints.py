"""L1: the cooling setpoints and the newly published values, over real Modbus RTU.

The full module (cooling, battery, grid) on the virtual module with the plant model and the
invariant monitors; an independent master (minimalmodbus on the RS-485 pty) unlocks
the operator level with the PIN, lengthens the setpoint lease and writes flow_setpoint_lpm
(holding 100). The plant's own flow (not the firmware's reading) follows the setpoint; a setpoint
below the safe band is clamped to half the configured one; the dew point the plant's transmitter
reports and the interlock status are published as input registers.
Before the subsystems were bound by name these setpoints were accepted, leased and reverted but
never reached the control, and the dew point read "not available" forever.
"""

import time

import pytest
from gridpod.hil.monitors import MonitoredPlant
from gridpod.hil.operator import module_board, module_flash
from gridpod.modbus.client import instrument
from gridpod.plant import Plant

PIN = "2468"
HEAP_BYTES = 110000
CONFIG_FLOW_LPM = 100  # app/config.py default flow_setpoint_lpm
# register addresses (comms/register_map.py)
H_FLOW_SETPOINT = 100
H_LEASE_S = 110
H_ACCESS_PIN = 201
I_DEW_POINT = 5
I_FLOW = 6
I_BATTERY_POWER_LIMIT = 47
I_INTERLOCK_STATUS = 48
STATUS_BATTERY_PERMIT = 4  # control/interlocks.py: bit 2


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    from gridpod.build.tree import import_firmware

    hash_pin = import_firmware("app.access").hash_pin
    flash = module_flash(tmp_path_factory.mktemp("sp"), main=False, pin_operator=hash_pin(PIN))
    plant = MonitoredPlant(Plant(seed=1, profile="training"))
    with module_board(flash, plant, HEAP_BYTES, speed=20) as vb:
        vb.wait_console(b"gridpod: module", timeout_s=30)
        yield vb, plant


@pytest.fixture(scope="module")
def master(module):
    vb, _ = module
    inst = instrument(vb.modbus_port, 1)
    inst.clear_buffers_before_each_transaction = True
    words = PIN.encode().ljust(8, b"\0")
    inst.write_registers(H_ACCESS_PIN, [words[i] << 8 | words[i + 1] for i in range(0, 8, 2)])
    inst.write_register(H_LEASE_S, 3600)  # the test holds its setpoints for the whole run
    yield inst
    inst.serial.close()


def _plant_flow_after(vb, plant, sim_s):
    """The plant's mean flow (L/min) over the last 10 simulated seconds of a sim_s wait."""
    end = vb.sim_ms / 1000 + sim_s
    vb.run_until(end - 10)
    samples = []
    while vb.sim_ms / 1000 < end:
        samples.append(plant.coolant.flow_lpm)
        time.sleep(0.05)
    assert plant.violation is None, plant.violation
    return sum(samples) / len(samples)


def test_flow_setpoint_written_over_modbus_moves_the_plant_flow(module, master):
    vb, plant = module
    before = _plant_flow_after(vb, plant, 60)
    assert abs(before - CONFIG_FLOW_LPM) < 10, before
    master.write_register(H_FLOW_SETPOINT, 80)  # one pump's full speed gives ~120 L/min here
    after = _plant_flow_after(vb, plant, 60)
    assert abs(after - 80) < 8, after
    assert abs(master.read_register(I_FLOW, 1, functioncode=4) - after) < 15


def test_flow_setpoint_below_the_safe_band_is_clamped(module, master):
    vb, plant = module
    master.write_register(H_FLOW_SETPOINT, 10)  # the register accepts 0..1000
    flow = _plant_flow_after(vb, plant, 60)
    assert abs(flow - CONFIG_FLOW_LPM / 2) < 8, flow  # clamped to half the configured 100


def test_dew_point_and_interlock_status_are_published(module, master):
    vb, plant = module
    dew_c = master.read_register(I_DEW_POINT, 1, functioncode=4, signed=True)
    assert abs(dew_c - plant.coolant.dew_point_c) < 0.5, (dew_c, plant.coolant.dew_point_c)
    status = master.read_register(I_INTERLOCK_STATUS, functioncode=4)
    assert status & STATUS_BATTERY_PERMIT, status  # loop closed, flow proven, no fault
    assert master.read_register(I_BATTERY_POWER_LIMIT, functioncode=4) == 100
