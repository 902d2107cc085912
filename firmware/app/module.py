"""The module: the list of enabled subsystems and the scheduler slots they run in.

Each subsystem (app/subsystems/) builds its drivers from the board's roles, steps its control,
reports its fault causes and publishes its registers by name. One exists only when its config
flag enables it (cooling_enabled, battery_enabled, grid_enabled; all 0 by default, so a bare
board pays nothing). Order matters and is fixed here: cooling first (the battery's interlocks need
its flow proof), then the battery (the grid's peak shaver needs its readings and state).

  fast (10 ms)       cooling (leak isolation), battery (interlocks, contactors), grid (peak shaver)
  control (100 ms)   spread over the frames of the period (app/scheduler.py, control phases):
    PHASE_REQUESTS   the Modbus requests, leases and status (app/compose.py), the urgent log
    PHASE_COOLING_READ  cooling's sensors, limit switches and tachs
    PHASE_COOLING    cooling's commands (from the registers), control step on that reading and
                     registers
    PHASE_POWER      the battery's, then the grid's commands, control steps and registers
    PHASE_PUBLISH    the fault reset's record (then the console service, app/app.py)
  housekeeping (1 s) grid (energy counters)
No frame carries the whole control slot: on a chip it took about 20 ms of a 10 ms frame
(docs/chip-time.md). Each step's dt is the time since its own previous run (one control period).
The fast tick allocates nothing (ints only); neither does a control tick's sensor reading.
"""

import gc

from control.ticks import ticks_diff


class _Task:
    """A scheduler entry whose tick is a bound method stored once (calling it allocates nothing)."""

    def __init__(self, fn):
        self.tick = fn


class _Step:
    """One control phase's subsystems (a scheduler entry): their commands from the registers,
    then their control steps in order, with the time since this phase's previous run, then their
    registers: a register never disagrees with the output its step drove in an earlier frame."""

    def __init__(self, parts, app, now_ms):
        self.parts = parts
        self.app = app
        self._last_ms = now_ms

    def tick(self, now_ms):
        dt_ms = ticks_diff(now_ms, self._last_ms)
        self._last_ms = now_ms
        points = self.app.points
        parts = self.parts
        if points is not None:
            bank = points.bank
            for s in parts:
                s.commands(bank, now_ms)
        for s in parts:
            s.step(now_ms, dt_ms)
        if points is not None:
            for s in parts:
                s.publish(bank)
        return True


class Module:
    def __init__(self, platform, board, cfg, app, now_ms):
        from app.scheduler import (
            PHASE_COOLING,
            PHASE_COOLING_READ,
            PHASE_POWER,
            PHASE_PUBLISH,
            SLOT_CONTROL,
            SLOT_FAST,
            SLOT_HOUSEKEEPING,
        )

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
        self._hk_ms = now_ms
        self.reset_pending = False
        sched = app.scheduler
        if self.parts:
            sched.add(_Task(self.fast), SLOT_FAST)
            if cooling is not None:  # first: the battery's interlocks need its flow proof
                sched.add(_Task(cooling.read), SLOT_CONTROL, PHASE_COOLING_READ)
                sched.add(_Step([cooling], app, now_ms), SLOT_CONTROL, PHASE_COOLING)
            power = [s for s in (battery, grid) if s is not None]  # the grid needs the battery's
            if power:
                sched.add(_Step(power, app, now_ms), SLOT_CONTROL, PHASE_POWER)
            sched.add(_Task(self.publish), SLOT_CONTROL, PHASE_PUBLISH)
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

    def publish(self, now_ms):
        """After the period's last step: a pending fault reset's record."""
        if self.reset_pending:
            # after the reset objects reported their causes again (fast ran earlier this frame)
            self.reset_pending = False
            self.app.log_reset(self.faults.reset_latched(now_ms), now_ms)
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
# A collect after each subsystem's import frees its loader's buffers before the next one lands
# (littlefs .mpy layout, a pushed full-module config's trial boot: 103.4 KB instead of 109.3 KB
# with the control phases' code; host_tools/tests/test_module_heap.py checks 95 % of the budget).
def preload(cfg):
    """Import the code of every subsystem the config enables (tables local: no module globals)."""
    for flag, name in (
        ("cooling_enabled", "app.subsystems.cooling"),
        ("battery_enabled", "app.subsystems.battery"),
        ("grid_enabled", "app.subsystems.grid"),
    ):
        if cfg[flag]:
            __import__(name)
            gc.collect()  # the loader's buffers go before the next subsystem's code lands
