"""The real firmware on the virtual module: memory, watchdog, corrupt config, power loss."""

import time

import pytest
from gridpod.build.tree import firmware_files, import_firmware
from gridpod.device.eventlog import read_events
from gridpod.vboard.flash import FlashImage
from gridpod.vboard.supervisor import VirtualBoard
from vboard_helpers import make_flash

# Tests of one behaviour each; memory is the subject of the board-budget test alone.
ROOMY_HEAP = 128 * 1024


def flash_with_firmware(path, extra=None):
    files = firmware_files("VIRTUAL")
    files.update(extra or {})
    return make_flash(path, files, with_hal=False)


def test_one_simulated_hour_at_the_board_budget(tmp_path):
    flash = flash_with_firmware(tmp_path / "f.img")
    with VirtualBoard(flash=flash, speed="max", run_for_s=3600) as vb:
        vb.run_until(3600)
        assert vb.finished.is_set()
        stats = vb.stats()
        log = bytes(vb.console_log)
    assert b"MemoryError" not in log and b"Traceback" not in log, log[-600:]
    assert stats["resets"] == 0 and stats["soft_reboots"] == 0
    assert stats["overruns"] == 0
    assert stats["ticks"] >= 360000


STUCK_MAIN = """
from app import startup
from app.app import App
from app.scheduler import SLOT_CONTROL
board = startup.load_board('/board.json')
app = App(startup.open_hal(board), board, '/')
class StopsCheckingIn:
    def __init__(self):
        self.runs = 0
    def tick(self, now_ms):
        self.runs += 1
        return self.runs < 30  # checks in for 3 s of control ticks, then hangs up
app.scheduler.add(StopsCheckingIn(), SLOT_CONTROL)
app.run()
"""


def test_task_that_stops_checking_in_causes_watchdog_reset(tmp_path):
    flash = flash_with_firmware(tmp_path / "f.img", {"/main.py": STUCK_MAIN.encode()})
    with VirtualBoard(flash=flash, speed="max", heap_bytes=ROOMY_HEAP) as vb:
        vb.wait_console(b"reset cause 3", timeout_s=60)
        assert vb.resets >= 1
        vb.power_off()
    events = read_events(FlashImage(flash).read("/events.bin"))
    causes = [e["arg1"] for e in events if e["event"] == "reset_cause"]
    assert causes[:2] == [1, 3], events  # power-on, then the watchdog reset recorded at boot


@pytest.mark.parametrize(
    "content, words",
    [
        (b'{"config": {"module_id": "X"', b"config invalid"),
        (b"not json at all", b"config invalid"),
    ],
)
def test_corrupt_config_boots_maintenance_mode(tmp_path, content, words):
    flash = flash_with_firmware(tmp_path / "f.img", {"/config.json": content})
    with VirtualBoard(flash=flash, speed="max", heap_bytes=ROOMY_HEAP) as vb:
        out = vb.wait_console(b"MAINTENANCE MODE", timeout_s=30)
        vb.run_until(vb.sim_ms / 1000 + 2)
        assert words in out
        for coil in ("K_NEG_COIL", "K_PRE_COIL", "K_POS_COIL"):
            assert vb.plant.outputs.get(coil) == 0
        assert [v for _, v in vb.plant.edges["HEALTHY_RELAY"]] == [0]  # alarm, never healthy


SAVE_MAIN = """
from app.config import ConfigStore
store = ConfigStore('/config.json')
store.load()
values = dict(store.values)
values['module_id'] = 'GRIDPOD-NEW-0001'
store.save(values)
with open('/after.txt', 'w') as f:  # flash work after the commit, so late kills see 'new'
    f.write('after')
print('SAVED')
"""


def test_brown_out_during_config_write_keeps_old_or_new(tmp_path):
    config = import_firmware("app.config")
    old = dict(config.defaults(), module_id="GRIDPOD-OLD-0001")
    old_file = config.encode(old)
    old_file = old_file.encode() if isinstance(old_file, str) else old_file
    seen = set()
    kill_points = 0
    image = tmp_path / "f.img"
    files = {
        k: v for k, v in firmware_files("VIRTUAL").items() if k.startswith(("/app/", "/control/"))
    }
    files.update({"/main.py": SAVE_MAIN, "/config.json": old_file})
    for kill_at in range(1, 60):
        make_flash(image, files, with_hal=False)
        with VirtualBoard(flash=image, speed=1, heap_bytes=ROOMY_HEAP) as vb:
            vb.power_off()
            vb.brown_out_after_flash_ops(kill_at, power_returns=False)
            vb.power_on()
            deadline = time.monotonic() + 20
            while vb.powered and b"SAVED" not in vb.console_log:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            finished = vb.brown_outs == 0
        if finished:
            break
        img = FlashImage(image)
        store_dir = tmp_path / "check"
        store_dir.mkdir(exist_ok=True)
        for name in ("config.json", "config.json.tmp"):
            (store_dir / name).unlink(missing_ok=True)
            if img.exists("/" + name):
                (store_dir / name).write_bytes(img.read("/" + name))
        store = config.ConfigStore(str(store_dir / "config.json"))
        status = store.load()
        assert status != config.CONFIG_INVALID, f"kill at op {kill_at}: {store.errors}"
        seen.add(store.values["module_id"])
        kill_points += 1
    assert finished
    assert kill_points >= 5, kill_points
    assert seen == {"GRIDPOD-OLD-0001", "GRIDPOD-NEW-0001"}, seen
