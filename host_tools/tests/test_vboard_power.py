"""Power, flash and clock behaviour of the virtual board: what a brown-out leaves behind."""

import time

import pytest
import serial
from gridpod.vboard.flash import FlashImage
from gridpod.vboard.supervisor import VirtualBoard
from gridpod.vboard.vm import WORD_SCALE
from vboard_helpers import BLINK_MAIN, make_flash, mpremote


def wait_for(predicate, timeout_s=20.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_flash_survives_power_cycle(tmp_path):
    """A closed file survives; (an unclosed one is not committed by littlefs, as on a board)."""
    with VirtualBoard(flash=make_flash(tmp_path / "f.img", {}), speed=1) as vb:
        code = "with open('/keep.txt', 'w') as f:\n    f.write('survives')"
        mpremote(vb.console_port, "exec", code)
        vb.power_cycle()
        assert (
            mpremote(vb.console_port, "exec", "print(open('/keep.txt').read())").stdout.strip()
            == "survives"
        )
        assert vb.resets == 1
    assert FlashImage(tmp_path / "f.img").read("/keep.txt") == b"survives"


REPLACE_MAIN = """
import os
def content(g):
    return 'gen%d:' % g + 'x' * 3000 + ':end%d' % g
old = open('/state.txt').read()
g = int(old[3:old.index(':')])
with open('/state.tmp', 'w') as f:
    f.write(content(g + 1))
os.rename('/state.tmp', '/state.txt')
with open('/after.txt', 'w') as f:  # more flash work after the commit: later kills see 'new'
    f.write('after')
print('REPLACED', g + 1)
"""


def content(g: int) -> bytes:
    return (f"gen{g}:" + "x" * 3000 + f":end{g}").encode()


def test_brown_out_during_write_then_rename_never_tears(tmp_path):
    """Kill the VM in the middle of every flash operation of one atomic file replacement."""
    outcomes = {}
    image = tmp_path / "f.img"
    for kill_at in range(1, 80):
        make_flash(image, {"/main.py": REPLACE_MAIN, "/state.txt": content(0)}, with_hal=False)
        with VirtualBoard(flash=image, speed=1) as vb:
            vb.power_off()
            vb.brown_out_after_flash_ops(kill_at, power_returns=False)
            vb.power_on()
            wait_for(lambda: not vb.powered or b"REPLACED" in vb.console_log, what="kill or finish")
            finished = vb.brown_outs == 0
            if finished:
                break
        img = FlashImage(image)
        data = img.read("/state.txt")
        assert data in (content(0), content(1)), f"torn file after a kill at flash op {kill_at}"
        outcomes[kill_at] = "old" if data == content(0) else "new"
    print("kill points:", outcomes)
    assert finished, "the replacement never completed within 80 flash ops"
    assert len(outcomes) >= 5, f"only {len(outcomes)} kill points: {outcomes}"
    assert {"old", "new"} == set(outcomes.values()), outcomes
    # The VM's own littlefs view agrees after power returns.
    with VirtualBoard(flash=image, speed=1) as vb:
        vb.wait_console(b"REPLACED")
        out = mpremote(vb.console_port, "exec", "print(open('/state.txt').read()[:5])").stdout
        assert out.startswith("gen")


def test_brown_out_at_simulated_time_reboots_with_cause(tmp_path):
    main = BLINK_MAIN.replace(
        "led = p.digital_out('STATUS_LED')",
        "print('RESET_CAUSE', p.reset_cause())\nled = p.digital_out('STATUS_LED')",
    )
    with VirtualBoard(flash=make_flash(tmp_path / "f.img", {"/main.py": main}), speed="max") as vb:
        vb.brown_out(2.0)
        vb.run_until(3.0)
        assert vb.brown_outs == 1 and vb.resets == 1
        assert b"RESET_CAUSE 1" in vb.console_log and b"RESET_CAUSE 6" in vb.console_log
        edges = vb.plant.edges["STATUS_LED"]
        # Four heartbeat edges before the cut (0.5 s .. 2.0 s), then the new boot starts again.
        assert [t for t, _ in edges if t <= 2000][:5] == [0, 500, 1000, 1500, 2000]


def test_watchdog_reset_when_firmware_stops_feeding(tmp_path):
    main = """
import json
from hal import virtual
p = virtual.open_platform(json.load(open('/board.json')))
print('RESET_CAUSE', p.reset_cause())
wdt = p.watchdog(1000)
t = p.ticks_ms()
while True:
    t += 10
    p.wait_until_ms(t)
    if t < 3000:
        wdt.feed()
"""
    with VirtualBoard(flash=make_flash(tmp_path / "f.img", {"/main.py": main}), speed="max") as vb:
        vb.run_until(4.5)
        assert b"RESET_CAUSE 3" in vb.console_log
        assert vb.resets == 1
        assert b"watchdog expired" in vb.console_log


def test_rs485_bytes_reach_the_firmware_and_back(tmp_path):
    with VirtualBoard(
        flash=make_flash(tmp_path / "f.img", {"/main.py": BLINK_MAIN}), speed=1
    ) as vb:
        vb.run_until(0.1)
        with serial.Serial(vb.modbus_port, 19200, timeout=2) as port:
            port.write(b"\x01\x03\x00\x00\x00\x01\x84\x0a")
            assert port.read(8) == b"\x01\x03\x00\x00\x00\x01\x84\x0a"


def test_lockstep_runs_are_deterministic(tmp_path):
    ticks = []
    edges = []
    for run in range(2):
        flash = make_flash(tmp_path / f"f{run}.img", {"/main.py": BLINK_MAIN})
        with VirtualBoard(flash=flash, speed="max", run_for_s=30) as vb:
            vb.finished.wait(60)
            assert vb.finished.is_set()
            ticks.append(vb.stats()["ticks"])
            edges.append(list(vb.plant.edges["STATUS_LED"]))
    assert ticks[0] == ticks[1]
    assert ticks[0] == pytest.approx(3000, abs=2)
    assert edges[0] == edges[1]


def test_boot_starts_with_the_board_heap_budget(tmp_path):
    boot = "import gc\ngc.collect()\nprint('FREE', gc.mem_free())\n"
    flash = make_flash(tmp_path / "f.img", {"/boot.py": boot}, with_hal=False)
    with VirtualBoard(flash=flash, speed=1, heap_bytes=64 * 1024) as vb:
        out = vb.wait_console(b">>> ")
        free = int(out.split(b"FREE ")[1].split()[0])
        budget = 64 * 1024 * WORD_SCALE  # the same object count as 64 KiB on a 32-bit board
        assert budget <= free <= budget + 16 * 1024


def test_several_boards_at_once_do_not_collide(tmp_path):
    boards = [
        VirtualBoard(flash=make_flash(tmp_path / f"f{i}.img", {"/id.txt": f"board{i}"}), speed=1)
        for i in range(3)
    ]
    try:
        for b in boards:
            b.start()
        ports = {b.console_port for b in boards} | {b.modbus_port for b in boards}
        assert len(ports) == 6
        for i, b in enumerate(boards):
            out = mpremote(b.console_port, "exec", "print(open('/id.txt').read())").stdout
            assert out.strip() == f"board{i}"
    finally:
        for b in boards:
            b.close()
