"""L1: the full module across the board clock's 2**30 ms wrap (12.4 days of ticks_ms).

The virtual board starts its clock 30 simulated seconds before the wrap (VirtualBoard
boot_ticks_ms), the operator closes the battery 15 s after boot, and the module runs 15 s past
the wrap with every invariant monitor on: no fault raised, no tick overrun, the contactors stay
closed and the heartbeat keeps its 500 ms half period through the wrap. The operator counts time
with control/ticks.py (the stock OPERATOR_MAIN compares raw ticks, which a wrap would break).
"""

from gridpod.device.eventlog import read_events
from gridpod.hil.monitors import MonitoredPlant
from gridpod.hil.operator import module_board, module_flash
from gridpod.plant import Plant
from gridpod.vboard.flash import FlashImage

HEAP_BYTES = 110000
TICKS_PERIOD = 1 << 30
WRAP_AFTER_MS = 30000  # the board's ticks_ms wraps this long after power-on
CLOSE_AFTER_MS = 15000

WRAP_MAIN = (
    """
from app import startup
from app.scheduler import SLOT_CONTROL
from control.ticks import ticks_diff
app = startup.build('/')
bank = app.points.bank
close_row = bank.find(('contactor_close_request',))[0]


class Operator:
    def __init__(self):
        self.boot_ms = None
        self.done = False

    def tick(self, now_ms):
        if self.boot_ms is None:
            self.boot_ms = now_ms
        elif not self.done and ticks_diff(now_ms, self.boot_ms) >= %d:
            self.done = True
            bank.set(close_row, 1)
            print('OP close request at', now_ms)
        return True


app.scheduler.add(Operator(), SLOT_CONTROL)
app.run()
"""
    % CLOSE_AFTER_MS
)


def test_full_module_runs_across_the_ticks_wrap(tmp_path):
    flash = module_flash(tmp_path, main_source=WRAP_MAIN)
    plant = MonitoredPlant(Plant(seed=1, profile="training"))
    boot_ticks = TICKS_PERIOD - WRAP_AFTER_MS
    with module_board(flash, plant, HEAP_BYTES, boot_ticks_ms=boot_ticks) as vb:
        vb.run_until((WRAP_AFTER_MS + 15000) / 1000)
        log = bytes(vb.console_log)
        stats = vb.stats()
    assert b"Traceback" not in log and b"MemoryError" not in log, log[-800:]
    assert b"OP close request at %d" % (boot_ticks + CLOSE_AFTER_MS) in log, log[-800:]
    assert plant.violation is None, plant.violation
    assert stats["resets"] == 0 and stats["overruns"] == 0, stats
    # the battery closed before the wrap and is still closed after it
    assert plant.power.mains_closed(), plant.edges
    for coil in ("K_NEG_COIL", "K_POS_COIL"):
        on = [t for t, v in plant.edges[coil] if v]
        assert len(on) == 1 and on[0] < WRAP_AFTER_MS, (coil, plant.edges[coil])
        assert plant.edges[coil][-1][1] == 1, (coil, plant.edges[coil])
    events = read_events(FlashImage(flash).read("/events.bin"))
    assert [e for e in events if e["event"] == "fault_raised"] == [], events
    # the heartbeat toggles every 500 ms through the wrap (a stuck or jumping clock breaks it)
    beats = [t for t, _ in plant.edges["STATUS_LED"] if t >= WRAP_AFTER_MS - 5000]
    assert beats[0] < WRAP_AFTER_MS < beats[-1] and beats[-1] >= WRAP_AFTER_MS + 14000, beats
    assert {b - a for a, b in zip(beats, beats[1:], strict=False)} == {500}, beats
