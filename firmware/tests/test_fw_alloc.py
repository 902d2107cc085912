"""The fast frame allocates nothing in steady state (MicroPython only: gc.mem_alloc() and
micropython.heap_lock()). CPython has no gc.mem_alloc, so there only the functional part runs
and the allocation assertions are skipped (noted in the test)."""

import gc

from app.app import App
from support import BOARD, IS_MICROPYTHON, fake_platform, tmp_dir


def _fast_only(s):
    # The next frame runs only the fast slot (no control, no housekeeping/GC/telemetry).
    return s._frame % s._control_div != 0 and s._frame != s._hk_phase


def test_fast_tick_allocates_nothing_in_steady_state():
    p = fake_platform()
    app = App(p, BOARD, tmp_dir(), log_slots=16)
    s = app.scheduler
    uart = p.uarts["RS485"]
    app.run(frames=300)  # warm-up: every slot ran, log flushed, GC slot ran
    frame_ms = s.fast_ms
    now_ms = p.ticks_ms()
    grown = 0
    measured = 0
    rx_before = app.rs485.modbus_rx_bytes
    locked = IS_MICROPYTHON and hasattr(__import__("micropython"), "heap_lock")
    if IS_MICROPYTHON:
        gc.collect()
        gc.disable()
    try:
        for _ in range(1000):
            uart.inject(b"\x01\x03\x00\x00\x00\x01\x84\x0a\x55")  # 9 bytes: 8 + 1 views
            if _fast_only(s):
                if IS_MICROPYTHON:
                    before = gc.mem_alloc()
                    if locked:
                        __import__("micropython").heap_lock()
                    try:
                        s.frame(now_ms)
                    finally:
                        if locked:
                            __import__("micropython").heap_unlock()
                    grown += gc.mem_alloc() - before
                else:
                    s.frame(now_ms)
                measured += 1
            else:
                s.frame(now_ms)
            uart.clear_tx()
            now_ms += frame_ms
            p.wait_until_ms(now_ms)
    finally:
        if IS_MICROPYTHON:
            gc.enable()
    assert measured >= 800
    assert app.rs485.modbus_rx_bytes - rx_before == 9000
    if IS_MICROPYTHON:
        assert grown == 0, "fast frames allocated %d bytes" % grown
    # else: CPython has no gc.mem_alloc(); allocation is only checked on MicroPython.
