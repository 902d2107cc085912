"""Fault table: debounce by count and by time, latch (cause gone AND reset), bitfields, actions."""

from control.faults import (
    ACTION_ALARM,
    ACTION_OPEN_CONTACTORS,
    ACTION_PUMPS_FALLBACK,
    SEVERITY_FATAL,
    SEVERITY_INFO,
    SEVERITY_WARNING,
    FaultTable,
)
from micropython import const

_COUNT3 = const(0)
_TIME500 = const(1)
_LATCHED = const(2)
_BOTH = const(5)

ROWS = (
    (_COUNT3, "count3", 3, 0, SEVERITY_WARNING, False, ACTION_ALARM),
    (_TIME500, "time500", 1, 500, SEVERITY_INFO, False, ACTION_PUMPS_FALLBACK),
    (_LATCHED, "latched", 1, 0, SEVERITY_FATAL, True, ACTION_OPEN_CONTACTORS | ACTION_ALARM),
    (_BOTH, "both", 2, 100, SEVERITY_WARNING, False, 0),
)


def test_debounce_by_count():
    ft = FaultTable(ROWS)
    assert not ft.update(_COUNT3, True, 0)
    assert not ft.update(_COUNT3, True, 10)
    assert ft.update(_COUNT3, True, 20)
    assert ft.active_words == [1 << _COUNT3, 0]


def test_count_debounce_needs_consecutive_events():
    ft = FaultTable(ROWS)
    ft.update(_COUNT3, True, 0)
    ft.update(_COUNT3, True, 10)
    ft.update(_COUNT3, False, 20)
    ft.update(_COUNT3, True, 30)
    assert not ft.update(_COUNT3, True, 40)
    assert ft.update(_COUNT3, True, 50)


def test_debounce_by_time():
    ft = FaultTable(ROWS)
    for t in range(0, 500, 100):
        assert not ft.update(_TIME500, True, t)
    assert ft.update(_TIME500, True, 500)
    assert ft.is_active(_TIME500)


def test_debounce_count_and_time_both_required():
    ft = FaultTable(ROWS)
    assert not ft.update(_BOTH, True, 0)
    assert not ft.update(_BOTH, True, 50)  # 2 events but only 50 ms
    assert ft.update(_BOTH, True, 100)
    ft2 = FaultTable(ROWS)
    ft2.update(_BOTH, True, 0)
    assert not ft2.update(_BOTH, False, 200)
    assert not ft2.update(_BOTH, True, 300)  # time restarts with the cause


def test_time_debounce_across_tick_wrap():
    ft = FaultTable(ROWS)
    start = 0x3FFFFFFF - 200
    ft.update(_TIME500, True, start)
    assert not ft.update(_TIME500, True, 100)  # 301 ms after wrap
    assert ft.update(_TIME500, True, 299)  # 500 ms


def test_non_latched_clears_when_cause_gone():
    ft = FaultTable(ROWS)
    ft.update(_TIME500, True, 0)
    ft.update(_TIME500, True, 600)
    assert ft.is_active(_TIME500)
    assert not ft.update(_TIME500, False, 700)
    assert ft.active_words == [0, 0] and ft.action_mask == 0


def test_latch_needs_cause_gone_and_reset():
    ft = FaultTable(ROWS)
    assert ft.update(_LATCHED, True, 0)
    assert ft.latched_words == [1 << _LATCHED, 0]
    assert ft.reset_latched(10) == 0  # cause still present: reset refused
    assert ft.is_active(_LATCHED)
    assert ft.update(_LATCHED, False, 20)  # cause gone, still latched
    assert ft.is_active(_LATCHED)
    assert ft.reset_latched(30) == 1
    assert ft.active_words == [0, 0] and ft.latched_words == [0, 0]


def test_reset_before_cause_gone_is_not_remembered():
    ft = FaultTable(ROWS)
    ft.update(_LATCHED, True, 0)
    ft.reset_latched(10)
    ft.update(_LATCHED, False, 20)
    assert ft.is_active(_LATCHED)


def test_bitfields_and_action_mask():
    ft = FaultTable(ROWS)
    for t in (0, 1, 2):
        ft.update(_COUNT3, True, t)
    ft.update(_LATCHED, True, 3)
    assert ft.active_words == [(1 << _COUNT3) | (1 << _LATCHED), 0]
    assert ft.latched_words == [1 << _LATCHED, 0]
    assert ft.action_mask == ACTION_ALARM | ACTION_OPEN_CONTACTORS
    assert ft.fatal_count == 1
    ft.update(_TIME500, True, 0)
    ft.update(_TIME500, True, 500)
    assert ft.action_mask == ACTION_ALARM | ACTION_OPEN_CONTACTORS | ACTION_PUMPS_FALLBACK
    ft.update(_COUNT3, False, 600)
    ft.update(_LATCHED, False, 600)
    ft.reset_latched(601)
    assert ft.action_mask == ACTION_PUMPS_FALLBACK


def test_listener_sees_raise_and_clear_once():
    seen = []
    ft = FaultTable(ROWS, lambda fid, raised, now: seen.append((fid, raised, now)))
    ft.update(_LATCHED, True, 5)
    ft.update(_LATCHED, True, 6)
    ft.update(_LATCHED, False, 7)
    ft.reset_latched(8)
    assert seen == [(_LATCHED, True, 5), (_LATCHED, False, 8)]


def test_table_rejects_duplicate_and_out_of_range_ids():
    for rows in (ROWS + ((_COUNT3, "dup", 1, 0, 0, False, 0),), ((60, "big", 1, 0, 0, False, 0),)):
        try:
            FaultTable(rows)
        except ValueError:
            continue
        raise AssertionError("table accepted bad rows")


def test_sixty_faults_fit_two_small_int_words():
    """Room for 60 faults (safety review M3: the table was full at 30): ids 30..59 land in the
    second word, every word stays below 2**30 (a small int on a 32-bit MCU)."""
    rows = tuple((i, "f%d" % i, 1, 0, SEVERITY_FATAL, True, ACTION_ALARM) for i in range(60))
    ft = FaultTable(rows)
    for i in range(60):
        assert ft.update(i, True, 0)
    assert ft.active_words == [(1 << 30) - 1, (1 << 30) - 1]
    assert ft.latched_words == ft.active_words and ft.fatal_count == 60
    ft.update(31, False, 1)
    assert ft.reset_latched(2) == 1
    assert ft.active_words == [(1 << 30) - 1, ((1 << 30) - 1) & ~2]
    assert not ft.is_active(31) and ft.is_active(30) and ft.is_active(59)


def test_a_sub_code_is_kept_with_the_cause():
    seen = []
    ft = FaultTable(ROWS)
    ft.listener = lambda fid, raised, now: seen.append((fid, raised, ft.sub[fid]))
    ft.update(_LATCHED, True, 0, 2)
    assert seen == [(_LATCHED, True, 2)]
    ft.update(_LATCHED, True, 10, 3)
    assert ft.sub[_LATCHED] == 3  # the latest cause's sub-code


def test_platform_fault_table_is_well_formed():
    from app.platform_faults import FAULTS

    ft = FaultTable(FAULTS)
    names = [row[1] for row in FAULTS]
    for name in ("config_invalid", "tick_overrun", "watchdog_reset", "boot_loop_safe_mode"):
        assert name in names
    assert "log_write_error" in names
    for row in FAULTS:
        assert ft.name(row[0]) == row[1]
        assert row[4] in (SEVERITY_INFO, SEVERITY_WARNING, SEVERITY_FATAL)
