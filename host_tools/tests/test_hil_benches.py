"""Benches are found by name and offer capability objects: every file in hil/benches/ is a bench
(a new one is one new file), a wrong --bench names the ones there are, a missing capability is
None and named by lacks(), a misspelt capability is an error rather than a silent skip, and the
boot strategy waits for the banner after a power cycle or reports the console's end."""

import sys

import pytest
from gridpod.hil import bench as bench_mod
from gridpod.hil import benches
from gridpod.hil.bench import BenchError, bench_kinds, open_bench, usage_text
from gridpod.hil.capabilities import BufferLog, Power
from gridpod.hil.strategy import BootStrategy, boot_banners

pytest_plugins = ["pytester"]


def test_bench_kinds_are_the_files_of_benches():
    assert bench_kinds() == {
        "hil": "hil:PORT",
        "plant": "plant",
        "serial": "serial:PORT",
        "virtual": "virtual",
    }
    assert usage_text() == "virtual (default), hil:PORT, plant or serial:PORT"


@pytest.mark.parametrize("spec", ["nope", "serial", "serial:", "plant:x", "../virtual"])
def test_a_wrong_spec_names_every_bench(spec):
    with pytest.raises(BenchError) as e:
        open_bench(spec)
    assert str(e.value) == f"--bench {spec!r}: use {usage_text(quote=True)}"
    assert "'serial:PORT'" in str(e.value) and "'virtual'" in str(e.value)


def test_a_new_bench_is_one_new_file(tmp_path, monkeypatch):
    (tmp_path / "rig.py").write_text(
        '"""A test rig."""\n'
        "from gridpod.hil.bench import Bench\n"
        'USAGE = "rig:ADDRESS"\n'
        "class Rig(Bench):\n"
        '    name = "rig"\n'
        "def open_bench(address, options):\n"
        "    b = Rig()\n"
        "    b.address = address\n"
        "    return b\n"
    )
    monkeypatch.setattr(benches, "__path__", [*benches.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "gridpod.hil.benches.rig", raising=False)
    assert bench_kinds()["rig"] == "rig:ADDRESS"
    b = open_bench("rig:bay-3")
    assert (b.name, b.address) == ("rig", "bay-3")
    assert b.capabilities == frozenset() and b.console is None and b.strategy is None
    assert b.lacks("console", "plant") == ["console", "plant"]


def test_plant_bench_capabilities_and_clockless_benches():
    b = open_bench("plant")
    assert b.capabilities == {"plant"} and b.lacks("plant", "power") == ["power"]
    assert b.strategy is None
    with pytest.raises(BenchError, match="unknown capability virtual"):
        b.lacks("virtual")
    with pytest.raises(BenchError, match="no simulated clock"):
        bench_mod.Bench().run_for(1.0)


def test_serial_bench_without_its_port_is_a_bench_error(tmp_path):
    with pytest.raises(BenchError, match="no serial port"):
        open_bench(f"serial:{tmp_path / 'ttyNONE'}")


class Board:
    """A console buffer and a supply; power_cycle() boots (prints a banner) unless dead."""

    def __init__(self, boots=True):
        self.console_log = bytearray(b"old text\r\n")
        self.console_dropped = 0
        self.boots = boots

    def power_cycle(self):
        del self.console_log[:4]  # the owner trims old output: marks must stay right
        self.console_dropped += 4
        if self.boots:
            self.console_log += b"gridpod: module M-1 board VIRTUAL boot #2 reset cause 1; ok\r\n"


class BoardPower(Power):
    def __init__(self, board):
        self.board = board

    def cycle(self):
        self.board.power_cycle()


def test_strategy_reset_waits_for_the_banner_after_the_mark():
    board = Board()
    log = BufferLog(board, "console_log", "console_dropped")
    mark = log.mark()
    BootStrategy(BoardPower(board), log).reset(timeout_s=1)
    assert log.text_since(mark).startswith("gridpod: module M-1")
    assert boot_banners(log.text_since(0)) == ["M-1 board VIRTUAL boot #2 reset cause 1; ok"]


def test_strategy_reset_without_a_banner_is_a_bench_error():
    board = Board(boots=False)
    log = BufferLog(board, "console_log", "console_dropped")
    with pytest.raises(BenchError, match=r"did not boot after reset; console ends: 'text\\r\\n'$"):
        BootStrategy(BoardPower(board), log).reset(timeout_s=0.05)


def test_needs_with_an_unknown_capability_is_an_error(pytester):
    pytester.makeconftest('pytest_plugins = ["gridpod.hil.plugin"]')
    pytester.makepyfile(
        "import pytest\n"
        '@pytest.mark.needs("virtual")\n'
        "def test_old_marker(bench):\n"
        "    pass\n"
        '@pytest.mark.needs("power")\n'
        "def test_power(bench):\n"
        "    pass\n"
    )
    result = pytester.runpytest_inprocess(
        "--bench=plant", "-p", "no:cacheprovider", "-p", "no:labgrid", "-rs"
    )
    result.assert_outcomes(errors=1, skipped=1)  # a fixture failure is an error
    result.stdout.fnmatch_lines(["*unknown capability virtual*", "*bench 'plant' lacks power*"])
