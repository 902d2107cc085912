"""Gridpod host tools: virtual board, flash, deploy, config, monitor, FAT reports."""

__version__ = "0.1.0"


class GridpodError(Exception):
    """Base class of every expected host-tool error; the CLI prints it as one line and exits 1."""
