"""Sub-commands of the gridpod CLI (see gridpod.cli)."""
