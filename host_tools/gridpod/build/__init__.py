"""The firmware as it goes onto a board: the flash tree and ROMFS layout (tree.py) and the CI
checks of the source (checks.py: type check against the port stubs, mpy-cross per arch)."""
