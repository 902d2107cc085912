"""The harness message table is written on both ends of the link: the host's
gridpod/harness/protocol.py (and serial_link.py for the HIL framing), the VM runtime
(vboard/runtime/vm_main.py, MicroPython only) and the firmware's HAL (firmware/hal/harness.py,
hil.py and window.py). The board-side files are read as text (ast), never imported or edited
here; a value that differs, or a board-side name the host does not know, fails with the file and
the name."""

import ast
from pathlib import Path

from gridpod.harness import protocol, serial_link

ROOT = Path(__file__).resolve().parents[2]
VM_MAIN = ROOT / "host_tools/gridpod/vboard/runtime/vm_main.py"
FW_HARNESS = ROOT / "firmware/hal/harness.py"
FW_HIL = ROOT / "firmware/hal/hil.py"
FW_WINDOW = ROOT / "firmware/hal/window.py"

HOST_MESSAGES = {
    name: getattr(protocol, name)
    for name in (
        "HELLO",
        "REGISTER",
        "EXCHANGE",
        "WATCHDOG",
        "MAINTENANCE",
        "INTR",
        "RESET",
        "BROWN_OUT",
        "RESUME",
        "INTERRUPTED",
    )
} | {"QUERY": serial_link.QUERY}
HOST_KINDS = {n[len("KIND_") :]: v for n, v in vars(protocol).items() if n.startswith("KIND_")}
HOST_KINDS.pop("NAMES")


def int_constants(path: Path) -> dict[str, int]:
    """Module-level NAME = <int> and NAME = const(<int>) of a source file, by name."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target, value = node.targets[0], node.value
        if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "const":
            value = value.args[0]
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            if isinstance(value.value, int):
                found[target.id] = value.value
    return found


def table(path: Path, prefix: str) -> dict[str, int]:
    """The constants named [_]<prefix><NAME>, keyed by NAME."""
    return {
        name.lstrip("_")[len(prefix) :]: v
        for name, v in int_constants(path).items()
        if name.lstrip("_").startswith(prefix)
    }


def drift(path: Path, copy: dict[str, int], reference: dict[str, int]) -> list[str]:
    rel = path.relative_to(ROOT)
    return [
        f"{rel}: {name} = {v:#x}, host {reference.get(name, 'has no such message')}"
        for name, v in sorted(copy.items())
        if reference.get(name) != v
    ]


def test_host_message_types_are_distinct():
    assert len(set(HOST_MESSAGES.values())) == len(HOST_MESSAGES), HOST_MESSAGES


def test_vm_runtime_messages_match_the_host():
    copy = table(VM_MAIN, "MSG_")
    assert set(copy) == {"HELLO", "INTR", "BROWN_OUT", "RESUME", "RESET"}, copy
    assert drift(VM_MAIN, copy, HOST_MESSAGES) == []


def test_firmware_harness_messages_kinds_and_no_feed_match_the_host():
    copy = table(FW_HARNESS, "MSG_")
    assert set(copy) >= {"REGISTER", "EXCHANGE", "WATCHDOG", "INTERRUPTED"}, copy
    assert drift(FW_HARNESS, copy, HOST_MESSAGES) == []
    kinds = table(FW_HARNESS, "KIND_")
    assert kinds == HOST_KINDS, (kinds, HOST_KINDS)
    assert int_constants(FW_HARNESS)["_NO_FEED"] == protocol.NO_FEED


def test_firmware_hil_link_messages_and_preamble_match_the_host():
    copy = table(FW_HIL, "MSG_")
    assert set(copy) >= {"HELLO", "RESET", "QUERY"}, copy
    assert drift(FW_HIL, copy, HOST_MESSAGES) == []
    preamble = table(FW_HIL, "PREAMBLE_")
    assert bytes((preamble["1"], preamble["2"])) == serial_link.PREAMBLE


def test_firmware_maintenance_window_message_matches_the_host():
    copy = table(FW_WINDOW, "MSG_")
    assert set(copy) == {"MAINTENANCE"}, copy
    assert drift(FW_WINDOW, copy, HOST_MESSAGES) == []


def test_every_host_message_has_a_board_side():
    board_side = set(table(VM_MAIN, "MSG_")) | set(table(FW_HARNESS, "MSG_"))
    board_side |= set(table(FW_HIL, "MSG_")) | set(table(FW_WINDOW, "MSG_"))
    assert board_side == set(HOST_MESSAGES), set(HOST_MESSAGES) ^ board_side


def test_drift_is_reported_by_file_and_name(tmp_path):
    copy = {"HELLO": 0x48, "RESET": 0x5B, "NOPE": 1}
    assert drift(VM_MAIN, copy, HOST_MESSAGES) == [
        "host_tools/gridpod/vboard/runtime/vm_main.py: NOPE = 0x1, host has no such message",
        f"host_tools/gridpod/vboard/runtime/vm_main.py: RESET = 0x5b, host {0x5A}",
    ]
    sample = tmp_path / "s.py"
    sample.write_text("from micropython import const\n_MSG_A = const(0x41)\nMSG_B = 66\nX = 'c'\n")
    assert table(sample, "MSG_") == {"A": 0x41, "B": 66}
