"""What goes on a board's flash: the firmware/ tree (without tests) plus /board.json."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO_ROOT / "firmware"
BOARDS_DIR = REPO_ROOT / "boards"
EXCLUDED_DIRS = {"tests", "__pycache__"}


def firmware_files(board: str = "VIRTUAL", firmware_dir: Path = FIRMWARE_DIR) -> dict[str, bytes]:
    """Map of flash path -> content, sorted, for the given board."""
    files = {}
    for path in sorted(Path(firmware_dir).rglob("*.py")):
        rel = path.relative_to(firmware_dir)
        if EXCLUDED_DIRS.intersection(rel.parts[:-1]):
            continue
        files["/" + rel.as_posix()] = path.read_bytes()
    files["/board.json"] = (BOARDS_DIR / board / "board.json").read_bytes()
    return files
