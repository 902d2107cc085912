"""Run on the MicroPython unix port: open hal/mcu.py on a board file, build every role, print JSON.

usage: micropython exercise_mcu.py BOARD_JSON     (fake machine and firmware/ on MICROPYPATH)

Prints one JSON object: the recorded `machine` calls plus what the Platform returned, so the
CPython test can compare them with the board file. Outputs on external chips are then switched
through a scripted sequence (marks into `calls` after each step), once with the bus failing and
once under micropython.heap_lock().
"""

import gc
import json
import sys
import time  # this folder's simulated clock (time.py)

import machine
import micropython
from hal import RESET_WATCHDOG, mcu

PWM_FREQ_HZ = 25000
WDT_REQUEST_MS = 20000
RS485_FRAME = b"\x01\x03\x00\x00\x00\x01\x84\x0a"

with open(sys.argv[1]) as f:
    board = json.load(f)

# Value, mark, readback: "value 1" is obj.value(1); "on"/"off" the methods.
EXT_OUT_STEPS = ("value 1", "value 1", "value 0", "value 0", "on", "on", "off", "off")

platform = mcu.open_platform(board)
open_mark = len(machine.calls)
seen = {}
edges = {}
outs = {}
for role in board["pins"]:
    mode = board["pins"][role]["mode"]
    if mode == "out":
        obj = platform.digital_out(role)
        outs[role] = obj
        seen[role] = obj.value()
    elif mode == "in":
        seen[role] = platform.digital_in(role).value()
    elif mode == "adc":
        seen[role] = platform.adc(role).read_u16()
    elif mode == "pwm":
        seen[role] = platform.pwm(role, PWM_FREQ_HZ).duty_u16()
    elif mode == "counter":
        counter = platform.pulse_counter(role)
        n_edges = len(role)  # a different count per role, so a mixed-up counter shows
        for _ in range(n_edges):
            machine.pins[board["pins"][role]["pin"]].fire()
        edges[role] = [n_edges, counter.count()]

# Fail-safe inputs on an expander (safety review C1): the line released (no loop current: the
# PCF8574's weak pull-up), pulled low (loop closed, level made), and the bus dead. The dead-bus
# reading goes through the real interlock logic.
safety = {}
for role in ("INTERLOCK_LOOP", "LEVEL_OK"):
    spec = board["pins"].get(role)
    if spec is None or "ext" not in spec:
        continue
    from control.interlocks import Interlocks

    dev_spec = board["ext"][spec["ext"]]
    bus = machine.i2cs[board["i2c"][dev_spec["bus"]]["id"]]
    line = platform.digital_in(role)
    result = {"released": line.value()}
    bus.byte_in[dev_spec["addr"]] = bytes((0xFF & ~(1 << spec["ch"]),))
    result["pulled_low"] = line.value()
    errors_before = platform.bus_errors()
    bus.fail_reads = True
    result["bus_error"] = dead = line.value()
    bus.fail_reads = False
    result["bus_errors_counted"] = platform.bus_errors() - errors_before  # -> FAULT_IO_BUS
    bus.byte_in.pop(dev_spec["addr"])
    interlocks = Interlocks({"derate_pct": 50})
    result["permit_on_dead_bus"] = interlocks.step(True, dead, 0, False, 0)
    result["causes_on_dead_bus"] = interlocks.causes
    safety[role] = result

mark = len(machine.calls)
uart_results = {}
for name in board["uarts"]:
    port = platform.uart(name, 19200)
    uart_results[name] = port.write(RS485_FRAME)
    # the scan loop's idle waits release DE once the frame has left (a few frames at most)
    deadline = time.ticks_ms()
    for _ in range(3):
        deadline = time.ticks_add(deadline, 10)
        platform.wait_until_ms(deadline)

platform.watchdog(WDT_REQUEST_MS).feed()
machine.set_reset_cause(machine.WDT_RESET)
cause = platform.reset_cause()

# The maintenance window (Ctrl-C for a host tool): a timer feeds the watchdog the App started,
# then machine.reset() (the fake raises SystemExit). Then a window the scan loop closes.
window_mark = len(machine.calls)
wdt = platform._wdt
fed_before = wdt.fed
window_ms = platform.maintenance(True)
timer = machine.timers[-1]
fires = 0
reset_after = None
try:
    while fires < 100000:
        fires += 1
        timer.fire()
except SystemExit:
    reset_after = fires
window = {
    "mark": window_mark,
    "window_ms": window_ms,
    "period_ms": timer.period,
    "reset_after_fires": reset_after,
    "feeds": wdt.fed - fed_before,
}
platform.maintenance(True)
platform.maintenance(False)
window["closed"] = machine.timers[-1].callback is None and platform.maintenance(False) == 0


def step(obj, name):
    if name == "on":
        obj.on()
    elif name == "off":
        obj.off()
    else:
        obj.value(int(name[-1]))


def toggle_locked(obj, n):
    """n rounds of value(b), value(b), on(), off() under heap_lock -> (ok, bytes allocated).

    Only locals while the heap is locked: storing a new global or dict key could allocate.
    """
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    ok = True
    micropython.heap_lock()
    try:
        i = 0
        while i < n:
            obj.value(i & 1)
            obj.value(i & 1)
            obj.on()
            obj.off()
            if obj.value():
                ok = False
            i += 1
    except MemoryError:
        ok = "MemoryError"
    finally:
        micropython.heap_unlock()
    grown = gc.mem_alloc() - before
    gc.enable()
    return ok, grown


ext_roles = [
    r for r in board["pins"] if board["pins"][r]["mode"] == "out" and "ext" in board["pins"][r]
]
ext_out = {}
for role in ext_roles:
    obj = outs[role]
    dev_name = board["pins"][role]["ext"]
    dev = platform._ext_devs[dev_name]
    bus = machine.i2cs[board["i2c"][board["ext"][dev_name]["bus"]]["id"]]
    result = {"marks": [len(machine.calls)], "readback": []}
    for name in EXT_OUT_STEPS:
        step(obj, name)
        result["marks"].append(len(machine.calls))
        result["readback"].append(obj.value())
    # Bus error: the write fails quietly and counts; the next call retries it.
    errors_before = dev.errors
    failed_before = bus.failed
    bus.fail_writes = True
    try:
        obj.value(1)
        result["raised"] = None
    except Exception as exc:  # the test wants to see anything that escaped
        result["raised"] = repr(exc)
    result["failed_attempts"] = bus.failed - failed_before
    result["readback_while_failing"] = obj.value()
    bus.fail_writes = False
    result["errors_added"] = dev.errors - errors_before
    result["retry_mark"] = len(machine.calls)
    obj.value(1)
    result["after_retry_mark"] = len(machine.calls)
    obj.value(0)
    result["after_off_mark"] = len(machine.calls)
    # No allocation per call, written or not.
    bus.quiet = True
    result["toggled_ok"], result["alloc_bytes"] = toggle_locked(obj, 20)
    result["quiet_writes"] = bus.quiet_writes
    bus.quiet = False
    bus.quiet_writes = 0
    ext_out[role] = result

# Every external output on at once, then off: input lines and other chips' lines stay 1.
all_on_mark = len(machine.calls)
for role in ext_roles:
    outs[role].on()
all_off_mark = len(machine.calls)
for role in ext_roles:
    outs[role].off()

print(
    json.dumps(
        {
            "calls": machine.calls,
            "open_mark": open_mark,
            "uart_mark": mark,
            "ext_out": ext_out,
            "all_on_mark": all_on_mark,
            "all_off_mark": all_off_mark,
            "seen": seen,
            "safety": safety,
            "edges": edges,
            "uart_written": uart_results,
            "wdt_request_ms": WDT_REQUEST_MS,
            "pwm_freq_hz": PWM_FREQ_HZ,
            "reset_cause_is_watchdog": cause == RESET_WATCHDOG,
            "window": window,
            "unique_id": list(platform.unique_id()),
            "impl": sys.implementation.name,
        }
    )
)
