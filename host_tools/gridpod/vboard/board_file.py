"""The board file a virtual board runs with (boards/<BOARD>/board.json), and VirtualBoardError,
the virtual board's one error class (raised by this loader, the supervisor and its console)."""

import json
from pathlib import Path

from .. import GridpodError

REPO_ROOT = Path(__file__).resolve().parents[3]


class VirtualBoardError(GridpodError):
    pass


def load_board_file(board: str) -> dict:
    path = REPO_ROOT / "boards" / board / "board.json"
    if not path.exists():
        raise VirtualBoardError(f"unknown board {board!r}: no {path}")
    return json.loads(path.read_text())
