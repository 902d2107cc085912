"""Run on the MicroPython unix port: hal/mcu.py's ADS1115 reads in a simulated scan loop.

usage: micropython exercise_ads.py BOARD_JSON     (this folder and firmware/ on MICROPYPATH)

Every ADS1115 of the board file is an Ads1115 model (machine.py) on the simulated clock
(time.py): transfers take their bit time at the bus clock, conversions their data-rate time.
The loop is the scheduler's shape: each 10 ms frame reads the fast tick's analog roles, every
10th frame also the control tick's, then idles in platform.wait_until_ms(next deadline); in the
"long" phase every frame works 25 ms first, so no idle wait runs.
Inputs change per phase (a set of raw counts per phase, distinct per chip and channel), and the
pack's chip goes dead, is power-cycled and turns slow. Prints one JSON object per run: per
frame the fast reads (values, transfers, bus time, sleeps) and the control reads.
"""

import json
import sys
import time  # this folder's simulated clock (time.py), not the port's

import machine
from hal import mcu

FRAME_MS = 10
CONTROL_EVERY = 10  # control tick: 100 ms
# The analog roles the fast tick reads: app/subsystems/battery.py fast() (pack, link, current)
# and app/subsystems/grid.py fast() (the grid meter, for the peak shaver).
FAST_ROLES = ("V_PACK", "V_LINK", "I_PACK", "GRID_KW")

# (first frame, what happens): inputs change with every phase
PHASES = (
    (0, "boot"),
    (30, "change"),
    (60, "dead"),  # the pack's chip NACKs everything
    (70, "revived"),
    (100, "power_cycle"),  # the pack's chip resets (mid-conversion) and comes back
    (130, "slow"),  # the pack's chip converts 15x slower than 860 SPS (~17.5 ms)
    (170, "long"),  # every frame works 25 ms: no idle wait, the reads service their chips
    (200, "end"),
)
LONG_FRAME_US = 25000


def raw_counts(phase, chip, ch):
    """Distinct positive counts per phase, chip and channel (below 32767: in range)."""
    return 1000 + 6000 * ch + 1300 * chip + 350 * phase


with open(sys.argv[1]) as f:
    board = json.load(f)

chips = sorted(n for n in board["ext"] if board["ext"][n]["chip"] == "ADS1115")
models = {}
for name in chips:
    spec = board["ext"][name]
    models[name] = machine.attach_ads(board["i2c"][spec["bus"]]["id"], spec["addr"])

platform = mcu.open_platform(board)
adcs = {}
where = {}  # role -> [chip name, channel, chip index]
for role, spec in board["pins"].items():
    if spec["mode"] == "adc" and spec.get("ext") in models:
        adcs[role] = platform.adc(role)
        where[role] = [spec["ext"], spec["ch"], chips.index(spec["ext"])]
devs = {name: platform._ext_devs[name] for name in chips}
platform.release_boot()  # as the App does once built: the idle service must survive it
fast = [r for r in FAST_ROLES if r in adcs]
control = [r for r in adcs if r not in fast]
pack_chip = where["V_PACK"][0]


def set_inputs(phase):
    for name in chips:
        for ch in range(4):
            models[name].raw[ch] = raw_counts(phase, chips.index(name), ch)


def read(roles):
    # only this read's records (the logs would fill the VM's heap over 200 frames)
    machine.calls.clear()
    machine.transactions.clear()
    time.sleeps.clear()
    values = {r: adcs[r].read_u16() for r in roles}
    tx = machine.transactions
    return {
        "values": values,
        "tx": len(tx),
        "bus_us": sum(t[4] for t in tx),
        "bits": sum(t[3] for t in tx),
        "sleeps": time.sleeps[:8],  # a few are enough to show
        "n_sleeps": len(time.sleeps),
    }


frames = []
phase = 0
deadline = time.ticks_ms()
set_inputs(phase)
for frame in range(PHASES[-1][0]):
    if phase + 1 < len(PHASES) and frame == PHASES[phase + 1][0]:
        phase += 1
        set_inputs(phase)
        event = PHASES[phase][1]
        models[pack_chip].dead = event == "dead"
        models[pack_chip].slow = 15 if event == "slow" else 1
        if event == "power_cycle":
            models[pack_chip].reset()
    entry = {"phase": phase, "t_ms": time.now_us() // 1000, "fast": read(fast)}
    if frame % CONTROL_EVERY == 0:
        entry["control"] = read(control)
    if PHASES[phase][1] == "long":
        time.advance_us(LONG_FRAME_US)  # the deadline passes: the idle wait returns at once
    errors = {n: devs[n].errors for n in chips}
    entry["errors"] = errors
    frames.append(entry)
    deadline = time.ticks_add(deadline, FRAME_MS)
    platform.wait_until_ms(deadline)

print(
    json.dumps(
        {
            "frames": frames,
            "phases": PHASES,
            "where": where,
            "fast_roles": fast,
            "control_roles": control,
            "freq_hz": {n: board["i2c"][board["ext"][n]["bus"]]["freq_hz"] for n in chips},
            "starts": {n: sorted(set(models[n].starts)) for n in chips},
            "pack_chip": pack_chip,
            "raw": {
                r: [raw_counts(k, where[r][2], where[r][1]) for k in range(len(PHASES))]
                for r in where
            },
        }
    )
)
