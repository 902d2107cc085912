"""The virtual module with every control subsystem on, driven by a scripted operator: shared by
the L1 closed-loop tests and `make bench` (gridpod.perf.control).

OPERATOR_MAIN is app/startup.py's boot (startup.build) plus one control-slot task that raises the contactor
close request (the same bank coil a Modbus FC05 write sets; the PIN/access path is covered by the
Modbus tests) at the simulated times given, and prints selected registers ("REG t v...").
"""

import tempfile
from pathlib import Path

from ..build.tree import compile_module, firmware_files, import_firmware, romfs_layout
from ..vboard.flash import FlashImage, create_blank
from ..vboard.supervisor import VirtualBoard

OPERATOR_MAIN = """
import gc
from app import startup
from app.scheduler import SLOT_CONTROL
app = startup.build('/')  # the stock boot (app/startup.py), then the operator's task, then run
bank = app.points.bank
rows = bank.find(('contactor_close_request', 'contactor_state', 'cooling_state',
                  'flow_lpm', 'pack_voltage_v', 'link_voltage_v', 'k_pos_state'))
gc.collect()
CLOSE_AT_MS = %r
PRINT_AT_MS = %r


class Operator:
    def __init__(self):
        self.i = 0
        self.j = 0

    def tick(self, now_ms):
        if self.i < len(CLOSE_AT_MS) and now_ms >= CLOSE_AT_MS[self.i]:
            self.i += 1
            bank.set(rows[0], 1)
            print('OP close request at', now_ms)
        if self.j < len(PRINT_AT_MS) and now_ms >= PRINT_AT_MS[self.j]:
            self.j += 1
            print('REG', now_ms, *[bank.get(r) for r in rows[1:]])
        return True


app.scheduler.add(Operator(), SLOT_CONTROL)
app.run()
"""


def module_config(**flags):
    cfg = import_firmware("app.config")
    values = dict(cfg.defaults(), cooling_enabled=True, battery_enabled=True, grid_enabled=True)
    values.update(flags)
    data = cfg.encode(values)
    return data.encode() if isinstance(data, str) else data


def module_flash(tmp_path, close_at_ms=(), print_at_ms=(), main=True, main_source=None, **flags):
    """<tmp_path>/f.img: littlefs with board.json, boot.py, main.py and config.json, and beside it
    f.romfs, the ROMFS image with every compiled module (the full module's layout: bytecode runs
    in place; module_board() mounts it)."""
    files = firmware_files("VIRTUAL", rom=True)
    files["/config.json"] = module_config(**flags)
    if main:
        if main_source is None:
            main_source = OPERATOR_MAIN % (tuple(close_at_ms), tuple(print_at_ms))
        # compiled into the image like the firmware (a .py main would be compiled on the board:
        # its parse tree and bytecode in the heap a stock main.py does not use)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "operator_main.py"
            src.write_text(main_source)
            files["/operator_main.mpy"] = compile_module(
                src, "/operator_main.py", None, None, "/rom/"
            )
        files["/main.py"] = b"import operator_main\n"
    files, image = romfs_layout(files)
    path = Path(tmp_path) / "f.img"
    path.with_suffix(".romfs").write_bytes(image)
    create_blank(path)
    img = FlashImage(path)
    for name, data in files.items():
        img.write(name, data)
    img.save()
    return path


def module_board(flash, plant, heap_bytes, speed="max", **kwargs) -> VirtualBoard:
    """The virtual module for a module_flash() image (its ROMFS image mounted when present)."""
    rom = Path(flash).with_suffix(".romfs")
    romfs = rom.read_bytes() if rom.exists() else None
    return VirtualBoard(
        flash=flash, speed=speed, plant=plant, heap_bytes=heap_bytes, romfs=romfs, **kwargs
    )
