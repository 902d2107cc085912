"""The invariant monitors against firmware in the real MicroPython VM: a deliberately broken
controller (closes K_NEG then K_POS without precharge) must be caught; the same skeleton doing a
proper precharge must not. Both variants are small main.py files written into the flash in
place of the application, read the board through the plant's transfer functions
(gridpod.plant.transfer), and run on their own virtual board with a monitored plant."""

import tempfile
from pathlib import Path

from gridpod.build.tree import firmware_files
from gridpod.hil.monitors import MonitoredPlant
from gridpod.plant import Plant
from gridpod.plant import transfer as tf
from gridpod.vboard.flash import create_blank, install_tree
from gridpod.vboard.supervisor import VirtualBoard

VARIANT = """
import json
from hal import virtual
p = virtual.open_platform(json.load(open('/board.json')))
k_neg = p.digital_out('K_NEG_COIL')
k_pre = p.digital_out('K_PRE_COIL')
k_pos = p.digital_out('K_POS_COIL')
v_pack = p.adc('V_PACK')
v_link = p.adc('V_LINK')
t = p.ticks_ms()
def sleep_ms(ms):
    global t
    end = t + ms
    while t < end:
        t += 10
        p.wait_until_ms(t)
sleep_ms(4000)  # coolant flow proven (the pumps run from power-up)
k_neg.value(1)
sleep_ms(100)
if PRECHARGE:
    k_pre.value(1)
    done = 0
    while done < 2:          # DOMAIN.md: within min(2 %, 5 V) for 2 samples
        sleep_ms(10)
        diff = abs(v_pack.read_u16() - v_link.read_u16())
        done = done + 1 if diff <= LIMIT_COUNTS else 0
k_pos.value(1)
sleep_ms(100)
k_pre.value(0)
print('VARIANT closed at', t)
while True:
    sleep_ms(10)
"""


def run_variant(precharge: bool):
    limit_counts = tf.hv_counts(5.0)  # the firmware mirrors the transfer table
    main = VARIANT.replace("PRECHARGE", str(precharge)).replace("LIMIT_COUNTS", str(limit_counts))
    files = {
        k: v for k, v in firmware_files("VIRTUAL").items() if k.startswith(("/hal/", "/board"))
    }
    files["/main.py"] = main.encode()
    plant = MonitoredPlant(Plant(seed=1, profile="training"))
    with tempfile.TemporaryDirectory() as tmp:
        flash = Path(tmp) / "flash.img"
        create_blank(flash)
        install_tree(flash, files)
        with VirtualBoard(flash=flash, speed="max", plant=plant) as vb:
            vb.run_until(11.0, timeout_s=120)
            console = bytes(vb.console_log)
    return plant, console


def test_monitor_fails_a_controller_that_skips_precharge():
    plant, console = run_variant(precharge=False)
    assert b"VARIANT closed" in console, console[-500:]
    v = plant.violation
    assert v is not None, "the monitor missed a main contactor closed without precharge"
    assert v.name == "contactor_precharge"
    k_pos_on = [t for t, val in plant.edges["K_POS_COIL"] if val == 1]
    assert v.t_ms == k_pos_on[0]  # caught on the very tick the coil was commanded
    assert plant.power.mains_closed()  # the plant did what the broken firmware asked


def test_monitor_passes_the_same_controller_with_precharge():
    plant, console = run_variant(precharge=True)
    assert b"VARIANT closed" in console, console[-500:]
    assert plant.violations == []
    assert plant.power.mains_closed() and plant.precharge_complete()
