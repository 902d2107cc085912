"""Event log: batch writes (flash sessions counted), ring wrap, torn last record, reboot read-back."""

from app.eventlog import (
    EV_BOOT,
    EV_FAULT_RAISED,
    RECORD_BYTES,
    EventLog,
    to_i32,
)
from support import read_bytes, tmp_dir, write_bytes


def _log(slots=8, buffer_records=32, path=None):
    log = EventLog(path or tmp_dir() + "events.bin", slots, buffer_records)
    log.open()
    return log


def test_new_file_has_fixed_size_and_no_records():
    log = _log(slots=8)
    assert len(read_bytes(log.path)) == 8 * RECORD_BYTES
    assert log.read() == []


def test_appends_stay_in_ram_until_flush_one_flash_session():
    log = _log()
    for i in range(5):
        assert log.append(EV_FAULT_RAISED, i, -i, 100 + i)
    assert log.read() == []  # nothing on flash yet
    assert log.flash_writes == 0
    assert log.flush()
    assert log.flash_writes == 1 and log.records_written == 5
    recs = log.read()
    assert [r[4] for r in recs] == [0, 1, 2, 3, 4]
    assert [r[5] for r in recs] == [0, -1, -2, -3, -4]
    assert recs[0][1] == 100 and recs[0][3] == EV_FAULT_RAISED
    assert log.flush() and log.flash_writes == 1  # empty flush writes nothing


def test_ring_wraps_keeps_newest_oldest_first():
    log = _log(slots=8)
    for batch in range(3):
        for i in range(5):
            log.append(EV_BOOT, batch * 5 + i, 0, 0)
        log.flush()
    recs = log.read()
    assert len(recs) == 8
    assert [r[4] for r in recs] == list(range(7, 15))
    assert [r[0] for r in recs] == list(range(8, 16))  # seq
    assert log.flash_writes == 3


def test_batch_larger_than_remaining_slots_wraps_in_one_session():
    log = _log(slots=4)
    for i in range(3):
        log.append(EV_BOOT, i, 0, 0)
    log.flush()
    for i in range(3, 6):
        log.append(EV_BOOT, i, 0, 0)
    log.flush()
    assert [r[4] for r in log.read()] == [2, 3, 4, 5]
    assert log.flash_writes == 2


def test_buffer_full_drops_and_counts():
    log = _log(buffer_records=4)
    for i in range(6):
        log.append(EV_BOOT, i, 0, 0)
    assert log.dropped == 2
    log.flush()
    assert [r[4] for r in log.read()] == [0, 1, 2, 3]


def test_torn_last_record_is_ignored_and_overwritten():
    log = _log(slots=8)
    for i in range(4):
        log.append(EV_BOOT, i, 0, 0)
    log.flush()
    data = bytearray(read_bytes(log.path))
    off = 3 * RECORD_BYTES
    for j in range(10, RECORD_BYTES):  # power lost mid-record: tail of the last record is garbage
        data[off + j] = 0xFF
    write_bytes(log.path, data)
    log2 = _log(slots=8, path=log.path)
    assert [r[4] for r in log2.read()] == [0, 1, 2]
    assert log2.next_slot == 3  # the torn slot is reused
    log2.append(EV_BOOT, 99, 0, 0)
    log2.flush()
    assert [r[4] for r in log2.read()] == [0, 1, 2, 99]


def test_reboot_reads_back_and_continues():
    log = _log(slots=8)
    log.boot_count = 7
    for i in range(6):
        log.append(EV_BOOT, i, 0, 1000 * i)
    log.flush()
    again = EventLog(log.path, 8)
    assert again.open() == 6
    assert again.last_boot_count == 7
    again.boot_count = again.last_boot_count + 1
    for i in range(6, 9):
        again.append(EV_BOOT, i, 0, 0)
    again.flush()
    recs = again.read()
    assert [r[4] for r in recs] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert recs[-1][2] == 8 and recs[0][2] == 7


def test_wrong_size_file_is_recreated_and_the_old_one_kept():
    path = tmp_dir() + "events.bin"
    write_bytes(path, b"\x01" * 50)
    log = EventLog(path, 8)
    assert log.open() == 0
    assert len(read_bytes(path)) == 8 * RECORD_BYTES
    assert read_bytes(path + ".old") == b"\x01" * 50  # kept, not wiped (safety review m8)


def test_a_ring_of_another_size_is_kept_and_its_sequence_continued():
    """A firmware with a bigger ring: the history of the old one stays readable in events.old,
    and the new ring numbers its records after the old ones."""
    small = _log(slots=4)
    for i in range(3):
        small.append(EV_BOOT, i, 0, i)
    assert small.flush()
    old = read_bytes(small.path)
    big = EventLog(small.path, 8)
    assert big.open() == 0 and big.next_seq == 4
    assert read_bytes(small.path + ".old") == old
    kept = EventLog(small.path + ".old", 4)
    assert kept.open() == 3 and [r[4] for r in kept.read()] == [0, 1, 2]


def test_flash_error_keeps_records_pending():
    log = _log()
    log.append(EV_BOOT, 1, 0, 0)
    log.path = "/nonexistent-dir/x/events.bin"
    assert not log.flush()
    assert log.write_errors == 1 and log.pending == 1


def test_i32_args():
    assert to_i32(0xFFFFFFFF) == -1
    assert to_i32(5) == 5
    assert to_i32(1 << 40) == 0x7FFFFFFF
    assert to_i32(-(1 << 40)) == -0x80000000
