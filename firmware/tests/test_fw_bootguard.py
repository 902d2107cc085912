"""Boot-loop guard: 10 bad boots => safe mode for 5 min; a boot that runs 60 s clears the counter."""

from app.bootguard import BootGuard
from app.eventlog import EV_GOOD_BOOT, EV_SAFE_MODE_END
from support import read_bytes, tmp_dir, write_bytes


def _guard(path):
    return BootGuard(path, 10, 60000, 300000)


def test_ten_bad_boots_then_safe_mode():
    path = tmp_dir() + "bootcount"
    for i in range(10):
        g = _guard(path)
        assert not g.boot(0), "boot %d should be normal" % i
        assert g.tick(59000) == 0  # dies before 60 s
    g = _guard(path)
    assert g.boot(0)
    assert g.bad_boots == 10


def test_good_boot_after_60s_clears_counter():
    path = tmp_dir() + "bootcount"
    for _ in range(9):
        _guard(path).boot(0)
    g = _guard(path)
    assert not g.boot(0)
    assert g.tick(59999) == 0
    assert g.tick(60000) == EV_GOOD_BOOT
    assert g.tick(61000) == 0  # cleared once
    assert _guard(path).read_count() == 0
    g2 = _guard(path)
    assert not g2.boot(0) and g2.bad_boots == 0


def test_safe_mode_lasts_five_minutes_then_clears():
    path = tmp_dir() + "bootcount"
    write_bytes(path, b"10\n")
    g = _guard(path)
    assert g.boot(1000)
    assert g.tick(61000) == 0  # 60 s is not enough in safe mode
    assert _guard(path).read_count() == 11
    assert g.tick(300999) == 0
    assert g.safe_mode
    assert g.tick(301000) == EV_SAFE_MODE_END
    assert not g.safe_mode
    assert _guard(path).read_count() == 0


def test_uptime_across_tick_wrap():
    path = tmp_dir() + "bootcount"
    g = _guard(path)
    g.boot(0x3FFFFFFF - 1000)
    assert g.tick(58000) == 0
    assert g.tick(59000) == EV_GOOD_BOOT


def test_corrupt_counter_counts_as_zero():
    path = tmp_dir() + "bootcount"
    write_bytes(path, b"\xff\xfe")
    g = _guard(path)
    assert not g.boot(0)
    assert read_bytes(path) == b"1\n"
