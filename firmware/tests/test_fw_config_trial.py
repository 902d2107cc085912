"""A pushed config on trial (app/_trial().py): committed only once the application ran healthy
with it (the previous one kept as config.json.prev); refused by validation, raising at boot, a
reset during the trial or an unhealthy loop restore the previous config at the next boot and say
why (config.result, EV_CONFIG_RESTORED). A power loss before any rename or remove of the trial,
the commit or the restore, and again in the boot after it, leaves config.json a whole valid
config, the old or the new one, and the next boot finishes or undoes the push."""

import json
import os

from app import fsutil, startup
from app.app import App
from app.eventlog import EV_CONFIG_CHANGED, EV_CONFIG_RESTORED, to_i32
from app.housekeeping import TRIAL_ROUNDS
from hal import RESET_POWER_ON, RESET_WATCHDOG
from hal.fake import FakeReset
from support import BOARD, exists, fake_platform, read_bytes, tmp_dir, write_bytes

# housekeeping runs at frame 5 of each 100-frame second (app/scheduler.py phase rule)
HK_PHASE = 5
COMMIT_FRAMES = HK_PHASE + (TRIAL_ROUNDS - 1) * 100 + 1


class PowerLoss(BaseException):
    pass


def _cfg():
    """app.config, imported where used: a boot unloads it (app/startup.py), and a module-level
    reference would keep a second copy of its schema on the VM's heap after every reload."""
    from app import config

    return config


def _trial():
    from app import config_trial

    return config_trial


def _values(module_id, **more):
    v = _cfg().defaults()
    v["module_id"] = module_id
    v.update(more)
    return v


OLD = _cfg().encode(_values("OLD-1"))
NEW = _cfg().encode(_values("NEW-2"))


def _root(old=OLD, new=NEW):
    root = tmp_dir()
    write_bytes(root + "board.json", json.dumps(BOARD).encode())
    if old is not None:
        write_bytes(root + "config.json", old)
    if new is not None:
        write_bytes(root + "config.json.new", new)
    return root


def _build(root, cause=RESET_POWER_ON):
    """What app/startup.py build() does at a boot (the config through _trial().load), without
    unloading the boot-only modules (one process builds many Apps here: heap on the VM)."""
    p = fake_platform()
    p.cause = cause
    return App(p, BOARD, root, log_slots=32, config=startup.load_config(root, cause))


def _result(root):
    return json.loads(read_bytes(root + "config.result"))


def _codes(app):
    return [(r[3], r[4], r[5]) for r in app.log.read()]


def _restored_events(app):
    return [(a1, a2) for code, a1, a2 in _codes(app) if code == EV_CONFIG_RESTORED]


def test_a_candidate_is_tried_then_committed_with_the_previous_kept():
    import sys

    root = _root()
    sys.modules.pop("app.config_trial", None)
    app = _build(root)
    # the trial boot loads no trial code: its names would cost heap a normal boot does not spend
    assert "app.config_trial" not in sys.modules
    assert app.config.trial and app.config.get("module_id") == "NEW-2"
    assert read_bytes(root + "config.trial") == b"trial\n"
    app.run(frames=COMMIT_FRAMES - 2)
    assert app.config.trial and exists(root + "config.json.new")  # not judged yet
    assert read_bytes(root + "config.json") == OLD
    app.run(frames=2)
    assert not app.config.trial and app.scheduler.task_errors == 0
    assert read_bytes(root + "config.json") == NEW
    assert read_bytes(root + "config.json.prev") == OLD
    assert not exists(root + "config.json.new") and not exists(root + "config.trial")
    assert _result(root) == {"result": "committed", "crc32": "%08x" % app.config.crc}
    app.log.flush()
    changed = [a1 for code, a1, _ in _codes(app) if code == EV_CONFIG_CHANGED]
    assert changed == [to_i32(app.config.crc)]
    assert "app.config_trial" not in sys.modules  # the commit loaded it, then forgot it
    app2 = _build(root)  # the next boot runs the committed config, no trial
    assert not app2.config.trial and app2.config.get("module_id") == "NEW-2"


def test_a_candidate_refused_by_validation_is_dropped_at_boot_and_the_previous_runs():
    bad = json.loads(NEW)
    bad["config"]["flow_setpoint_lpm"] = 0  # a safety floor (app/config_rules.py)
    bad["crc32"] = _cfg().config_crc(bad["config"])
    root = _root(new=json.dumps(bad).encode())
    app = _build(root)
    assert not app.config.trial and not app.config.invalid  # not maintenance mode: OLD runs
    assert app.config.get("module_id") == "OLD-1"
    result = _result(root)
    assert result["result"] == "restored" and result["code"] == _trial().RESTORED_REFUSED
    assert "refused: flow_setpoint_lpm" in result["reason"]
    assert not exists(root + "config.json.new") and not exists(root + "config.trial")
    assert read_bytes(root + "config.json") == OLD
    assert _restored_events(app) == [(_trial().RESTORED_REFUSED, result["detail"])]
    assert "was not kept" in app.config.note


def test_a_boot_that_raises_with_the_candidate_resets_and_the_next_boot_restores():
    """A config that passes validation but that the application cannot build (cooling on a board
    without the pump tach roles): the boot raises, the reason goes on the marker, the board
    resets, and the next boot runs the previous config."""
    import sys

    root = _root(new=_cfg().encode(_values("NEW-2", cooling_enabled=True)))
    loaded = list(sys.modules)
    try:
        startup.main(root, frames=10)
        raise AssertionError("the boot did not reset")
    except FakeReset:
        pass
    finally:  # the reset: what the failed boot loaded goes (the cooling code: heap on the VM)
        startup.forget_modules([name for name in sys.modules if name not in loaded])
    assert read_bytes(root + "config.trial").startswith(b"failed 2 0 ValueError: no pin")
    app = _build(root)
    assert app.config.get("module_id") == "OLD-1" and not app.config.trial
    result = _result(root)
    assert result["code"] == _trial().RESTORED_CRASHED
    assert result["reason"].startswith("ValueError: no pin with role PUMP")
    assert _restored_events(app) == [(_trial().RESTORED_CRASHED, 0)]
    assert read_bytes(root + "config.json") == OLD and not exists(root + "config.json.new")


def test_a_reset_during_the_trial_restores_the_previous_config_with_its_cause():
    root = _root()
    app = _build(root)
    app.run(frames=COMMIT_FRAMES - 50)  # the watchdog bites before the verdict
    app = _build(root, RESET_WATCHDOG)
    assert app.config.get("module_id") == "OLD-1" and not app.config.trial
    assert app.config.restored[:2] == (_trial().RESTORED_RESET, RESET_WATCHDOG)
    assert _restored_events(app) == [(_trial().RESTORED_RESET, RESET_WATCHDOG)]
    result = _result(root)
    assert result["code"] == _trial().RESTORED_RESET and "(watchdog)" in result["reason"]
    assert read_bytes(root + "config.json") == OLD


def test_an_unhealthy_trial_resets_into_the_previous_config():
    """A task that raised once (the watchdog still fed: a task that kept raising would starve it,
    and the reset restores the previous config as above)."""

    class Raising:
        def __init__(self):
            self.ticks = 0

        def tick(self, now_ms):
            self.ticks += 1
            if self.ticks == 1:
                raise RuntimeError("boom")
            return True

    root = _root()
    app = _build(root)
    app.scheduler.add(Raising(), 1)
    try:
        app.run(frames=COMMIT_FRAMES + 10)
        raise AssertionError("no reset")
    except FakeReset:
        pass
    assert app.platform.outputs["HEALTHY_RELAY"].level == 0  # outputs safe (alarm) first
    assert read_bytes(root + "config.json") == OLD
    app2 = _build(root)
    assert app2.config.get("module_id") == "OLD-1"
    result = _result(root)
    assert result["code"] == _trial().RESTORED_UNHEALTHY and result["detail"] > 0
    assert "task error" in result["reason"]


def test_no_candidate_no_trial_and_a_defaults_board_commits_without_a_prev():
    root = _root(old=None, new=None)
    app = _build(root)
    assert not app.config.trial and app.config.restored is None
    assert not exists(root + "config.result")
    root = _root(old=None)
    write_bytes(root + "config.json.prev", b"stale")
    app = _build(root)
    app.run(frames=COMMIT_FRAMES)
    assert read_bytes(root + "config.json") == NEW
    assert not exists(root + "config.json.prev")  # no previous file: defaults ran before


# ----- power loss at each step ---------------------------------------------------------------------
class Cut:
    """os.rename / fsutil.remove_quietly that lose power before their `at`-th call (-1: never).
    fat: a rename that refuses an existing target (FAT-like; fsutil.replace removes it first)."""

    def __init__(self, at, fat=False):
        self.at = at
        self.ops = 0
        self.fat = fat

    def _op(self):
        if self.ops == self.at:
            raise PowerLoss()
        self.ops += 1

    def rename(self, src, dst):
        if self.fat and exists(dst):
            raise OSError(17)
        self._op()
        os.rename(src, dst)

    def remove(self, path):
        self._op()
        try:
            os.remove(path)
        except OSError:
            pass


def _with_cut(cut, fn):
    """Run fn(cut.rename) with power lost at cut.at; True when it ran to its end."""
    saved = fsutil.remove_quietly
    fsutil.remove_quietly = cut.remove
    try:
        fn(cut.rename)
        return True
    except PowerLoss:
        return False
    finally:
        fsutil.remove_quietly = saved


def _boot(root, cut):
    return _with_cut(cut, lambda rename: startup.load_config(root, RESET_POWER_ON, rename))


def _check_settled(root, committed, what):
    """After a clean boot: config.json whole and valid, old or new as expected, nothing left."""
    store = _cfg().ConfigStore(root + "config.json")
    assert store.load() == _cfg().CONFIG_OK, what
    data = read_bytes(root + "config.json")
    assert data == (NEW if committed else OLD), what
    assert not exists(root + "config.trial") and not exists(root + "config.json.new"), what
    assert _result(root)["result"] == ("committed" if committed else "restored"), what
    if committed:
        assert read_bytes(root + "config.json.prev") == OLD, what


def _valid_now(root, what):
    data = read_bytes(root + "config.json") if exists(root + "config.json") else None
    if data is None:  # only between a FAT-like replace's remove and rename: .new holds NEW
        assert read_bytes(root + "config.json.new") == NEW, what
        return
    assert data in (OLD, NEW), what


def _every_cut(scenario, fat):
    """scenario(root, rename) from the state _root() sets up (a trial boot already marked),
    power lost before each of its steps; then a boot cut at each of its own steps; then a clean
    boot. Returns how many cut points the scenario has."""
    at = 0
    while True:
        root = _root()
        _boot(root, Cut(-1, fat))  # the trial boot: marker "trial", the candidate loaded
        done = _with_cut(Cut(at, fat), lambda rename, r=root: scenario(r, rename))
        _valid_now(root, "scenario cut %d" % at)
        # the commit is decided once the marker says so (or is gone: the commit ran to its end)
        marker = read_bytes(root + "config.trial") if exists(root + "config.trial") else b"-"
        committed = marker == b"-" or marker.startswith(b"commit")
        for again in range(8):
            copy = tmp_dir()
            for name in os.listdir(root[:-1]):
                write_bytes(copy + name, read_bytes(root + name))
            if _boot(copy, Cut(again, fat)):
                break
            _valid_now(copy, "scenario cut %d, boot cut %d" % (at, again))
            assert _boot(copy, Cut(-1, fat))
            _check_settled(copy, committed, "cut %d then %d" % (at, again))
        assert _boot(root, Cut(-1, fat))
        _check_settled(root, committed, "cut %d" % at)
        if done:
            return at
        at += 1


def _commit(root, rename):
    _trial().commit(root, "%08x" % _cfg().config_crc(_values("NEW-2")), rename)


def _fail(root, rename):
    _trial()._mark(root, "failed 4 1 not healthy", rename)  # what end() writes, then reset


def test_power_loss_at_each_step_of_a_commit_leaves_a_valid_config():
    assert _every_cut(_commit, fat=False) >= 5  # marker, prev, replace, result, marker removed
    assert _every_cut(_commit, fat=True) >= 6  # + the remove before a FAT-like rename


def test_power_loss_at_each_step_of_a_restore_leaves_the_previous_config():
    assert _every_cut(_fail, fat=False) >= 1
    # a trial boot cut anywhere, then every boot after it cut anywhere: still the old config
    at = 0
    while True:
        root = _root()
        done = _boot(root, Cut(at))
        _valid_now(root, "trial boot cut %d" % at)
        assert read_bytes(root + "config.json") == OLD
        if done:
            break
        at += 1
    assert at >= 1  # the marker's rename


def test_a_boot_that_leaves_no_heap_even_for_the_trial_record_still_resets_and_restores():
    """Found by the config tool's L1 test (90 KB heap, the full module pushed): after the boot's
    MemoryError, importing the trial's own code ran out of heap too, the MemoryError escaped
    main() and the board sat at the REPL with a traceback and the pushed config on trial. Now
    the code of the failed App is dropped first, and when even then there is no room, the board
    resets anyway: the marker still says "trial", so the next boot restores the previous config."""
    import sys

    root = _root(new=_cfg().encode(_values("NEW-2", cooling_enabled=True)))
    loaded = list(sys.modules)
    forget = startup._forget_modules_since

    def no_heap(before):
        raise MemoryError("memory allocation failed")

    startup._forget_modules_since = no_heap
    try:
        startup.main(root, frames=10)
        raise AssertionError("the boot did not reset")
    except FakeReset:
        pass
    finally:
        startup._forget_modules_since = forget
        startup.forget_modules([name for name in sys.modules if name not in loaded])
    assert read_bytes(root + "config.trial") == b"trial\n"  # no record: no heap for it
    app = _build(root, cause=RESET_WATCHDOG)
    assert app.config.get("module_id") == "OLD-1" and not app.config.trial
    assert read_bytes(root + "config.json") == OLD and not exists(root + "config.json.new")
