"""Deploy switch: nothing happens without a commit; a committed set replaces changed files, drops
obsolete ones and keeps data files; a power loss at every rename of the switch still ends, after
the next boot's rerun, in exactly the new set."""

import json
import os
from binascii import hexlify
from hashlib import sha256

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
    """The manifest's sha256 hex of each file, as `gridpod deploy` writes it."""
    return {path: hexlify(sha256(data).digest()).decode() for path, data in files.items()}


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


def test_a_staged_file_that_does_not_match_its_hash_moves_nothing_and_blocks_the_app():
    """Safety review M12: the switch moved whatever was staged, and boot.py went on to main.py
    after a switch that raised: a mixed or corrupt firmware set ran."""
    from app import startup

    root = tmp_dir()
    _install(root, OLD, "A")
    _stage(root, "B", ["/app/a.mpy", "/app/b/c.mpy"])
    write_bytes(root + ".deploy/B/app/b/c.mpy", b"new c, corrupted")  # e.g. a flash bit error
    try:
        deploy_switch.run(root)
        raised = None
    except ValueError as e:
        raised = str(e)
    assert raised and "/app/b/c.mpy does not match" in raised, raised
    for path, data in OLD.items():  # nothing moved
        assert read_bytes(root + path[1:]) == data, path
    assert deploy_switch.pending_id(root) == "B"
    why = startup.escape_reason(root, None, {"pins": {}})
    assert why and "firmware switch did not complete" in why, why
    write_bytes(root + ".deploy/B/app/b/c.mpy", NEW["/app/b/c.mpy"])  # deployed again
    assert deploy_switch.run(root) == "B"
    _assert_new_set(root)
    assert startup.escape_reason(root, None, {"pins": {}}) is None
