"""`python -m gridpod.boards check [BOARD|PATH ...]`: the board checker's command line (used by
`make lint`)."""

import sys

from .check import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
