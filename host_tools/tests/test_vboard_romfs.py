"""ROMFS on the virtual board: the firmware's compiled modules in a read-only image mounted at
/rom (MicroPython's VfsRom, the layout `mpremote romfs deploy` writes to a board), imported from
there with their bytecode in place; the image is flash, so the heap budget is the same as without."""

from gridpod.build.tree import firmware_files, romfs_layout
from gridpod.vboard.supervisor import VirtualBoard
from gridpod.vboard.vm import WORD_SCALE
from vboard_helpers import make_flash

PROBE = """
import gc
gc.collect()
free = gc.mem_free()
import app.module, control.contactors, os
print('FREE', free)
print('FROM', app.module.__file__, control.contactors.__file__)
print('ROOT', sorted(os.listdir('/')))
"""


def test_layout_puts_every_compiled_module_in_the_image():
    files = firmware_files("VIRTUAL")
    flash, image = romfs_layout(files)
    assert image[:3] == b"\xd2\xcd\x31"  # the ROMFS header
    assert not any(k.endswith(".mpy") for k in flash)
    assert "/board.json" in flash and "/boot.py" in flash
    for name, data in files.items():
        if name.endswith(".mpy"):
            assert data in image, name  # stored verbatim, executable in place


def test_firmware_imports_from_rom_and_the_budget_is_unchanged(tmp_path):
    # The probe runs as boot.py: what the runtime and the mounted image leave when the firmware
    # starts (vboard/vm.py RUNTIME_RESERVE_BYTES); the firmware's own boot.py is the firmware's.
    flash_files, image = romfs_layout(firmware_files("VIRTUAL", rom=True))
    flash_files["/boot.py"] = PROBE.encode()
    flash_files.pop("/main.py")
    flash = make_flash(tmp_path / "f.img", flash_files, with_hal=False)
    with VirtualBoard(flash=flash, speed="max", heap_bytes=64 * 1024, romfs=image) as vb:
        out = vb.wait_console(b"ROOT ")
        vb.wait_console(b"]")
        out = bytes(vb.console_log)
    assert b"FROM /rom/app/module.mpy /rom/control/contactors.mpy" in out, out[-600:]
    free = int(out.split(b"FREE ")[1].split()[0])
    budget = 64 * 1024 * WORD_SCALE
    assert budget <= free <= budget + 16 * 1024  # the image's bytes are not taken from the budget
    assert b"'app'" not in out.split(b"ROOT ")[1]  # no code on the littlefs flash
