"""Run on the MicroPython unix port: hal/mcu.py's RS-485 line in a simulated scan loop.

usage: micropython exercise_rs485.py BOARD_JSON     (this folder and firmware/ on MICROPYPATH)

The loop has the scheduler's shape on the simulated clock (time.py): every 10 ms frame charges
the clock its work before the Modbus task (lead_us), then the task's read (any(), which polls
the line), then, in the frame a request was answered, the reply written as comms/modbus_rtu.py
writes it (power-of-two views), then the rest of the frame's work, then
platform.wait_until_ms(the next deadline). The UART (machine.py) sends on the simulated clock at
the baud rate and framing it was made with. Prints one JSON object: per scenario the frames'
start times, the clock's cost of each write() call, the UART's sent records, the DE pin's edges
and the txdone() calls.
"""

import json
import sys
import time  # this folder's simulated clock (time.py), not the port's

import machine
from hal import mcu

FRAME_MS = 10

# name: (baud, parity, stop, reply bytes, answered in frame, lead_us, work_us per frame)
SCENARIOS = {
    # an FC03 reply of 10 registers at the config default (19200 8E1): 14.3 ms on the wire, from
    # frame 0 into frame 1's idle wait
    "fc03_19200": (19200, "E", 1, 25, 0, 300, (3000, 3000, 3000, 3000)),
    # a short reply (FC06 echo) that ends in the idle wait of the frame that sent it
    "fc06_19200": (19200, "E", 1, 8, 0, 300, (2000, 2000, 2000)),
    # the end falls in frame 3 before the Modbus task reads (frame 2 ran long)
    "before_read_9600": (9600, "E", 1, 25, 0, 2000, (3000, 3000, 9000, 3000, 3000)),
    # the end falls in a long frame's work after the Modbus task's read
    "in_work_9600": (9600, "E", 1, 24, 0, 300, (3000, 3000, 9500, 3000, 3000)),
    # the longest RTU frame at 115200 8N2, answered in frame 1
    "max_frame_115200": (115200, "N", 2, 256, 1, 300, (3000, 3000, 3000, 3000, 3000)),
}
VIEWS = (128, 64, 32, 16, 8, 4, 2, 1)


def send(port, reply, costs):
    """comms/modbus_rtu.py _send: the reply cut into power-of-two views."""
    left = len(reply)
    pos = 0
    while left:
        for size in VIEWS:
            if size <= left:
                break
        t = time.now_us()
        port.write(reply[pos : pos + size])
        costs.append(time.now_us() - t)
        pos += size
        left -= size


with open(sys.argv[1]) as f:
    board = json.load(f)

spec = board["uarts"]["RS485"]
platform = mcu.open_platform(board)
results = {}
for name in SCENARIOS:
    baud, parity, stop, nbytes, answer_frame, lead_us, works = SCENARIOS[name]
    port = platform.uart("RS485", baud, 8, parity, stop)
    # start the scenario on a frame boundary of the simulated clock
    time.advance_us((FRAME_MS * 1000) - time.now_us() % (FRAME_MS * 1000))
    t0 = time.now_us()
    edges_from = len(machine.pin_edges)
    reply = bytes((i * 7 + 1) & 0xFF for i in range(nbytes))
    costs = []
    frames = []
    deadline = time.ticks_ms()
    for k in range(len(works)):
        frames.append(time.now_us() - t0)
        time.advance_us(lead_us)
        port.any()  # the Modbus task's read
        if k == answer_frame:
            send(port, reply, costs)
        time.advance_us(works[k] - lead_us)
        deadline = time.ticks_add(deadline, FRAME_MS)
        platform.wait_until_ms(deadline)
    fake_uart = port._uart
    results[name] = {
        "baud": baud,
        "char_bits": fake_uart.char_bits,
        "bytes": nbytes,
        "answer_frame": answer_frame,
        "lead_us": lead_us,
        "works_us": list(works),
        "frames_us": frames,
        "write_costs_us": costs,
        "sent": [[start - t0, end - t0, len(data)] for start, end, data in fake_uart.sent],
        "de_edges": [
            [level, t - t0] for pin, level, t in machine.pin_edges[edges_from:] if pin == spec["de"]
        ],
        "txdone_calls": fake_uart.txdone_calls,
        "one_shots": port._alarm._timer.one_shots if getattr(port, "_alarm", None) else 0,
        "sending_at_end": getattr(port, "sending", False),  # (the blocking line before had none)
    }
print(json.dumps({"scenarios": results}))
