"""Startup sequence called by main.py: read <root>board.json, open the HAL it names
(hal.<board["hal"]>.open_platform(board)), honour the safe-boot escape, build and run the App.

Never raises for expected problems: a missing board file or the escape prints one line and
returns None, leaving the REPL reachable. The escape is not unsupervised (safety review M8): it
runs app/supervisor.py's SafeBoot loop (coils open, pumps stopped, leak isolation, alarm on)
until Ctrl-C, which mpremote sends anyway.

Heap: each phase ends with gc.collect(), so the next phase's long-lived objects land in the holes
the previous phase's temporaries left instead of above them (fragmentation fails first: the
largest free block, not the total). The boot-phase module forgetting below is the one place the
firmware shapes its heap by hand; each list is kept because it was measured to save >= 1 KB.
"""

import gc
import json

from app import fsutil, state

# Boot-only modules, forgotten as soon as their phase is over. A module listed here must not be
# referenced by any object or global that outlives its phase (import it inside the function that
# uses it), or forgetting it frees nothing. What each list saves, measured with
# `python -m gridpod.perf.heap` (full module at 110000 B; low-water in 32-bit board bytes without
# the list, ROMFS layout / littlefs .mpy layout):
#   BEFORE_APP_MODULES   2.6 KB / 8.0 KB
#   COMPOSE_MODULES      1.3 KB / the littlefs layout does not boot without it (MemoryError)
#   AFTER_APP_MODULES    0.9 KB / 1.4 KB (its own entries, beyond COMPOSE_MODULES)
# Config parser, before the App's imports:
BEFORE_APP_MODULES = ("app.config", "app.config_rules", "app.canonical_json", "app.config_trial")
# Inside App(): the App's construction code, the register map text and its parser, the platform
# fault rows (the FaultTable keeps byte columns), before the composed module is built.
COMPOSE_MODULES = (
    "app.compose",
    "comms.bank_build",
    "comms.register_map",
    "app.platform_faults",
    "control.fault_rows:CONTROL_FAULTS",  # the module stays: the control code imports ids
)
# Once the App is built: the control fault rows (the control modules copied the const ids).
AFTER_APP_MODULES = COMPOSE_MODULES + ("control.fault_rows", "hal.roles")


def _forget_compose_modules():
    forget_modules(COMPOSE_MODULES)


def load_board(path):
    with open(path) as f:
        return json.load(f)


def open_hal(board):
    module = __import__("hal." + board["hal"], None, None, ["open_platform"])
    return module.open_platform(board)


def slim_board(board):
    """What the App reads of the board once its HAL is open: the board name, the UART names and
    the pin roles (presence only, as one string: hal/roles.py). The per-pin specs go (a few KiB:
    one small dict and one role string per pin); the HAL kept what it needs until the App calls
    platform.release_boot()."""
    from hal.roles import RoleTable

    return {
        "board": board.get("board", "?"),
        "uarts": {name: None for name in board.get("uarts", {})},
        "pins": RoleTable(board.get("pins", {})),
    }


def forget_modules(names):
    """Drop modules from sys.modules and from their package, so the GC can free them (their
    bytecode and globals) once nothing else refers to them. A later import loads them again.
    "module:NAME" drops one global of a module that stays loaded (a boot-only table)."""
    import sys

    modules = getattr(sys, "modules", None)  # absent under some runtimes: then they stay
    if modules is None:
        return
    for name in names:
        colon = name.find(":")
        if colon > 0:
            module = modules.get(name[:colon])
            if module is not None:
                module.__dict__.pop(name[colon + 1 :], None)
            continue
        modules.pop(name, None)
        dot = name.rfind(".")
        parent = modules.get(name[:dot]) if dot > 0 else None
        if parent is not None and name[dot + 1 :] in parent.__dict__:
            del parent.__dict__[name[dot + 1 :]]


def _loaded_modules():
    """The names in sys.modules now (a tuple: main() keeps it while the App runs)."""
    import sys

    return tuple(getattr(sys, "modules", ()))


def _forget_modules_since(before):
    """After a boot or loop that raised: the application's modules loaded since `before`, so
    the collector frees the code a failed App loaded (the HAL's stay: the platform resets)."""
    app_code = ("app.", "control.", "drivers.", "comms.")
    forget_modules([n for n in _loaded_modules() if n.startswith(app_code) and n not in before])


# ---- safe-boot escape ----------------------------------------------------------------------------
# Safe-boot escape: reasons not to start the application at all, so mpremote can always get in.
#
# Either the file <root>SAFE_BOOT exists, or the SAFE_MODE_BUTTON role (when the board has one)
# reads active (1) at boot. The HAL gives the logical level: a button that pulls its line low says
# "active_low": true in the board file; the entry's "pull" ("up"/"down") is passed to the HAL.
SAFE_BOOT_FILE = "SAFE_BOOT"
DEPLOY_PENDING = ".deploy/pending"  # app/deploy_switch.py: removed once a switch completes
BUTTON_ROLE = "SAFE_MODE_BUTTON"


def escape_reason(root, platform, board):
    """A one-line explanation (with how to leave) when the app must not start, else None."""
    flag = root + SAFE_BOOT_FILE
    if fsutil.exists(flag):
        return "%s exists; to leave: mpremote rm :%s then reset" % (flag, flag)
    if fsutil.exists(root + DEPLOY_PENDING):
        return "a firmware switch did not complete (%s%s): run gridpod deploy again" % (
            root,
            DEPLOY_PENDING,
        )
    pin = board.get("pins", {}).get(BUTTON_ROLE)
    if pin is not None:
        level = platform.digital_in(BUTTON_ROLE, pin.get("pull")).value()
        if level == 1:
            return "%s held at boot; to leave: release it and reset" % BUTTON_ROLE
    return None


def main(root="/", frames=-1):
    """Boot (build) and run the scan loop for `frames` frames (-1: forever); the App or None.
    A safe boot runs its supervision loop instead (app/supervisor.py SafeBoot) until Ctrl-C,
    then returns None: the REPL. An exception while a pushed config is on trial (a MemoryError
    building the module) resets the board into the previous config (app/config_trial.py); so
    does one that leaves no heap even to load that code (a reset never closes anything)."""
    before = _loaded_modules()
    try:
        app = build(root)
        if app is not None:
            app.run(frames)
        elif safe_boot_loop is not None:
            safe_boot_loop.run(frames)
    except Exception as e:
        if _trial_platform is not None:
            try:  # the half-built App and its code are garbage now: room for the trial's code
                _forget_modules_since(before)
                gc.collect()
                from app import config_trial  # the reason on the trial marker, then a reset

                trial = config_trial.crashed(root, e)
            except MemoryError:
                trial = True  # no room even for its code: the marker still says "trial"
            if trial:
                _trial_platform.reset()
        raise
    return app


# The platform of a boot that tries a pushed config (None otherwise): main() resets it when the
# boot or the loop raises during the trial (the next boot restores the previous config).
_trial_platform = None


def load_config(root, reset_cause, rename=None):
    """The LoadedConfig this boot runs with: <root>config.json, or a pushed config waiting alone
    (config.json.new, no trial marker: app/config_trial.py), marked "trial" and loaded here like
    the committed one, so that its boot holds no more heap than a normal boot. config_trial is
    loaded only to refuse it, or when a marker says a trial is to end. rename: test hook."""
    from app import boot_config

    new = root + "config.json.new"
    marker = root + "config.trial"
    if fsutil.exists(marker) or fsutil.exists(marker + ".tmp"):
        from app import config_trial

        return config_trial.load(root, reset_cause, rename)
    if not fsutil.exists(new):
        return boot_config.load(root + "config.json")
    fsutil.write_atomic(marker, "trial\n", rename)
    gc.collect()  # the write's buffers go before the parse (a full module has no heap to spare)
    config = boot_config.load(new)
    if config.invalid:
        errors = config.errors
        config = None
        from app import config_trial

        return config_trial.refuse(root, errors, rename)
    config.trial = True
    return config


# The safe boot's supervision (app/supervisor.py SafeBoot), built by build(), run by main().
safe_boot_loop = None


def _safe_boot_supervision(platform, board):
    """Safe boot: no application, but not unsupervised (safety review M8). Built at once, so the
    outputs are safe even for a caller that only builds. A failure (a broken or half-switched
    firmware set) prints one line and leaves the REPL reachable."""
    global safe_boot_loop
    safe_boot_loop = None
    try:
        from app.supervisor import SafeBoot

        safe_boot_loop = SafeBoot(platform, board)
    except Exception as e:  # noqa: BLE001 - the REPL must stay reachable
        print("gridpod: safe-boot supervision failed: %r" % e)
        return
    print("gridpod: safe-boot supervision: coils open, pumps stopped, leak isolation, alarm")


def build(root="/"):
    """The boot sequence up to a built App, in the order that keeps the heap whole; None when
    the application must not start (no board file, safe-boot escape: then safe_boot_loop)."""
    global safe_boot_loop, _trial_platform
    safe_boot_loop = None
    _trial_platform = None
    try:
        board = load_board(root + "board.json")
    except (OSError, ValueError) as e:
        print("gridpod: no usable %sboard.json (%r): application not started" % (root, e))
        return None
    gc.collect()
    platform = open_hal(board)
    why = escape_reason(root, platform, board)
    board = slim_board(board)
    if why:
        state.reset()
        state.safe_boot = True
        state.reason = "safe boot: " + why
        print("gridpod: SAFE BOOT, application not started: " + why)
        _safe_boot_supervision(platform, board)
        return None
    config = load_config(root, platform.reset_cause())
    if config.trial:
        _trial_platform = platform
    forget_modules(BEFORE_APP_MODULES)
    gc.collect()
    from app.app import App

    gc.collect()
    app = App(platform, board, root, config=config, after_compose=_forget_compose_modules)
    board = platform = config = None
    app.release_boot()
    forget_modules(AFTER_APP_MODULES)
    gc.collect()  # before the first low-water sample: boot's garbage is not the loop's
    return app
