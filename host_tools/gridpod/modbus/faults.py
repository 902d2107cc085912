"""The firmware's fault table on the host: names by id, and the bitfield registers decoded.

Read from the firmware's own rows (app/platform_faults.py, control/fault_rows.py), so a fault added
there is named here without a second list. 60 ids in two 30-bit words (map v4): faults_active /
faults_latched hold ids 0..29, faults_active_hi / faults_latched_hi ids 30..59.
"""

from functools import cache

from ..build.tree import import_firmware

WORD_BITS = 30
SEVERITIES = {0: "info", 1: "warning", 2: "fatal"}


@cache
def fault_rows() -> dict[int, tuple[str, str]]:
    """{fault id: (name, severity word)} of every row the firmware defines."""
    rows = (
        import_firmware("app.platform_faults").FAULTS
        + import_firmware("control.fault_rows").CONTROL_FAULTS
    )
    return {r[0]: (r[1], SEVERITIES.get(r[4], str(r[4]))) for r in rows}


def fault_name(fault_id: int) -> str:
    row = fault_rows().get(fault_id)
    return row[0] if row else f"fault {fault_id}"


def active_ids(low_word: int, high_word: int = 0) -> list[int]:
    """Fault ids set in a (low, high) pair of bitfield words."""
    ids = [i for i in range(WORD_BITS) if low_word >> i & 1]
    return ids + [WORD_BITS + i for i in range(WORD_BITS) if high_word >> i & 1]


def active_names(low_word: int, high_word: int = 0) -> list[str]:
    return [fault_name(i) for i in active_ids(low_word, high_word)]
