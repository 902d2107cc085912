"""Deploy switch: nothing happens without a commit; a committed set replaces changed files, drops
obsolete ones and keeps data files; a power loss at every rename of the switch still ends, after
the next boot's rerun, in exactly the new set."""

import json
import os

from app import deploy_switch
from support import exists, read_bytes, tmp_dir, write_bytes


class PowerLoss(BaseException):
    pass


OLD = {"/main.py": b"old main", "/app/a.mpy": b"old a", "/app/gone.mpy": b"obsolete"}
NEW = {"/main.py": b"old main", "/app/a.mpy": b"new a", "/app/b/c.mpy": b"new c"}


def _install(root, files, ident):
    for path, data in files.items():
        deploy_switch._makedirs(root + path[1:])
        write_bytes(root + path[1:], data)
    write_bytes(
        root + "manifest.json", json.dumps({"id": ident, "files": _fake_hashes(files)}).encode()
    )
    write_bytes(root + "config.json", b"{}")


def _fake_hashes(files):
    return {path: "h-" + data.decode() for path, data in files.items()}


def _stage(root, ident, changed, commit=True):
    stage = root + ".deploy/" + ident
    for path in changed:
        deploy_switch._makedirs(stage + path)
        write_bytes(stage + path, NEW[path])
    manifest = {"id": ident, "files": _fake_hashes(NEW)}
    write_bytes(stage + "/manifest.json", json.dumps(manifest).encode())
    if commit:
        write_bytes(root + ".deploy/pending", ident.encode())


def _assert_new_set(root):
    for path, data in NEW.items():
        assert read_bytes(root + path[1:]) == data, path
    assert not exists(root + "app/gone.mpy")
    assert read_bytes(root + "config.json") == b"{}"
    assert json.loads(read_bytes(root + "manifest.json"))["id"] == "B"
    assert not exists(root + ".deploy/pending")
    assert not exists(root + ".deploy/B")


def test_without_commit_nothing_changes():
    root = tmp_dir()
    _install(root, OLD, "A")
    _stage(root, "B", ["/app/a.mpy", "/app/b/c.mpy"], commit=False)
    assert deploy_switch.run(root) is None
    for path, data in OLD.items():
        assert read_bytes(root + path[1:]) == data
    # an abandoned staging directory is removed by the next deploy's cleanup
    deploy_switch.clean_stale(root)
    assert not exists(root + ".deploy/B")


def test_switch_replaces_changed_and_removes_obsolete():
    root = tmp_dir()
    _install(root, OLD, "A")
    write_bytes(root + "app/a.py", b"stray source that would shadow a.mpy")
    _stage(root, "B", ["/app/a.mpy", "/app/b/c.mpy"])
    assert deploy_switch.run(root) == "B"
    _assert_new_set(root)
    assert not exists(root + "app/a.py")
    assert deploy_switch.run(root) is None


def _dying_rename(kill_at):
    calls = [0]

    def rename(src, dst):
        calls[0] += 1
        if calls[0] == kill_at:
            raise PowerLoss()
        os.rename(src, dst)

    return rename


def test_power_loss_at_every_rename_then_reboot_completes():
    kill_points = 0
    for kill_at in range(1, 20):
        root = tmp_dir()
        _install(root, OLD, "A")
        _stage(root, "B", ["/app/a.mpy", "/app/b/c.mpy"])
        try:
            deploy_switch.run(root, _dying_rename(kill_at))
            finished = True
        except PowerLoss:
            finished = False
            kill_points += 1
            assert deploy_switch.pending_id(root) == "B"  # the next boot still knows to finish
        deploy_switch.run(root)  # the next boot
        _assert_new_set(root)
        if finished:
            break
    assert kill_points == 3  # two staged files and the manifest


def test_pending_without_manifest_is_dropped():
    root = tmp_dir()
    _install(root, OLD, "A")
    deploy_switch._makedirs(root + ".deploy/X/x")
    write_bytes(root + ".deploy/pending", b"X")
    assert deploy_switch.run(root) is None
    assert read_bytes(root + "app/a.mpy") == b"old a"
    assert not exists(root + ".deploy/pending")
