"""Boards on the host: the chip tables (chips.py) and the board-file checker (check.py).

python -m gridpod.boards check [BOARD|PATH ...]
"""
