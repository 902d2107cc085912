"""Boot-only construction of the App (app/app.py): safety outputs, event log, config, the
maintenance-mode supervisor (app/supervisor.py), fault table, boot-loop guard, scheduler and its
tasks, Modbus, the composed module. Kept out of app/app.py so its bytecode and imports are freed
once the App is built (app/startup.py forgets this module with AFTER_APP_MODULES); the running App
keeps only its runtime methods.
"""

import gc

import comms.register_map  # noqa: F401 - loaded first, while the heap has room for its text
from comms.modbus_rtu import ModbusSlave
from comms.register_bank import RegisterBank
from control.faults import FaultTable
from hal import RESET_BROWN_OUT, RESET_WATCHDOG
from micropython import const

from app import boot_config, state
from app.bootguard import BootGuard
from app.eventlog import (
    EV_BOOT,
    EV_CONFIG_DEFAULTS,
    EV_CONFIG_REJECTED,
    EV_CONFIG_RESTORED,
    EV_RESET_CAUSE,
    EV_SAFE_MODE,
    EventLog,
)
from app.heartbeat import Heartbeat
from app.housekeeping import TRIAL_ROUNDS, Housekeeping, UrgentFlush
from app.modbus_points import ModbusPoints
from app.outputs import SafeOutputs
from app.platform_faults import (
    FAULT_BOOT_LOOP_SAFE_MODE,
    FAULT_BROWN_OUT,
    FAULT_CONFIG_INVALID,
    FAULT_TASK_ERROR,
    FAULT_TICK_OVERRUN,
    FAULT_WATCHDOG_RESET,
    FAULTS,
)
from app.scheduler import (
    PHASE_REQUESTS,
    SLOT_CONTROL,
    SLOT_FAST,
    SLOT_HOUSEKEEPING,
    Scheduler,
)

# EV_BOOT flags (the event log's boot record)
_BOOT_MAINTENANCE = const(1)
_BOOT_SAFE_MODE = const(2)

RS485 = "RS485"
STATUS_LED = "STATUS_LED"


def compose(app, platform, board, root, log_slots, config):
    """Everything but app/module.py's Module; returns the boot time (ms)."""
    state.reset()
    app.platform = platform
    app.board = board
    app.outputs = SafeOutputs(platform, board)
    app.outputs.force_safe()
    now_ms = platform.ticks_ms()

    app.root = root
    app.log = EventLog(root + "events.bin", log_slots)
    try:
        app.log.open()
    except OSError as e:
        print("gridpod: event log unavailable:", e)
    app.log.boot_count = app.log.last_boot_count + 1

    # config: a boot_config.LoadedConfig when startup loaded it before importing this module
    app.config = config if config is not None else boot_config.load(root + "config.json")
    cfg = app.config.values
    app.supervisor = None
    if app.config.invalid:
        # maintenance mode: its defaults compose no cooling, so nothing would drive the pumps
        # (inverted PWM: full speed) or isolate a leak; stopped and isolated from here on (M8)
        from app.supervisor import Supervisor

        app.supervisor = Supervisor(platform, board.get("pins", {}))
    gc.collect()  # the parser's temporaries go before the long-lived tables are built

    composed = cfg["cooling_enabled"] or cfg["battery_enabled"] or cfg["grid_enabled"]
    rows: tuple = FAULTS
    if composed:  # the control rows cost heap: only when a subsystem is composed
        from control.fault_rows import CONTROL_FAULTS

        rows = FAULTS + CONTROL_FAULTS
    app.faults = FaultTable(rows, app._on_fault)
    state.faults = app.faults
    app.guard = BootGuard(
        root + "bootcount", cfg["bad_boot_limit"], cfg["good_boot_ms"], cfg["safe_mode_ms"]
    )
    safe = app.guard.boot(now_ms)
    app.reset_cause = platform.reset_cause()

    if app.config.invalid:
        state.maintenance = True
        state.config_errors = app.config.errors
        state.add_reason("config invalid: " + "; ".join(app.config.errors))
    if safe:
        state.safe_mode = True
        state.add_reason(
            "boot-loop guard: %d bad boots in a row, safe mode for %d s"
            % (app.guard.bad_boots, cfg["safe_mode_ms"] // 1000)
        )
    flags = (_BOOT_MAINTENANCE if state.maintenance else 0) | (
        _BOOT_SAFE_MODE if state.safe_mode else 0
    )
    app.log.append(EV_BOOT, app.log.boot_count, flags, now_ms)
    app.log.append(EV_RESET_CAUSE, app.reset_cause, 0, now_ms)
    if app.config.invalid:
        app.log.append(EV_CONFIG_REJECTED, len(app.config.errors), 0, now_ms)
        app.faults.update(FAULT_CONFIG_INVALID, True, now_ms)
    elif app.config.from_defaults:
        app.log.append(EV_CONFIG_DEFAULTS, 0, 0, now_ms)
    if app.config.restored is not None:  # a pushed config was not kept (app/config_trial.py)
        app.log.append(EV_CONFIG_RESTORED, app.config.restored[0], app.config.restored[1], now_ms)
    if safe:
        app.log.append(EV_SAFE_MODE, app.guard.bad_boots, cfg["safe_mode_ms"], now_ms)
        app.faults.update(FAULT_BOOT_LOOP_SAFE_MODE, True, now_ms)
    if app.reset_cause == RESET_WATCHDOG:
        app.faults.update(FAULT_WATCHDOG_RESET, True, now_ms)  # latched until reset_faults()
        app.faults.update(FAULT_WATCHDOG_RESET, False, now_ms)
    elif app.reset_cause == RESET_BROWN_OUT:
        app.faults.update(FAULT_BROWN_OUT, True, now_ms)  # latched until reset_faults()
        app.faults.update(FAULT_BROWN_OUT, False, now_ms)
    app.log.flush()
    _print_banner(app, cfg)

    app.scheduler = Scheduler(
        platform,
        cfg["fast_tick_ms"],
        cfg["control_tick_ms"],
        cfg["housekeeping_ms"],
        app.faults,
        FAULT_TICK_OVERRUN,
        FAULT_TASK_ERROR,
    )
    app.scheduler.add(app.outputs, SLOT_FAST)
    if app.supervisor is not None:
        app.scheduler.add(app.supervisor, SLOT_FAST)
    app.modbus = None
    app.points = None
    if RS485 in board.get("uarts", {}):
        uart = platform.uart(
            RS485, cfg["modbus_baud"], 8, cfg["modbus_parity"], cfg["modbus_stop_bits"]
        )
        gc.collect()
        bank = RegisterBank()
        gc.collect()
        app.points = ModbusPoints(bank, app, app.config, board, now_ms)
        gc.collect()
        app.modbus = ModbusSlave(
            uart,
            bank,
            cfg["modbus_unit"],
            cfg["modbus_baud"],
            cfg["modbus_frame_margin_us"],
            platform.ticks_us,
            platform.ticks_diff,
        )
        app.points.slave = app.modbus
        # the fast slot frames and answers a short read, the control slot the rest
        # (comms/modbus_rtu.py: an answer with its status refresh costs more than a tick on a
        # chip): ModbusPoints.tick calls the slave's serve() first, so the module's control
        # step sees a command written in the same control tick, and refreshes the status
        app.modbus.deferred = True
        app.modbus.refresh_reads = False
        app.scheduler.add(app.modbus, SLOT_FAST)
        app.scheduler.add(app.points, SLOT_CONTROL, PHASE_REQUESTS)
    app.heartbeat = None
    if STATUS_LED in board.get("pins", {}):
        app.heartbeat = Heartbeat(platform.digital_out(STATUS_LED, 0))
        app.scheduler.add(app.heartbeat, SLOT_CONTROL, PHASE_REQUESTS)
    app.housekeeping = Housekeeping(app.log, app.guard, app.faults, platform)
    app.scheduler.add(UrgentFlush(app.log), SLOT_CONTROL, PHASE_REQUESTS)
    app.scheduler.add(app.housekeeping, SLOT_HOUSEKEEPING)
    if app.config.trial:  # a pushed config: committed once the loop ran healthy with it
        app.housekeeping.trial_app = app
        app.housekeeping.trial_rounds = TRIAL_ROUNDS
    app.watchdog = None
    return now_ms  # the composed module (app/app.py) is built once this code is forgotten


def _print_banner(app, cfg):
    print(
        "gridpod: module %s board %s boot #%d reset cause %d; %s"
        % (
            cfg["module_id"],
            app.board.get("board", "?"),
            app.log.boot_count,
            app.reset_cause,
            app.config.note,
        )
    )
    if state.maintenance:
        print("gridpod: MAINTENANCE MODE (contactors will not close): " + state.reason)
    elif state.safe_mode:
        print("gridpod: SAFE MODE (contactors will not close): " + state.reason)
