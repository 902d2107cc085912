"""Trial config: a pushed config is committed only once the application ran healthy with it;
otherwise the next boot restores the previous one (issue 13; README, `gridpod config push`).

Files under root (small; every replace atomic: app/fsutil.py):
  config.json       the committed config, the only file a normal boot loads. Nothing here writes
                    it but the commit's atomic rename, so it is a whole file at every instant.
  config.json.new   the candidate. `gridpod config push` writes it (as .tmp, hash checked, then
                    renamed) after removing config.trial and config.result, then restarts.
  config.trial      the trial marker (written as config.trial.tmp, then renamed), one line: "trial" (a boot is trying the candidate),
                    "failed <code> <detail> <text>" (it failed, and why), "commit <crc32>" (it
                    ran healthy and is being committed).
  config.json.prev  the config the last commit replaced.
  config.result     the last trial's outcome for host tools (JSON), read on the service channel:
                    {"result": "committed", "crc32": "xxxxxxxx"} or {"result": "restored",
                    "code": RESTORED_*, "detail": n, "reason": "..."}.

At boot (app/startup.py load_config, before the App's imports):
  no marker, a candidate    startup marks "trial" and loads the candidate itself (this module
                            stays unloaded: its names would cost the trial boot heap a normal
                            boot does not spend); refused by validation: refuse() restores at
                            once and loads config.json
  marker "commit"           the commit was cut short: load() finishes it; config.json
  marker "trial"/"failed"   the previous boot tried the candidate and never committed it (reset,
                            watchdog, power lost, an exception, not healthy): load() restores
                            (records why, drops the candidate); config.json
  neither                   config.json (this module stays unloaded)
While the application runs (app/housekeeping.py): after TRIAL_ROUNDS housekeeping rounds, end()
commits when no task raised and no overrun tripped, else marks "failed" and resets the board.
An exception out of the boot or the loop during a trial (a MemoryError building the module) is
marked "failed" by crashed() (app/startup.py main), then the board resets. What stays resident
for this is small on purpose (the startup path, the housekeeping countdown): the full module in
the littlefs layout boots with little heap to spare (docs/heap.md).
Power lost at any step: each step is idempotent; the next boot does what is left, and
config.json is always the old or the new file, never a part of one.
"""

import json

from micropython import const

from app import fsutil

CONFIG = "config.json"
NEW = "config.json.new"
PREV = "config.json.prev"
TRIAL = "config.trial"
RESULT = "config.result"

# why a candidate was not kept: EV_CONFIG_RESTORED arg1, config.result "code"
RESTORED_REFUSED = const(1)  # detail: its error count
RESTORED_CRASHED = const(2)  # the boot or the loop raised (detail 0)
RESTORED_RESET = const(3)  # a reset before the commit; detail: the reset cause (hal.RESET_*)
RESTORED_UNHEALTHY = const(4)  # detail: task errors
_CAUSES = ("?", "power on", "hard reset", "watchdog", "deep sleep", "soft reset", "brown-out")
_TEXT = const(100)  # reason text kept on flash


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _marker(root):
    """The trial marker's line, None without one. Also a whole "failed"/"commit" line left in
    config.trial.tmp: a FAT-like replace lost power between removing the marker and renaming its
    new version over it (only those two replace an existing marker; "trial" never does)."""
    line = _read(root + TRIAL)
    if line is not None:
        return line
    try:
        with open(root + TRIAL + ".tmp") as f:
            text = f.read()
    except OSError:
        return None
    if text.endswith("\n") and (text.startswith("failed ") or text.startswith("commit ")):
        return text.strip()
    return None


def _unmark(root):
    fsutil.remove_quietly(root + TRIAL)
    fsutil.remove_quietly(root + TRIAL + ".tmp")  # a marker recovered from it (_marker)


def _mark(root, line, rename=None):
    fsutil.write_atomic(root + TRIAL, line + "\n", rename)


def _result(root, doc, rename=None):
    fsutil.write_atomic(root + RESULT, json.dumps(doc) + "\n", rename)


def _copy(src, dst, rename=None):
    """dst := src's bytes, atomically, in small pieces (no whole-file buffer)."""
    with open(src) as f:

        def pieces(write):
            while True:
                piece = f.read(256)
                if not piece:
                    return
                write(piece)

        fsutil.write_atomic(dst, pieces, rename)


def _failed_line(code, detail, text):
    return "failed %d %d %s" % (code, detail, text.replace("\n", " ")[:_TEXT])


def load(root, reset_cause, rename=None):
    """A boot that found a trial marker (app/startup.py load_config): finish a commit that was
    cut short, or restore the previous config; the LoadedConfig of config.json, .restored set.
    rename: test hook replacing os.rename (a power loss at a chosen step)."""
    marker = _marker(root)
    restored = None
    if marker is not None and marker.startswith("commit"):
        commit(root, marker[7:], rename, finishing=True)
    elif marker is not None:
        restored = restore(root, marker, reset_cause, rename)
    return _committed(root, restored)


def refuse(root, errors, rename=None):
    """The candidate failed validation at its trial boot (marked "trial" already): restore at
    once, with its first error; the LoadedConfig of config.json."""
    first = errors[0] if errors else "?"
    marker = _failed_line(RESTORED_REFUSED, len(errors), "refused: " + first)
    _mark(root, marker, rename)
    return _committed(root, restore(root, marker, 0, rename))


def _committed(root, restored):
    import gc

    from app.boot_config import load as load_file

    gc.collect()  # the writes' buffers go before the parse (a full module has no heap to spare)
    config = load_file(root + CONFIG)
    config.restored = restored
    if restored is not None:
        config.note += "; the pushed config was not kept: " + restored[2]
    return config


def _reason(marker, reset_cause):
    """(code, detail, text) of a marker that never reached "commit"."""
    if marker.startswith("failed "):
        parts = marker.split(" ", 3)
        try:
            return int(parts[1]), int(parts[2]), parts[3] if len(parts) > 3 else "?"
        except (ValueError, IndexError):
            pass
    name = _CAUSES[reset_cause] if 0 <= reset_cause < len(_CAUSES) else "?"
    return (
        RESTORED_RESET,
        reset_cause,
        "the board reset (%s) before the application ran healthy with it" % name,
    )


def restore(root, marker, reset_cause, rename=None):
    """Drop the candidate and say why; config.json was never touched. Returns (code, detail,
    text). Steps: the reason on the marker (a repeated boot keeps it), the result for the host
    tools, the candidate removed, the marker removed."""
    code, detail, text = _reason(marker, reset_cause)
    if not marker.startswith("failed "):
        _mark(root, _failed_line(code, detail, text), rename)
    _result(root, {"result": "restored", "code": code, "detail": detail, "reason": text}, rename)
    fsutil.remove_quietly(root + NEW)
    _unmark(root)
    print("gridpod: the pushed config was not kept (%s): the previous config runs" % text)
    return code, detail, text


def commit(root, crc_hex, rename=None, finishing=False):
    """Make the candidate the config: marker "commit", config.json copied to config.json.prev,
    the candidate renamed over config.json (atomic), the result, the marker removed.
    finishing: a boot completing a commit that was cut short (the marker says so already)."""
    new = root + NEW
    if not finishing:
        _mark(root, "commit " + crc_hex, rename)
    if fsutil.exists(new):
        current = root + CONFIG
        if fsutil.exists(current):
            _copy(current, root + PREV, rename)
        elif not finishing:
            fsutil.remove_quietly(root + PREV)  # defaults ran before: there is no previous file
        # (finishing without config.json: a FAT-like replace was cut between its remove and
        # its rename; config.json.prev was written before it)
        fsutil.replace(new, current, rename)
    _result(root, {"result": "committed", "crc32": crc_hex}, rename)
    _unmark(root)


def end(housekeeping, now_ms):
    """The trial's verdict, TRIAL_ROUNDS housekeeping rounds into the run (app/housekeeping.py
    loads this module for it; it forgets itself after): commit when the scan loop was healthy
    (no task raised, no overrun tripped); otherwise mark "failed", leave the outputs safe and
    reset: the next boot restores the previous config. A flash or heap error tries again at the
    next round (until the commit, a reset restores the previous config)."""
    try:
        _end(housekeeping.trial_app, now_ms)
        housekeeping.trial_app = None
    except Exception as e:  # noqa: BLE001 - never a task fault: the trial goes on
        print("gridpod: config trial: %r; again in a round" % e)
        housekeeping.trial_rounds = 1
    import sys

    sys.modules.pop("app.config_trial", None)  # the GC frees this code again
    package = sys.modules.get("app")
    if package is not None:
        package.__dict__.pop("config_trial", None)


def _end(app, now_ms):
    from app.eventlog import EV_CONFIG_CHANGED

    s = app.scheduler
    if s.task_errors or s.overruns:
        text = "not healthy: %d task error(s), %d overrun(s) in its first seconds" % (
            s.task_errors,
            s.overruns,
        )
        _mark(app.root, _failed_line(RESTORED_UNHEALTHY, s.task_errors, text))
        print("gridpod: the pushed config %s: reset into the previous one" % text)
        app.stop_safe()
        app.platform.reset()
        return
    crc = app.config.crc
    commit(app.root, "%08x" % crc)
    app.config.trial = False
    app.log.append(EV_CONFIG_CHANGED, crc, 0, now_ms)
    print("gridpod: config crc32 %08x committed (ran healthy)" % crc)


def crashed(root, exc):
    """app/startup.py main: the boot or the scan loop raised. True when a trial was running: the
    reason is on the marker now, and the caller resets the board (the next boot restores the
    previous config); False otherwise (committed already: an ordinary crash). When the record
    fails too (no heap, no flash), the marker still says "trial": restored as a reset."""
    import gc

    gc.collect()  # what the failed boot built is garbage now
    try:
        if _read(root + TRIAL) != "trial":
            return False
        text = "%s: %s" % (type(exc).__name__, exc)
        _mark(root, _failed_line(RESTORED_CRASHED, 0, text))
        print("gridpod: the application raised with the pushed config (%s): reset" % text)
    except Exception as e:  # noqa: BLE001 - reset anyway
        print("gridpod: config trial record failed: %r" % e)
    return True
