"""The module: the list of enabled subsystems and the scheduler slots they run in.

Each subsystem (app/subsystems/) builds its drivers from the board's roles, steps its control,
reports its fault causes and publishes its registers by name. One exists only when its config
flag enables it (cooling_enabled, battery_enabled, grid_enabled; all 0 by default, so a bare
board pays nothing). Order matters and is fixed here: cooling first (the battery's interlocks need
its flow proof), then the battery (the grid's peak shaver needs its readings and state).

  fast (10 ms)       cooling (leak isolation), battery (interlocks, contactors), grid (peak shaver)
  control (100 ms)   Modbus commands and setpoints, then each subsystem's control, fault reset,
                     then the registers
  housekeeping (1 s) grid (energy counters)
The fast tick allocates nothing (ints only); neither does a control tick's sensor reading.
"""

from control.ticks import ticks_diff


class _Task:
    """A scheduler entry whose tick is a bound method stored once (calling it allocates nothing)."""

    def __init__(self, fn):
        self.tick = fn


class Module:
    def __init__(self, platform, board, cfg, app, now_ms):
        from app.scheduler import SLOT_CONTROL, SLOT_FAST, SLOT_HOUSEKEEPING

        pins = board.get("pins", {})
        self.app = app
        self.faults = app.faults
        cooling = battery = grid = None
        if cfg["cooling_enabled"]:
            from app.subsystems.cooling import CoolingSubsystem

            cooling = CoolingSubsystem(platform, pins, cfg, app.faults)
        if cfg["battery_enabled"]:
            from app.subsystems.battery import BatterySubsystem

            battery = BatterySubsystem(
                platform, pins, cfg, app.faults, app.outputs, cooling, app.log
            )
        if cfg["grid_enabled"]:
            from app.subsystems.grid import GridSubsystem

            grid = GridSubsystem(platform, pins, cfg, battery, app.root)
        self.cooling = cooling
        self.battery = battery
        self.grid = grid
        self.parts = [s for s in (cooling, battery, grid) if s is not None]
        self._last_ms = now_ms
        self._hk_ms = now_ms
        self.reset_pending = False
        sched = app.scheduler
        if self.parts:
            sched.add(_Task(self.fast), SLOT_FAST)
            sched.add(_Task(self.control), SLOT_CONTROL)
        if grid is not None:
            sched.add(_Task(self.housekeeping), SLOT_HOUSEKEEPING)

    def reset(self, now_ms):
        """Operator fault reset (app.reset_faults): leaks with dry ropes, latched cooling faults,
        the contactor FAULT state once its cause is gone. Never closes anything."""
        for s in self.parts:
            s.reset(now_ms)
        self.reset_pending = True

    def fast(self, now_ms):
        for s in self.parts:
            s.fast(now_ms)
        return True

    def control(self, now_ms):
        dt_ms = ticks_diff(now_ms, self._last_ms)
        self._last_ms = now_ms
        points = self.app.points
        bank = None if points is None else points.bank
        parts = self.parts
        if bank is not None:
            for s in parts:
                s.commands(bank, now_ms)
        for s in parts:
            s.step(now_ms, dt_ms)
        if self.reset_pending:
            # after the reset objects reported their causes again (fast ran earlier this frame)
            self.reset_pending = False
            self.app.log_reset(self.faults.reset_latched(now_ms), now_ms)
        if bank is not None:
            for s in parts:
                s.publish(bank)
        return True

    def housekeeping(self, now_ms):
        dt_ms = ticks_diff(now_ms, self._hk_ms)
        self._hk_ms = now_ms
        grid = self.grid
        if grid is not None:  # scheduled only with the grid subsystem
            grid.housekeeping(now_ms, dt_ms)
        return True


# ---- code first, objects after -------------------------------------------------------------------
# Why: fragmentation fails first on a small heap. Imports leave holes (file buffers, loader
# temporaries) between the code they load; objects built in between end up scattered among those
# holes. Loading every enabled subsystem's code before building its objects keeps them together
# (measured when the budget was 64 KiB: the full module booted at --heap 78K instead of 84K).
def preload(cfg):
    """Import the code of every subsystem the config enables (tables local: no module globals)."""
    for flag, name in (
        ("cooling_enabled", "app.subsystems.cooling"),
        ("battery_enabled", "app.subsystems.battery"),
        ("grid_enabled", "app.subsystems.grid"),
    ):
        if cfg[flag]:
            __import__(name)
