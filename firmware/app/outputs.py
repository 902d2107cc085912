"""Safety outputs owned by the platform layer: contactor coils held open, alarm relay.

Fast slot task. Coils (roles K_*_COIL present on the board) are driven 0 every fast tick: no
contactor sequencer exists yet, and the future one takes these roles over and must obey
app.safety.close_permitted(). ALARM_RELAY is 1 (energised = alarm) whenever the module is not in
normal mode or an active fault demands ACTION_ALARM, so a fatal fault reaches the outputs within
one fast tick. force_safe() is for leaving the loop (Ctrl-C, crash): coils 0, alarm 1.
"""

from control.faults import ACTION_ALARM

from app import safety, state

COIL_ROLES = ("K_POS_COIL", "K_PRE_COIL", "K_NEG_COIL")  # opening order: precharge/positive first
ALARM_ROLE = "ALARM_RELAY"


class SafeOutputs:
    def __init__(self, platform, board):
        pins = board.get("pins", {})
        self.coils = [platform.digital_out(r, 0) for r in COIL_ROLES if r in pins]
        self.alarm = platform.digital_out(ALARM_ROLE, 0) if ALARM_ROLE in pins else None
        self.alarm_on = False

    def tick(self, now_ms):
        for coil in self.coils:
            coil.value(0)
        faults = state.faults
        alarm = not state.is_normal() or (faults is not None and faults.action_mask & ACTION_ALARM)
        self.alarm_on = bool(alarm)
        if self.alarm is not None:
            self.alarm.value(1 if alarm else 0)
        return True

    def close_permitted(self):
        return safety.close_permitted()

    def force_safe(self):
        for coil in self.coils:
            coil.value(0)
        if self.alarm is not None:
            self.alarm.value(1)
        self.alarm_on = True
