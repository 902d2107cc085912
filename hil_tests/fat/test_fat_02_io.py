"""Factory acceptance I/O check: after a power-on, every pin of the board file that the firmware
uses is registered with the mode the board file gives it, every output is driven (its value
reaches the plant) and every input is read at registration.

Roles behind the control subsystems' config flags (cooling_enabled, battery_enabled,
grid_enabled: off in the factory default config this FAT boots) are listed in BEHIND_FLAGS; the L1
closed-loop tests drive them with the flags on. A role missing from the firmware and not in that
list fails the test; a listed role the firmware does register is checked like any other."""

import json

import pytest
from gridpod.hil.strategy import boot_banners
from gridpod.vboard.board_file import load_board_file

pytestmark = pytest.mark.needs("plant", "power", "console_log", "harness")

OUTPUT_MODES = {"out", "pwm"}
BEHIND_FLAGS = {  # module.py builds their drivers only when a subsystem is enabled
    "PUMP1_PWM", "PUMP2_PWM", "PUMP1_TACH", "PUMP2_TACH", "FLOW_PULSE",
    "ZONE1_VALVE", "ZONE1_VALVE_OPEN_LS", "ZONE1_VALVE_CLOSED_LS",
    "ZONE2_VALVE", "ZONE2_VALVE_OPEN_LS", "ZONE2_VALVE_CLOSED_LS",
    "MIX_VALVE_PWM", "MIX_VALVE_FB", "K_NEG_AUX", "K_PRE_AUX", "K_POS_AUX",
    "T_SUPPLY1", "T_SUPPLY2", "T_SUPPLY3", "T_RETURN", "P_SUPPLY", "P_RETURN",
    "V_PACK", "V_LINK", "I_PACK", "LEAK_ZONE1", "LEAK_ZONE2", "LEVEL_OK", "INTERLOCK_LOOP",
    "T_BATTERY", "IT_KW", "GRID_KW", "PCS_ENABLE", "PCS_PWM", "FILTER_DP", "DEW_POINT",
}  # fmt: skip


class OutputLog:
    """A trace recorder that keeps every output change the plant receives."""

    def __init__(self):
        self.changes: list[tuple[int, str, int]] = []

    def on_outputs(self, now_ms, plant, changes=None):
        self.changes += [(now_ms, role, v) for role, v in (changes or {}).items()]

    def on_advance(self, now_ms, plant):
        pass


@pytest.mark.req("REQ-IO-002")
def test_every_board_role_registered_driven_and_read(bench):
    pins = load_board_file(bench.board_name)["pins"]
    log = OutputLog()
    bench.plant.recorders.append(log)
    bench.plant.plant.registered.clear()  # a record of registrations only: refilled at boot
    try:
        boot_ms = round(bench.sim_s * 1000)
        bench.strategy.reset()
        bench.run_for(1.0)
    finally:
        bench.plant.recorders.remove(log)
    registered = dict(bench.plant.registered)
    print("registered at boot:", json.dumps(registered))
    banner = boot_banners(bench.console_log.text_since(0))[-1]
    assert "reset cause 1;" in banner, banner  # a power-on, as the bench asked for

    unknown = {r: k for r, k in registered.items() if r not in pins}
    assert not unknown, f"firmware registered roles the board file does not have: {unknown}"
    wrong = {r: (k, pins[r]["mode"]) for r, k in registered.items() if k != pins[r]["mode"]}
    assert not wrong, f"registered mode differs from the board file (firmware, board): {wrong}"
    missing = set(pins) - set(registered) - BEHIND_FLAGS
    assert not missing, f"board roles the firmware never registered: {sorted(missing)}"

    outputs = {r for r, k in registered.items() if k in OUTPUT_MODES}
    inputs = set(registered) - outputs
    assert outputs >= {"STATUS_LED", "HEALTHY_RELAY", "K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL"}
    assert "SAFE_MODE_BUTTON" in inputs
    driven = {role for t, role, _ in log.changes if t >= boot_ms}
    assert outputs <= driven, f"outputs never driven after boot: {sorted(outputs - driven)}"
    # each input channel got the plant's value at registration and follows it afterwards
    sent = bench.harness.boot
    now = bench.plant.read_inputs()
    for ch, role in enumerate(sent.roles):
        if role in inputs:
            assert sent.sent[ch] == now.get(role, 0), role
