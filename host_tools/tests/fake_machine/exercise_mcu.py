"""Run on the MicroPython unix port: open hal/mcu.py on a board file, build every role, print JSON.

usage: micropython exercise_mcu.py BOARD_JSON     (fake machine and firmware/ on MICROPYPATH)

Prints one JSON object: the recorded `machine` calls plus what the Platform returned, so the
CPython test can compare them with the board file.
"""

import json
import sys

import machine
from hal import RESET_WATCHDOG, mcu

PWM_FREQ_HZ = 25000
WDT_REQUEST_MS = 20000
RS485_FRAME = b"\x01\x03\x00\x00\x00\x01\x84\x0a"

with open(sys.argv[1]) as f:
    board = json.load(f)

platform = mcu.open_platform(board)
seen = {}
edges = {}
for role in board["pins"]:
    mode = board["pins"][role]["mode"]
    if mode == "out":
        obj = platform.digital_out(role)
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

mark = len(machine.calls)
uart_results = {}
for name in board["uarts"]:
    port = platform.uart(name, 19200)
    uart_results[name] = port.write(RS485_FRAME)

platform.watchdog(WDT_REQUEST_MS).feed()
machine.set_reset_cause(machine.WDT_RESET)
cause = platform.reset_cause()

print(
    json.dumps(
        {
            "calls": machine.calls,
            "uart_mark": mark,
            "seen": seen,
            "edges": edges,
            "uart_written": uart_results,
            "wdt_request_ms": WDT_REQUEST_MS,
            "pwm_freq_hz": PWM_FREQ_HZ,
            "reset_cause_is_watchdog": cause == RESET_WATCHDOG,
            "unique_id": list(platform.unique_id()),
            "impl": sys.implementation.name,
        }
    )
)
