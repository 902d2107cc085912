"""SafeOutputs (app/outputs.py): coils held open until handed over; a dead sequencer's coils are
opened within one fast tick (safety review M1); the healthy relay is energised only by a healthy
tick and drops for every fault with the alarm action and every non-normal mode (safety review M8);
the fault lamp shows a fatal fault in the fast tick it is first seen (the monitors' window into
the firmware)."""

from app import state
from app.outputs import SafeOutputs
from control.faults import ACTION_ALARM, SEVERITY_FATAL, SEVERITY_WARNING, FaultTable
from support import BOARD, fake_platform

LAMP_BOARD = dict(BOARD, pins=dict(BOARD["pins"], FAULT_LAMP={"pin": 44, "mode": "out"}))


def _outputs():
    state.reset()
    p = fake_platform()
    return p, SafeOutputs(p, BOARD)


def _levels(p):
    return [p.outputs[r].level for r in ("K_POS_COIL", "K_PRE_COIL", "K_NEG_COIL")]


def test_coils_held_open_until_handed_over():
    p, out = _outputs()
    for coil in out.coils:
        coil.value(1)
    out.tick(0)
    assert _levels(p) == [0, 0, 0]


def test_a_live_sequencer_keeps_its_coils():
    p, out = _outputs()
    coils = out.hand_over_coils()
    coils["K_NEG_COIL"].value(1)
    coils["K_POS_COIL"].value(1)
    for t in range(0, 100, 10):
        out.tick(t)
        out.sequencer_alive()  # the sequencer's fast step completed
    assert _levels(p) == [1, 0, 1] and out.sequencer_lost == 0


def test_a_dead_sequencer_has_its_coils_opened_within_one_tick():
    p, out = _outputs()
    coils = out.hand_over_coils()
    out.tick(0)
    coils["K_NEG_COIL"].value(1)
    coils["K_POS_COIL"].value(1)
    out.sequencer_alive()
    out.tick(10)  # the step of frame 0 completed: coils stay
    assert _levels(p) == [1, 0, 1]
    # frame 1: the sequencer raised before reporting (TASK_ERROR); frame 2 opens everything
    out.tick(20)
    assert _levels(p) == [0, 0, 0] and out.sequencer_lost == 1


class _AlarmFaults:
    """A fault table with an active fault demanding the alarm (what SafeOutputs reads)."""

    action_mask = ACTION_ALARM
    fatal_count = 0  # a warning: no fatal fault


def test_the_healthy_relay_is_energised_only_by_a_healthy_tick():
    """Safety review M8: the relay was energised = alarm, so a dead, hung or safe-booted
    controller (a pin nobody drives) raised no alarm. Now energised = healthy."""
    p, out = _outputs()
    relay = p.outputs["HEALTHY_RELAY"]
    assert relay.level == 0  # built (boot): alarm until a healthy tick
    out.tick(0)
    assert relay.level == 1 and not out.alarm_on  # normal mode, no fault: healthy
    out.force_safe()  # leaving the loop (Ctrl-C, crash)
    assert relay.level == 0 and out.alarm_on
    for mode in ("maintenance", "safe_mode", "safe_boot"):
        out.tick(10)
        assert relay.level == 1
        setattr(state, mode, True)
        out.tick(20)
        assert relay.level == 0 and out.alarm_on, mode
        setattr(state, mode, False)
    state.faults = _AlarmFaults()
    out.tick(30)
    assert relay.level == 0  # a fault with the alarm action, within the tick
    state.reset()
    out.tick(50)
    assert relay.level == 1


def test_the_fault_lamp_shows_a_fatal_fault_in_the_tick_it_is_seen():
    state.reset()
    p = fake_platform(LAMP_BOARD)
    out = SafeOutputs(p, LAMP_BOARD)
    # id, name, count, ms, severity, latch, actions
    table = FaultTable(
        (
            (0, "warn", 1, 0, SEVERITY_WARNING, False, ACTION_ALARM),
            (1, "fatal", 1, 0, SEVERITY_FATAL, True, ACTION_ALARM),
        )
    )
    state.faults = table
    out.tick(0)
    assert p.outputs["FAULT_LAMP"].level == 0 and not out.lamp_on
    table.update(0, True, 10)  # a warning: alarm, no lamp
    out.tick(10)
    assert p.outputs["FAULT_LAMP"].level == 0 and p.outputs["HEALTHY_RELAY"].level == 0
    table.update(1, True, 20)  # the fatal fault matures (in a task of frame 2) ...
    out.tick(30)  # ... and the next fast tick shows it
    assert p.outputs["FAULT_LAMP"].level == 1 and out.lamp_on
    table.update(1, False, 40)
    out.tick(40)
    assert p.outputs["FAULT_LAMP"].level == 1  # latched: still a fatal fault
    table.reset_latched(50)
    out.tick(50)
    assert p.outputs["FAULT_LAMP"].level == 0
    out.force_safe()  # leaving the loop: the lamp goes on with the alarm
    assert p.outputs["FAULT_LAMP"].level == 1
    state.reset()


def test_a_board_without_a_fault_lamp_runs_without_one():
    p, out = _outputs()
    out.tick(0)
    out.force_safe()
    assert out.lamp is None and "FAULT_LAMP" not in p.outputs
