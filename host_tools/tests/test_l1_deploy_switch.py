"""L1: a deploy switch that cannot complete never starts the application (safety review M12).

The virtual board's flash holds the running firmware and a committed deploy (staging directory,
manifest with each file's sha256, the pending flag) whose staged file was corrupted after it was
verified (a flash bit error, a write cut short). boot.py runs the switch, which checks every file
against the manifest before moving anything; main.py then refuses to start the application while
the switch is incomplete, and says what to do. Before, the corrupted file was moved into place and
the application started on the mixed set.
"""

import hashlib
import json

from gridpod.build.tree import firmware_files
from gridpod.vboard.flash import FlashImage
from gridpod.vboard.supervisor import VirtualBoard
from vboard_helpers import make_flash

EXTRA = "/app/deploy_probe.py"  # a file only the new set has (source: no compile needed)


def test_a_corrupted_staged_file_stops_the_switch_and_the_application(tmp_path):
    files = firmware_files("VIRTUAL")
    flash = make_flash(tmp_path / "f.img", files, with_hal=False)
    new = dict(files)
    new[EXTRA] = b"PROBE = 1\n"
    manifest = {
        "id": "B",
        "files": {p: hashlib.sha256(d).hexdigest() for p, d in new.items() if p != "/board.json"},
    }
    img = FlashImage(flash)
    img.write("/.deploy/B/manifest.json", json.dumps(manifest).encode())
    img.write("/.deploy/B" + EXTRA, b"PROBE = 2\n")  # not what the manifest says
    img.write("/.deploy/pending", b"B")
    img.save()
    with VirtualBoard(flash=flash, speed="max") as vb:
        vb.wait_console(b"application not started", timeout_s=30)
        log = bytes(vb.console_log)
        vb.power_off()
    assert b"deploy_probe.py does not match the deploy manifest" in log, log[-800:]
    assert b"firmware switch did not complete" in log and b"gridpod deploy again" in log
    assert b"gridpod: module" not in log  # the application never started
    img = FlashImage(flash)
    assert img.read("/.deploy/pending") == b"B"  # the next deploy finishes it
    assert not img.exists(EXTRA)  # nothing was moved
