"""Deploy switch: makes a staged firmware set current, run by boot.py before main.py.

`gridpod deploy` uploads changed files under <root>.deploy/<id>/ (same relative paths as on the
board), verifies them, writes <root>.deploy/<id>/manifest.json ({"id": .., "files": {path: sha256}})
and only then commits by atomically creating <root>.deploy/pending holding <id>. Before that
commit the old firmware is untouched; after it every boot rolls the switch forward until done:
  1. move each staged file onto its path (rename replaces atomically on littlefs2);
  2. remove files the old <root>manifest.json listed and the new one does not, and any x.py
     beside a listed x.mpy (MicroPython imports x.py first: a stray source would shadow the
     deployed module and be compiled on the device's heap);
  3. rename the staged manifest to <root>manifest.json (the new set is now the recorded one);
  4. remove the pending flag, then the staging directory.
Before the first rename every file of the new set is checked against the manifest's sha256 where
it is now (staged, or already live from an earlier run or an unchanged file); a mismatch raises
and nothing moves. Each step is idempotent, so a power loss anywhere only means the next boot
repeats the remaining steps. While the pending flag remains (a switch that raised or was cut),
app/startup.py does not start the application: it never runs on a half-switched set. Only os and json: this module must
work whatever else the new set changes. Data files (config.json, events.bin) are never listed.
"""

import json
import os

DEPLOY_DIR = ".deploy"
PENDING = "pending"
MANIFEST = "manifest.json"


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _is_dir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _makedirs(path):
    # path ends in a file name; create every directory before it
    i = path.find("/", 1)
    while i > 0:
        d = path[:i]
        if not _is_dir(d):
            os.mkdir(d)
        i = path.find("/", i + 1)


def _replace(src, dst, rename):
    try:
        rename(src, dst)
    except OSError:
        _remove(dst)  # FAT-like filesystems refuse to rename over an existing file
        rename(src, dst)


def rmtree(path):
    if not _is_dir(path):
        _remove(path)
        return
    for name in os.listdir(path):
        rmtree(path + "/" + name)
    os.rmdir(path)


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def sha256_hex(path):
    """sha256 of a file as lowercase hex (what `gridpod deploy` writes in the manifest)."""
    import hashlib
    from binascii import hexlify

    h = hashlib.sha256()
    buf = bytearray(512)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return hexlify(h.digest()).decode()


def _verify(root, stage, files):
    for path in sorted(files):
        where = stage + path if _exists(stage + path) else root + path[1:]
        if not _exists(where) or sha256_hex(where) != files[path]:
            raise ValueError(
                "%s does not match the deploy manifest: run gridpod deploy again" % path
            )


def pending_id(root="/"):
    try:
        with open(root + DEPLOY_DIR + "/" + PENDING) as f:
            return f.read().strip()
    except OSError:
        return None


def clean_stale(root="/", keep=None):
    """Remove staging directories of abandoned deploys (other than `keep`) when none is pending."""
    base = root + DEPLOY_DIR
    if not _is_dir(base) or pending_id(root) is not None:
        return
    for name in os.listdir(base):
        if name != keep:
            rmtree(base + "/" + name)


def run(root="/", rename=None):
    """Finish a committed deploy if one is pending; returns its id, or None when nothing was to do.
    rename: test hook replacing os.rename (to simulate a power loss at a chosen step)."""
    rename = rename if rename is not None else os.rename
    ident = pending_id(root)
    if ident is None:
        return None
    stage = root + DEPLOY_DIR + "/" + ident
    new = _read_json(stage + "/" + MANIFEST)
    if new is None:
        current = _read_json(root + MANIFEST)
        if current is None or current.get("id") != ident:
            # A pending flag without its manifest was never a valid commit: drop it, keep running.
            print("deploy: pending %s has no manifest: ignored" % ident)
        _remove(root + DEPLOY_DIR + "/" + PENDING)
        rmtree(stage)
        return None
    old = _read_json(root + MANIFEST) or {"files": {}}
    files = new["files"]
    _verify(root, stage, files)  # raises before anything moves; the pending flag stays
    for path in sorted(files):
        staged = stage + path
        if _exists(staged):
            target = root + path[1:]
            _makedirs(target)
            _replace(staged, target, rename)
    for path in sorted(old.get("files", {})):
        if path not in files:
            _remove(root + path[1:])
    for path in files:
        if path.endswith(".mpy") and path[:-4] + ".py" not in files:
            _remove(root + path[1:-4] + ".py")
    _replace(stage + "/" + MANIFEST, root + MANIFEST, rename)
    _remove(root + DEPLOY_DIR + "/" + PENDING)
    rmtree(stage)
    print("deploy: switched to firmware %s" % ident)
    return ident
