"""Bench tests: run against the virtual module by default, a real board with --bench serial:PORT."""

pytest_plugins = ["gridpod.hil.plugin"]
