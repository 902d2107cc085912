"""Energy counters survive reboots (app/counters.py, safety review M13): saved atomically,
restored at boot; a missing or malformed file restores nothing and breaks nothing."""

from app import counters
from control.energy import Energy
from support import tmp_dir, write_bytes


def test_saved_counters_are_restored():
    e = Energy()
    e.preset(0, 1, 2345)  # 65536 + 2345 Wh of IT energy
    e.preset(4, 0, 77)
    path = tmp_dir() + counters.FILE_NAME
    counters.save(path, e)
    again = Energy()
    assert counters.restore(path, again)
    assert list(again.hi) == list(e.hi) and list(again.lo) == list(e.lo)


def test_a_missing_or_malformed_file_restores_nothing():
    root = tmp_dir()
    e = Energy()
    assert not counters.restore(root + "none.json", e)
    for bad in (b"", b"[1,2,3]", b"not json", b"[1,2,3,4,5,6,7,8,9,70000]", b"{}"):
        write_bytes(root + counters.FILE_NAME, bad)
        assert not counters.restore(root + counters.FILE_NAME, e), bad
    assert list(e.lo) == [0] * 5 and list(e.hi) == [0] * 5
