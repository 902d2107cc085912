"""Bench tests: run against the virtual module by default, a real board with --bench serial:PORT.

The module FAT (fat/) runs as a whole through `gridpod fat` (make fat; one test of make test runs
it once, host_tools/tests/test_fat_module.py): a plain `pytest` over the whole tree leaves it
out. Named explicitly (`pytest hil_tests/fat`) it runs as any test folder does."""

import pytest

pytest_plugins = ["gridpod.hil.plugin"]


def pytest_ignore_collect(collection_path, config):
    if collection_path.name == "fat" and config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        return True
    return None
