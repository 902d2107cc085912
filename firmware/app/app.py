"""App: the composition root. Builds, in this order: safety outputs (coils open, before anything
else), event log, config, fault table, boot-loop guard, then the scheduler with its tasks:
  fast         SafeOutputs, Supervisor (app/supervisor.py, maintenance mode only),
               ModbusSlave (comms/modbus_rtu.py, when the board has an RS485 uart: bytes and
               framing)
  control      ModbusPoints (the slave's held answers, leases, unlock expiry, status refresh),
               Heartbeat on STATUS_LED (when present),
               Service (app/service.py: read-only answers to host tools on the console), each at
               its control phase (app/scheduler.py)
  housekeeping Housekeeping (log flush, boot guard); GC + telemetry inside the scheduler
  app/module.py (cooling_enabled / battery_enabled / grid_enabled): drivers and control objects
  in all three slots; the control fault rows join the table only then
Files under `root` ("/" on a board): config.json, events.bin, bootcount.
Maintenance mode (config rejected) and safe mode (boot loop) keep the loop running (watchdog,
heartbeat, console) with outputs safe and contactor closing refused; see app.state. Maintenance
mode composes no cooling, so the Supervisor holds the pumps stopped and isolates wet zones.
Ctrl-C (a host tool that must stop the application) leaves the loop with the outputs safe and
opens the HAL's maintenance window: the watchdog is fed for the board's window, then the board
resets into the application (README "When a host tool stops the application"). Any other exit
leaves the watchdog unfed: it resets the board.
Heap: the construction code is app/compose.py (boot-only, forgotten before the module is built);
this class keeps the runtime methods only. See docs/heap.md.
"""

import gc

from control.faults import SEVERITY_FATAL

from app import state
from app.eventlog import EV_FAULT_CLEARED, EV_FAULT_RAISED, EV_FAULTS_RESET

TYPE_CHECKING = False  # mypy reads this as True; MicroPython skips the block
if TYPE_CHECKING:
    from typing import Any

    from comms.modbus_rtu import ModbusSlave
    from control.faults import FaultTable

    from app.boot_config import LoadedConfig
    from app.bootguard import BootGuard
    from app.eventlog import EventLog
    from app.heartbeat import Heartbeat
    from app.housekeeping import Housekeeping
    from app.modbus_points import ModbusPoints
    from app.module import Module
    from app.outputs import SafeOutputs
    from app.scheduler import Scheduler
    from app.service import Service
    from app.supervisor import Supervisor


class App:
    # Set by app/compose.py (the boot-only construction code); annotations cost nothing on the
    # board (MicroPython ignores them).
    platform: "Any"
    board: "Any"
    outputs: "SafeOutputs"
    supervisor: "Supervisor | None"
    log: "EventLog"
    config: "LoadedConfig"
    faults: "FaultTable"
    guard: "BootGuard"
    reset_cause: int
    scheduler: "Scheduler"
    modbus: "ModbusSlave | None"
    points: "ModbusPoints | None"
    heartbeat: "Heartbeat | None"
    housekeeping: "Housekeeping"
    module: "Module | None"
    service: "Service | None"
    watchdog: "Any"

    def __init__(self, platform, board, root="/", log_slots=256, config=None, after_compose=None):
        """after_compose: called once the App is composed, before the module is built
        (app/startup.py passes one that unloads the boot-only modules, so the module's objects
        land in the room they leave; tests that build many Apps in one process pass none)."""
        from app.compose import compose  # boot only

        now_ms = compose(self, platform, board, root, log_slots, config)
        del compose  # its module can go (below)
        if after_compose is not None:
            after_compose()
        gc.collect()
        cfg = self.config.values
        tuned = self.config.tuning  # the tuning vectors by name (boot only)
        self.config.tuning = None
        self.module = None
        if cfg["cooling_enabled"] or cfg["battery_enabled"] or cfg["grid_enabled"]:
            from app.module import Module, preload  # drivers and control objects, by flag

            preload(cfg)  # all the code first, then the objects: fewer holes between them

            tuned.update(cfg)  # plus every config value: what the control constructors read
            gc.collect()
            self.module = Module(platform, board, tuned, self, now_ms)
            tuned = None
            gc.collect()
        self.service = None
        console = platform.console()
        if console is not None:  # built after the module: its code stays off the boot's peak
            from app.scheduler import PHASE_PUBLISH, SLOT_CONTROL
            from app.service import Service

            self.service = Service(self, console, board.get("board", "?"), root)
            # the period's last phase, after the module's registers (app/module.py)
            self.scheduler.add(self.service, SLOT_CONTROL, PHASE_PUBLISH)

    def release_boot(self):
        """Called once the App is built (app/startup.py): drop the board dict and the HAL's board
        tables (heap). self.board is None while the App runs; no pin can be made afterwards."""
        self.board = None
        release = getattr(self.platform, "release_boot", None)
        if release is not None:
            release()

    def _on_fault(self, fault_id, raised, now_ms):
        if raised:
            faults = self.faults
            severity = faults.severity(fault_id)
            # arg2: severity in the low byte, the sub-code (which sensor, pump, zone) above it
            self.log.append(EV_FAULT_RAISED, fault_id, severity | faults.sub[fault_id] << 8, now_ms)
            if severity == SEVERITY_FATAL:
                # fatal: written at the next control tick (app/housekeeping.py UrgentFlush), not
                # here: a fault raised in the fast slot must not wait for a sector erase there
                self.log.urgent = True
        else:
            self.log.append(EV_FAULT_CLEARED, fault_id, 0, now_ms)

    def reset_faults(self):
        """Operator reset: clears latched faults whose cause is gone (never re-closes anything)."""
        now_ms = self.platform.ticks_ms()
        if self.module is not None:
            self.module.reset(now_ms)  # latched control faults clear once their causes report gone
        cleared = self.faults.reset_latched(now_ms)
        self.log_reset(cleared, now_ms)
        return cleared

    def log_reset(self, cleared, now_ms):
        """A reset is logged only when it cleared something: a master that resets cyclically
        must not flush the event log's history out of its ring (safety review M6)."""
        if cleared:
            self.log.append(EV_FAULTS_RESET, cleared, 0, now_ms)

    def run(self, frames=-1):
        """Run the scan loop (forever by default). Ctrl-C leaves outputs safe and returns."""
        if self.watchdog is None:
            # Started here, not in __init__: a hardware watchdog cannot be stopped once running.
            self.watchdog = self.platform.watchdog(self.config.values["watchdog_timeout_ms"])
            self.scheduler.use_watchdog(self.watchdog)
        self.platform.maintenance(False)  # the scan loop feeds the watchdog from here on
        try:
            self.scheduler.run(frames)
        except KeyboardInterrupt:
            self.stop_safe()
            window_ms = self.platform.maintenance(True)
            print("gridpod: stopped (Ctrl-C); outputs safe. app.state.reason:", repr(state.reason))
            print(
                "gridpod: maintenance window %d s, then a reset into the application"
                " (Ctrl-D restarts it now)" % (window_ms // 1000)
            )
            return
        except BaseException:  # anything else (SystemExit too) leaves with the outputs safe
            self.stop_safe()
            raise

    def stop_safe(self):
        self.outputs.leave()  # coils open, healthy relay at alarm, told to the pins now
        try:
            self.log.flush()
        except Exception as e:  # noqa: BLE001 - leaving anyway; outputs are already safe
            print("gridpod: log flush failed:", e)
