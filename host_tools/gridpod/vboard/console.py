"""The virtual board's console: the USB REPL between a host tool's pty and the VM's stdin/stdout.

Output: whatever the VM prints (and the supervisor's own "[vboard] ..." notes) goes to the pty,
to the log (`log`, the last 1 MiB at most; `dropped` counts what was cut from its front) and to
an optional echo callback.

Input and Ctrl-C: bytes from the pty go to the VM's stdin, except a Ctrl-C while the runtime has
armed it (runtime/vm_main.py arms it only while user code runs; one Ctrl-C per arming). That
Ctrl-C is delivered at a safe point: as the answer to the VM's next harness exchange (the HAL
raises KeyboardInterrupt there), or, when no exchange comes within INTR_GRACE_S, as a SIGINT.
A board stops its program at once on Ctrl-C; here the stop waits for that safe point, so the
bytes typed after an interrupting Ctrl-C (mpremote's "\r\x01" to enter the raw REPL) are held
until the runtime is back at its REPL (it reports user code ended) or HOLD_MAX_S passed: the
stopping program (the firmware's service channel reads the console) never eats them.
Runs in the supervisor thread, except wait_for().
"""

import time

from ..harness import protocol as h
from .board_file import VirtualBoardError
from .ports import PtyPort

INTR_GRACE_S = 0.25  # Ctrl-C waits this long for an exchange before falling back to SIGINT
HOLD_MAX_S = 2.0  # input after an interrupting Ctrl-C waits at most this long for the REPL
LOG_MAX_BYTES = 1 << 20  # past this the log keeps its newest half
CTRL_C = b"\x03"


class Console:
    def __init__(self, board, link=None, baud: int | None = None, echo=None):
        self._board = board  # the VirtualBoard: its harness socket answers with the interrupt
        self.link = link
        self.baud = baud  # None: a native-USB console; 115200: a CP2102-style USB-UART bridge
        self.echo = echo
        self.log = bytearray()
        self.dropped = 0
        self.port = None
        self.intr_armed = False
        self.intr_requested_at = None  # Ctrl-C waiting for the VM's next exchange
        self.user_code = False  # the runtime runs user code (main.py, a REPL input), not its REPL
        self.held = bytearray()  # input typed after an interrupting Ctrl-C
        self.hold_since: float | None = None

    def open(self) -> None:
        self.port = PtyPort("console", self.link, self.baud)

    def close(self) -> None:
        if self.port is not None:
            self.port.close()

    @property
    def path(self) -> str:
        return str(self.link) if self.link else self.port.path

    def new_boot(self, vm=None) -> None:
        """A new VM: Ctrl-C is off until its runtime arms it; held input goes to it."""
        self.intr_armed = False
        self.intr_requested_at = None
        self.user_code = False
        self._release(vm)

    # ----- output ------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.log += data
        if len(self.log) > LOG_MAX_BYTES:
            cut = len(self.log) - LOG_MAX_BYTES // 2
            del self.log[:cut]
            self.dropped += cut
        self.port.write(data)
        if self.echo is not None:
            self.echo(data)

    def wait_for(self, needle: bytes, timeout_s: float = 10.0) -> bytes:
        """Wait until the output contains needle (any thread); return the output so far."""
        deadline = time.monotonic() + timeout_s
        while needle not in self.log:
            if time.monotonic() > deadline:
                raise VirtualBoardError(f"console never printed {needle!r}")
            time.sleep(0.01)
        return bytes(self.log)

    def drain(self, vm) -> None:
        """Everything the VM printed and nobody read yet (before it is killed)."""
        while True:
            data = vm.read_stdout()
            if not data:
                return
            self.write(data)

    # ----- input and Ctrl-C --------------------------------------------------------------------
    def on_input(self, vm, data: bytes) -> None:
        """Bytes a host tool typed, for the running VM (None: the board is off)."""
        if not data or vm is None:
            return
        if self.hold_since is not None:
            self.held += data
            return
        if self.intr_armed:
            i = data.find(CTRL_C)
            if i >= 0:
                vm.write_stdin(data[:i])
                self.intr_armed = False  # one Ctrl-C per run; the runtime re-arms it
                self.intr_requested_at = time.monotonic()
                self.hold_since = time.monotonic()
                self.held += data[i + 1 :]
                if self._board.harness.pending is not None:  # the VM waits in an exchange now
                    self.deliver_interrupt()
                return
        vm.write_stdin(data)

    def arm(self, enabled: bool, vm=None) -> None:
        """The runtime's INTR message: Ctrl-C becomes an interrupt (True) or a plain byte; False
        also says the runtime is back at its REPL (held input goes to it now)."""
        self.intr_armed = enabled
        self.user_code = enabled
        self._board.harness.send(h.frame(ord("k")))
        if not enabled:
            self._release(vm)

    def _release(self, vm) -> None:
        held, self.held, self.hold_since = bytes(self.held), bytearray(), None
        if held and vm is not None:
            self.on_input(vm, held)

    @property
    def interrupt_waiting(self) -> bool:
        return self.intr_requested_at is not None

    def deliver_interrupt(self) -> None:
        """Ctrl-C as the answer to an exchange: the HAL raises KeyboardInterrupt at that safe
        point. A SIGINT is the fallback for code that never exchanges (a busy loop at the REPL):
        the unix port raises it from the signal handler, and if that lands inside an allocation
        the VM's GC lock stays taken forever (seen as a rare hang), so it is the last resort."""
        self.intr_requested_at = None
        self._board.harness.send(h.frame(h.INTERRUPTED))

    def after_events(self, vm) -> None:
        """Once per supervisor pass: the SIGINT fallback when its grace ran out; held input
        released when the runtime never reported its REPL."""
        if self.hold_since is not None and time.monotonic() - self.hold_since > HOLD_MAX_S:
            self._release(vm)
        waited = self.intr_requested_at and time.monotonic() - self.intr_requested_at
        if waited and waited > INTR_GRACE_S:
            self.intr_requested_at = None
            vm.interrupt()
