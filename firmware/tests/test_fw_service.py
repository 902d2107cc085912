"""The service channel (app/service.py) on the fake HAL: framed read-only requests on the console
answered from the control slot while the scan loop runs (status, file chunks, the deploy check,
registers), nothing else on the console taken for a request, bad frames dropped without a fault,
bounded work per tick; and Ctrl-C opening the HAL's maintenance window.

Frames are built here with a CRC-16/MODBUS written independently of the firmware's."""

import json
import sys
from binascii import hexlify, unhexlify

from app.app import App
from app.scheduler import SLOT_FAST
from support import BOARD, fake_platform, tmp_dir, write_bytes

CONTROL_FRAMES = 10  # a control tick every 10 fast frames (100 ms / 10 ms)


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def request(seq, cmd, args=b""):
    payload = bytes((seq, ord(cmd))) + args
    return (
        b"#GP>" + (b"%04x" % len(payload)) + hexlify(payload) + (b"%04x" % crc16(payload)) + b"\r"
    )


def replies(out):
    """(seq, status, data) of every reply line in the console output; CRC and length checked."""
    found = []
    for line in out.split(b"\r\n"):
        if not line.startswith(b"#GP<"):
            continue
        n = int(line[4:8], 16)
        assert len(line) == 12 + 2 * n, line
        payload = unhexlify(line[8 : 8 + 2 * n])
        assert crc16(payload) == int(line[8 + 2 * n :], 16), line
        found.append((payload[0], payload[1], payload[2:]))
    return found


def _app(root=None, platform=None):
    p = platform or fake_platform()
    return App(p, BOARD, root or tmp_dir(), log_slots=32), p


def _ask(app, p, data, frames=CONTROL_FRAMES):
    p.console_port.inject(data)
    app.run(frames=frames)
    return replies(p.console_port.take_output())


def test_status_answered_within_one_control_tick_while_the_loop_runs():
    app, p = _app()
    app.run(frames=3)
    ticks = app.scheduler.ticks
    got = _ask(app, p, request(7, "S"))
    assert [(seq, status) for seq, status, _ in got] == [(7, 0)]
    status = json.loads(got[0][2])
    assert status["board"] == "TEST" and status["module_id"] == "GRIDPOD-0000"
    assert status["mode"] == "normal" and status["config_status"] == "defaults"
    assert status["firmware"].count(".") == 1 and status["faults"] == []
    assert status["config_crc32"] == "%08x" % app.config.crc
    assert status["deploy"] is None and status["boot"] == app.log.boot_count
    assert app.scheduler.ticks == ticks + CONTROL_FRAMES  # the loop never left
    assert app.scheduler.task_errors == 0 and p.wdt.feeds > 0


def test_file_read_in_chunks_of_at_most_256_bytes():
    root = tmp_dir()
    data = bytes(range(256)) * 3 + b"tail"
    write_bytes(root + "config.json", data)
    app, p = _app(root)
    got = b""
    size = None
    for seq in range(1, 10):
        args = len(got).to_bytes(4, "big") + (1000).to_bytes(2, "big") + b"/config.json"
        ((rseq, status, chunk),) = _ask(app, p, request(seq, "R", args))
        assert rseq == seq and status == 0
        size = int.from_bytes(chunk[:4], "big")
        assert len(chunk) - 4 <= 256
        got += chunk[4:]
        if len(got) >= size:
            break
    assert size == len(data) and got == data
    missing = b"\0\0\0\0\0\x10/nope"
    assert [s for _, s, _ in _ask(app, p, request(1, "R", missing))] == [2]


def test_deploy_check_hashes_the_manifest_files_a_bounded_step_per_tick():
    import hashlib

    root = tmp_dir()
    files = {"/a.mpy": b"A" * 5000, "/lib/b.mpy": b"B" * 300, "/main.py": b"print(1)\n"}
    import os

    os.mkdir(root + "lib")
    for path, data in files.items():
        write_bytes(root + path[1:], data)
    digests = {
        path: hexlify(hashlib.sha256(data).digest()).decode() for path, data in files.items()
    }
    manifest = {"id": "0123456789abcdef", "files": digests}
    write_bytes(root + "manifest.json", json.dumps(manifest).encode())
    app, p = _app(root)
    ((_, status, data),) = _ask(app, p, request(3, "V"), frames=5 * CONTROL_FRAMES)
    assert status == 0
    assert json.loads(data) == {"id": "0123456789abcdef", "files": 3, "bad": 0, "first": []}
    assert "app.deploy_check" not in sys.modules  # loaded for the request only (heap)
    assert json.loads(_ask(app, p, request(4, "S"))[0][2])["deploy"] == "0123456789abcdef"

    write_bytes(root + "lib/b.mpy", b"changed")
    os.remove(root + "main.py")
    ((_, status, data),) = _ask(app, p, request(5, "V"), frames=5 * CONTROL_FRAMES)
    result = json.loads(data)
    assert result["bad"] == 2 and sorted(result["first"]) == ["/lib/b.mpy", "/main.py"]
    assert app.scheduler.task_errors == 0


def test_registers_as_modbus_sends_them():
    app, p = _app()
    ((_, status, data),) = _ask(app, p, request(9, "G", b"\x00\x00\x00\x00\x03"))
    assert status == 0 and data[:2] == b"\x47\x50"  # holding 0: the map magic, high byte first
    assert len(data) == 6
    ((_, status, _),) = _ask(app, p, request(9, "G", b"\x00\x00\x00\x00\x00"))
    assert status == 1  # count 0


def test_other_console_bytes_and_bad_frames_are_dropped_without_a_fault():
    app, p = _app()
    good = request(1, "S")
    bad_crc = good[:-2] + (b"0" if good[-2:-1] != b"0" else b"1") + b"\r"
    noise = b"\x01\x04print('x')\r\n#GP>zz\r#GP>0002\r" + b"#" * 600 + b"\r"
    got = _ask(app, p, noise + bad_crc, frames=16 * CONTROL_FRAMES)  # 128 bytes a tick at most
    assert got == []
    assert app.service.bad_frames == 3 and app.service.requests == 0
    assert app.scheduler.task_errors == 0 and not app.faults.any_active()
    assert [s for _, s, _ in _ask(app, p, request(2, "S"))] == [0]
    assert [s for _, s, _ in _ask(app, p, request(3, "Q"))] == [1]  # unknown command


def test_one_request_per_control_tick():
    app, p = _app()
    p.console_port.inject(request(1, "S") + request(2, "S"))
    app.run(frames=CONTROL_FRAMES)
    assert [r[0] for r in replies(p.console_port.take_output())] == [1]
    app.run(frames=CONTROL_FRAMES)
    assert [r[0] for r in replies(p.console_port.take_output())] == [2]


def test_ctrl_c_opens_the_maintenance_window_and_a_run_closes_it():
    app, p = _app()
    app.run(frames=2)
    assert p.windows == [0]  # the scan loop feeds the watchdog

    class CtrlC:
        def tick(self, now_ms):
            raise KeyboardInterrupt()

    app.scheduler.add(CtrlC(), SLOT_FAST)
    app.run()
    assert p.windows == [0, 0, 300000]  # the default window (hal MAINTENANCE_WINDOW_MS)
    assert p.outputs["K_POS_COIL"].level == 0 and p.outputs["HEALTHY_RELAY"].level == 0
    board = dict(BOARD, maintenance_window_ms=5000)
    app2, p2 = _app(platform=fake_platform(board))
    app2.scheduler.add(CtrlC(), SLOT_FAST)
    app2.run()
    assert p2.windows == [0, 5000]


def test_a_console_that_fails_is_never_a_task_fault():
    app, p = _app()

    def broken(_data):
        raise OSError(5)

    p.console_port.write = broken
    p.console_port.inject(request(1, "S"))
    app.run(frames=2 * CONTROL_FRAMES)
    assert app.service.requests == 1
    assert app.scheduler.task_errors == 0 and not app.faults.any_active()


def test_the_answers_are_loaded_at_a_request_and_forgotten_when_nobody_asks():
    app, p = _app()
    app.run(frames=CONTROL_FRAMES)
    assert app.service.answers is None  # nobody asked yet (other tests may have loaded it)
    assert [s for _, s, _ in _ask(app, p, request(1, "S"))] == [0]
    assert app.service.answers is not None
    app.run(frames=31 * 100)  # 31 s without a request
    assert app.service.answers is None and "app.service_answers" not in sys.modules
    assert [s for _, s, _ in _ask(app, p, request(2, "S"))] == [0]  # loaded again


# Chip speed, modelled in fake CPU time (docs/service-channel.md, `python -m gridpod.perf.service`):
# hexing a reply and its CRC-16 cost an ESP32 about 20 us per character written; a deploy check
# step (1 KiB hashed, or 128 manifest bytes scanned) about a millisecond.
WRITE_US = 20
STEP_US = 1000
BUDGET_US = 3000  # app/service.py _BUDGET_US
PIECE_US = 64 * WRITE_US  # one piece of a reply line: 32 bytes, 64 characters


def _metered(app, p):
    """Per control tick of the service: (work in fake us, console bytes it took, requests it
    parsed, characters it wrote)."""
    con = p.console_port
    svc = app.service
    plain_write = con.write

    def costly_write(data):
        p.add_work_us(WRITE_US * len(data))
        return plain_write(data)

    con.write = costly_write
    plain_tick = svc.tick
    ticks = []

    def metered_tick(now_ms):
        t0 = p.ticks_us()
        waiting = con._rx_len
        requests = svc.requests
        out = len(con.out)
        done = plain_tick(now_ms)
        ticks.append(
            (
                p.ticks_diff(p.ticks_us(), t0),
                waiting - con._rx_len,
                svc.requests - requests,
                len(con.out) - out,
            )
        )
        return done

    svc.tick = metered_tick
    return ticks


def test_service_work_per_control_tick_is_bounded():
    """At most 128 console bytes read and one request parsed a control tick; a reply written
    until 3 ms of the tick's work are spent (plus the piece under way and its head), the rest at
    the next ticks, the fast ticks running in between; a deploy check the same. The replies are
    whole and correct, and nothing raised."""
    root = tmp_dir()
    write_bytes(root + "config.json", bytes(range(256)) * 2)
    import hashlib

    files = {}
    for i in range(6):
        data = bytes((i + k) & 0xFF for k in range(256)) * 12
        write_bytes(root + "m%d.mpy" % i, data)
        files["/m%d.mpy" % i] = hexlify(hashlib.sha256(data).digest()).decode()
    manifest = {"id": "0123456789abcdef", "files": files}
    write_bytes(root + "manifest.json", json.dumps(manifest).encode())
    app, p = _app(root)
    ticks = _metered(app, p)
    con = p.console_port
    con.inject(b"#" * 300 + b"\r")  # console noise: a long line that is no request
    con.inject(request(1, "S") + request(2, "R", b"\0\0\0\0\x01\x00/config.json"))
    con.inject(request(3, "G", b"\x01\x00\x00\x00\x78"))
    frames = app.scheduler.ticks
    app.run(frames=40 * CONTROL_FRAMES)
    got = replies(con.take_output())
    assert [(seq, status) for seq, status, _ in got] == [(1, 0), (2, 0), (3, 0)]
    assert json.loads(got[0][2])["board"] == "TEST" and got[1][2][4:] == bytes(range(256))
    assert len(got[2][2]) == 240
    assert max(t[0] for t in ticks) <= BUDGET_US + 2 * PIECE_US, ticks
    assert max(t[1] for t in ticks) <= 128 and max(t[2] for t in ticks) <= 1
    assert sum(1 for t in ticks if t[3] > 0) > 3 * 2  # each reply went out over several ticks
    assert app.scheduler.ticks == frames + 40 * CONTROL_FRAMES  # every fast frame ran
    assert app.scheduler.task_errors == 0

    import app.deploy_check as deploy_check  # the copy app/service.py loads for the request

    plain_step = deploy_check.DeployCheck.step

    def costly_step(self):
        p.add_work_us(STEP_US)
        return plain_step(self)

    deploy_check.DeployCheck.step = costly_step
    del ticks[:]
    con.inject(request(4, "V"))
    app.run(frames=80 * CONTROL_FRAMES)
    ((seq, status, data),) = replies(con.take_output())
    assert seq == 4 and json.loads(data)["files"] == 6 and json.loads(data)["bad"] == 0
    busy = [t[0] for t in ticks if t[0] > 0]
    assert len(busy) > 6  # 6 files of 3 KiB: more than a tick's budget of steps
    assert max(busy) <= BUDGET_US + STEP_US + 2 * PIECE_US, busy
    assert app.scheduler.task_errors == 0
