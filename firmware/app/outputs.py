"""Safety outputs owned by the platform layer: contactor coils held open, the healthy relay.

Fast slot task, the first of the slot. Coils (roles K_*_COIL present on the board) are driven 0
every fast tick until the contactor sequencer (app/subsystems/battery.py) takes them over with
hand_over_coils(); it obeys app.state.close_permitted() and opens in order (break-current rule).
The sequencer reports every completed step with sequencer_alive(); a fast tick that finds no
report since the previous one (the sequencer or a task before it in the module's fast step raised:
TASK_ERROR) drives every coil 0 at once, so a dead sequencer never holds a contactor closed
until the watchdog bites (safety review M1: 2.04 s measured before).

HEALTHY_RELAY is a healthy relay, not an alarm relay (DOMAIN.md safety rules; safety review M8):
energised (1) only by this task's tick, while the scan loop runs in normal mode with no active
fault demanding ACTION_ALARM; de-energised (0) means alarm. So the alarm is on with no code
running: at power-up and through a reset (the pin starts low), in a dead controller, in a hung
one once the watchdog resets it, in a safe boot and in maintenance mode; a broken relay wire or
a lost relay supply read alarm too. A fatal fault reaches the relay within one fast tick.
force_safe() is for leaving the loop (Ctrl-C, crash) and for boot: coils 0, relay de-energised;
leave() also gets that to the pins at once.
FAULT_LAMP (front-panel lamp, where the board has one) is 1 while a fatal fault is active
(app.state.fatal_active()), written in the same fast tick as the coils: it makes the firmware's
fatal state observable from outside the way a real module shows it, so the invariant monitors
(host_tools/gridpod/hil/monitors.py fatal_coil_off) can check "every coil off within one fast
tick of any fatal fault" for the faults only the firmware sees (task error, tick overrun, cooling
lost, config). force_safe() lights it too.
"""

from control.faults import ACTION_ALARM

from app import state

COIL_ROLES = ("K_POS_COIL", "K_PRE_COIL", "K_NEG_COIL")  # opening order: precharge/positive first
HEALTHY_ROLE = "HEALTHY_RELAY"
LAMP_ROLE = "FAULT_LAMP"


class SafeOutputs:
    def __init__(self, platform, board):
        pins = board.get("pins", {})
        self._platform = platform
        self.coils = [platform.digital_out(r, 0) for r in COIL_ROLES if r in pins]
        self._roles = [r for r in COIL_ROLES if r in pins]
        self.drive_coils = True  # False once the contactor sequencer (app/module.py) owns them
        self.healthy = platform.digital_out(HEALTHY_ROLE, 0) if HEALTHY_ROLE in pins else None
        self.alarm_on = True  # de-energised until a healthy tick says otherwise
        self.lamp = platform.digital_out(LAMP_ROLE, 0) if LAMP_ROLE in pins else None
        self.lamp_on = False
        self._alive = True  # the sequencer completed a step since the last tick
        self.sequencer_lost = 0  # fast ticks that found the sequencer dead (coils forced 0)

    def hand_over_coils(self):
        """{role: pin} for the contactor sequencer, which then drives them; force_safe() still
        opens them when the loop is left."""
        self.drive_coils = False
        return {self._roles[i]: self.coils[i] for i in range(len(self.coils))}

    def sequencer_alive(self):
        """Called by the sequencer after every completed fast step (no allocation)."""
        self._alive = True

    def tick(self, now_ms):
        if self.drive_coils:
            self._coils_off()
        elif not self._alive:
            self.sequencer_lost += 1
            self._coils_off()
        self._alive = False
        faults = state.faults
        alarm = not state.is_normal() or (faults is not None and faults.action_mask & ACTION_ALARM)
        alarm = bool(alarm)
        # The relay and the lamp are written when their state changes: alarm_on and lamp_on
        # always say what the pins were last told (here or by force_safe()), so an unchanged
        # state costs no output call in the fast tick (chip time, docs/chip-time.md).
        if alarm != self.alarm_on:
            self.alarm_on = alarm
            if self.healthy is not None:
                self.healthy.value(0 if alarm else 1)  # energised = healthy
        fatal = state.fatal_active()
        if fatal != self.lamp_on:
            self.lamp_on = fatal
            if self.lamp is not None:
                self.lamp.value(1 if fatal else 0)
        return True

    def _coils_off(self):
        # A loop of its own: tick() stays small enough for the VM to keep its frame on the C
        # stack (a bytecode frame above 11 words is a heap allocation at every call).
        for coil in self.coils:
            coil.value(0)

    def close_permitted(self):
        return state.close_permitted()

    def force_safe(self):
        for coil in self.coils:
            coil.value(0)
        if self.healthy is not None:
            self.healthy.value(0)  # de-energised = alarm
        self.alarm_on = True
        if self.lamp is not None:
            self.lamp.value(1)
        self.lamp_on = True

    def leave(self):
        """force_safe(), and the pins told now: for leaving the loop (Ctrl-C, crash, the end of a
        safe boot's loop), when no scan loop follows to carry them. A no-op wait on an MCU; on a
        harness board (virtual, HIL) pins travel at exchanges only, so this is the exchange that
        tells the plant. Never raises: a second Ctrl-C (or a fake watchdog) leaves anyway, the
        pins are written."""
        self.force_safe()
        p = self._platform
        try:
            p.wait_until_ms(p.ticks_ms())
        except BaseException:  # noqa: BLE001 - leaving; the outputs are already safe
            pass
