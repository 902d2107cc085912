"""Startup sequence called by main.py: read <root>board.json, open the HAL it names
(hal.<board["hal"]>.open_platform(board)), honour the safe-boot escape, build and run the App.

Never raises for expected problems: a missing board file or the escape prints one line and
returns None, leaving the REPL reachable.
"""

import json

from app import escape, state


def load_board(path):
    with open(path) as f:
        return json.load(f)


def open_hal(board):
    module = __import__("hal." + board["hal"], None, None, ["open_platform"])
    return module.open_platform(board)


def main(root="/", frames=-1):
    try:
        board = load_board(root + "board.json")
    except (OSError, ValueError) as e:
        print("gridpod: no usable %sboard.json (%r): application not started" % (root, e))
        return None
    platform = open_hal(board)
    why = escape.reason(root, platform, board)
    if why:
        state.reset()
        state.safe_boot = True
        state.reason = "safe boot: " + why
        print("gridpod: SAFE BOOT, application not started: " + why)
        return None
    from comms.register_bank import release_map

    from app.app import App

    app = App(platform, board, root)
    release_map()  # one App per boot: the register map text is not needed any more
    app.run(frames)
    return app
