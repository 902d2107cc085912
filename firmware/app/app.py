"""App: the composition root. Builds, in this order: safety outputs (coils open, before anything
else), event log, config, fault table, boot-loop guard, then the scheduler with its tasks:
  fast         SafeOutputs, ModbusSlave (comms/modbus_rtu.py, when the board has an RS485 uart)
  control      Heartbeat on STATUS_LED (when present), ModbusPoints (leases, unlock expiry)
  housekeeping Housekeeping (log flush, boot guard); GC + telemetry inside the scheduler
  app/module.py (cooling_enabled / battery_enabled / grid_enabled): drivers and control objects
  in all three slots; the control fault rows join the table only then
Files under `root` ("/" on a board): config.json, events.bin, bootcount.
Maintenance mode (config rejected) and safe mode (boot loop) keep the loop running (watchdog,
heartbeat, console) with outputs safe and contactor closing refused; see app.state / app.safety.
"""

import gc

import comms.register_map  # noqa: F401 - loaded first, while the heap has room for its text
from comms.modbus_rtu import ModbusSlave
from comms.register_bank import RegisterBank
from control.fault_table import (
    FAULT_BOOT_LOOP_SAFE_MODE,
    FAULT_CONFIG_INVALID,
    FAULT_TASK_ERROR,
    FAULT_TICK_OVERRUN,
    FAULT_WATCHDOG_RESET,
    FAULTS,
)
from control.faults import F_SEVERITY, SEVERITY_FATAL, FaultTable
from hal import RESET_WATCHDOG

from app import boot_config, state
from app.boot_config import CONFIG_DEFAULTS, CONFIG_INVALID
from app.bootguard import BootGuard
from app.eventlog import (
    EV_BOOT,
    EV_CONFIG_DEFAULTS,
    EV_CONFIG_REJECTED,
    EV_FAULT_CLEARED,
    EV_FAULT_RAISED,
    EV_FAULTS_RESET,
    EV_RESET_CAUSE,
    EV_SAFE_MODE,
    EventLog,
)
from app.heartbeat import Heartbeat
from app.housekeeping import Housekeeping
from app.modbus_points import ModbusPoints
from app.outputs import SafeOutputs
from app.scheduler import SLOT_CONTROL, SLOT_FAST, SLOT_HOUSEKEEPING, Scheduler

RS485 = "RS485"
STATUS_LED = "STATUS_LED"


class App:
    def __init__(self, platform, board, root="/", log_slots=256, config=None):
        state.reset()
        self.platform = platform
        self.board = board
        self.outputs = SafeOutputs(platform, board)
        self.outputs.force_safe()
        now_ms = platform.ticks_ms()

        self.log = EventLog(root + "events.bin", log_slots)
        try:
            self.log.open()
        except OSError as e:
            print("gridpod: event log unavailable:", e)
        self.log.boot_count = self.log.last_boot_count + 1

        # config: a boot_config.LoadedConfig when startup loaded it before importing this module
        self.config = config if config is not None else boot_config.load(root + "config.json")
        status = self.config.status
        cfg = self.config.values
        gc.collect()  # the parser's temporaries go before the long-lived tables are built

        composed = cfg["cooling_enabled"] or cfg["battery_enabled"] or cfg["grid_enabled"]
        rows: tuple = FAULTS
        if composed:  # the control rows cost heap: only when a subsystem is composed
            from control.control_faults import CONTROL_FAULTS

            rows = FAULTS + CONTROL_FAULTS
        self.faults = FaultTable(rows, self._on_fault)
        state.faults = self.faults
        self.guard = BootGuard(
            root + "bootcount", cfg["bad_boot_limit"], cfg["good_boot_ms"], cfg["safe_mode_ms"]
        )
        safe = self.guard.boot(now_ms)
        self.reset_cause = platform.reset_cause()

        if status == CONFIG_INVALID:
            state.maintenance = True
            state.config_errors = self.config.errors
            state.add_reason("config invalid: " + "; ".join(self.config.errors))
        if safe:
            state.safe_mode = True
            state.add_reason(
                "boot-loop guard: %d bad boots in a row, safe mode for %d s"
                % (self.guard.bad_boots, cfg["safe_mode_ms"] // 1000)
            )
        flags = (1 if state.maintenance else 0) | (2 if state.safe_mode else 0)
        self.log.append(EV_BOOT, self.log.boot_count, flags, now_ms)
        self.log.append(EV_RESET_CAUSE, self.reset_cause, 0, now_ms)
        if status == CONFIG_INVALID:
            self.log.append(EV_CONFIG_REJECTED, len(self.config.errors), 0, now_ms)
            self.faults.update(FAULT_CONFIG_INVALID, True, now_ms)
        elif status == CONFIG_DEFAULTS:
            self.log.append(EV_CONFIG_DEFAULTS, 0, 0, now_ms)
        if safe:
            self.log.append(EV_SAFE_MODE, self.guard.bad_boots, cfg["safe_mode_ms"], now_ms)
            self.faults.update(FAULT_BOOT_LOOP_SAFE_MODE, True, now_ms)
        if self.reset_cause == RESET_WATCHDOG:
            self.faults.update(FAULT_WATCHDOG_RESET, True, now_ms)  # latched until reset_faults()
            self.faults.update(FAULT_WATCHDOG_RESET, False, now_ms)
        self.log.flush()
        self._print_banner(cfg)

        self.scheduler = Scheduler(
            platform,
            cfg["fast_tick_ms"],
            cfg["control_tick_ms"],
            cfg["housekeeping_ms"],
            self.faults,
            FAULT_TICK_OVERRUN,
            FAULT_TASK_ERROR,
        )
        self.scheduler.add(self.outputs, SLOT_FAST)
        self.modbus = None
        self.points = None
        if RS485 in board.get("uarts", {}):
            uart = platform.uart(
                RS485, cfg["modbus_baud"], 8, cfg["modbus_parity"], cfg["modbus_stop_bits"]
            )
            gc.collect()
            bank = RegisterBank()
            gc.collect()
            self.points = ModbusPoints(bank, self, self.config, board, now_ms)
            gc.collect()
            self.modbus = ModbusSlave(
                uart,
                bank,
                cfg["modbus_unit"],
                cfg["modbus_baud"],
                cfg["modbus_frame_margin_us"],
                platform.ticks_us,
                platform.ticks_diff,
            )
            self.points.slave = self.modbus
            self.scheduler.add(self.modbus, SLOT_FAST)
            self.scheduler.add(self.points, SLOT_CONTROL)
        self.heartbeat = None
        if STATUS_LED in board.get("pins", {}):
            self.heartbeat = Heartbeat(platform.digital_out(STATUS_LED, 0))
            self.scheduler.add(self.heartbeat, SLOT_CONTROL)
        self.housekeeping = Housekeeping(self.log, self.guard, self.faults)
        self.scheduler.add(self.housekeeping, SLOT_HOUSEKEEPING)
        self.module = None
        if composed:
            from app.module import Module  # drivers and control objects, by config flag

            gc.collect()
            self.module = Module(platform, board, cfg, self, now_ms)
            gc.collect()
        self.watchdog = None

    def release_boot(self):
        """Called once the App is built (app/startup.py): drop the board dict (~10 KB of heap;
        the HAL keeps what it needs). self.board is None while the App runs."""
        self.board = None

    def _print_banner(self, cfg):
        print(
            "gridpod: module %s board %s boot #%d reset cause %d; %s"
            % (
                cfg["module_id"],
                self.board.get("board", "?"),
                self.log.boot_count,
                self.reset_cause,
                self.config.note,
            )
        )
        if state.maintenance:
            print("gridpod: MAINTENANCE MODE (contactors will not close): " + state.reason)
        elif state.safe_mode:
            print("gridpod: SAFE MODE (contactors will not close): " + state.reason)

    def _on_fault(self, fault_id, raised, now_ms):
        row = self.faults.row(fault_id)
        if raised:
            self.log.append(EV_FAULT_RAISED, fault_id, row[F_SEVERITY], now_ms)
            if row[F_SEVERITY] == SEVERITY_FATAL:
                self.log.flush()  # fatal: do not wait for housekeeping
        else:
            self.log.append(EV_FAULT_CLEARED, fault_id, 0, now_ms)

    def reset_faults(self):
        """Operator reset: clears latched faults whose cause is gone (never re-closes anything)."""
        now_ms = self.platform.ticks_ms()
        if self.module is not None:
            self.module.reset(now_ms)  # latched control faults clear once their causes report gone
        cleared = self.faults.reset_latched(now_ms)
        self.log.append(EV_FAULTS_RESET, cleared, 0, now_ms)
        return cleared

    def run(self, frames=-1):
        """Run the scan loop (forever by default). Ctrl-C leaves outputs safe and returns."""
        if self.watchdog is None:
            # Started here, not in __init__: a hardware watchdog cannot be stopped once running.
            self.watchdog = self.platform.watchdog(self.config.values["watchdog_timeout_ms"])
            self.scheduler.use_watchdog(self.watchdog)
        try:
            self.scheduler.run(frames)
        except KeyboardInterrupt:
            self.stop_safe()
            print("gridpod: stopped (Ctrl-C); outputs safe. app.state.reason:", repr(state.reason))
            return
        except Exception:
            self.stop_safe()
            raise

    def stop_safe(self):
        self.outputs.force_safe()
        try:
            self.log.flush()
        except Exception as e:  # noqa: BLE001 - leaving anyway; outputs are already safe
            print("gridpod: log flush failed:", e)
