"""The virtual board's console: the USB REPL between a host tool's pty and the VM's stdin/stdout.

Output: whatever the VM prints (and the supervisor's own "[vboard] ..." notes) goes to the pty,
to the log (`log`, the last 1 MiB at most; `dropped` counts what was cut from its front) and to
an optional echo callback.

Input and Ctrl-C: bytes from the pty go to the VM's stdin, except a Ctrl-C while the runtime has
armed it (runtime/vm_main.py arms it only while user code runs; one Ctrl-C per arming). That
Ctrl-C is delivered as the answer to the VM's harness exchange (the HAL raises KeyboardInterrupt
there) when the VM waits in one or exchanged within INTR_GRACE_S (the firmware's scan loop), else
at once as vm_rom's interrupt signal (KeyboardInterrupt at the VM's next safe point, as a board's
UART interrupt does). The bytes typed after an interrupting Ctrl-C (mpremote's "\r\x01" to enter
the raw REPL) are held until the runtime is back at its REPL (it reports user code ended) or
HOLD_MAX_S passed: the stopping program (the firmware's service channel reads the console) never
eats them. A VM still blocked on a lock FREEZE_S after the signal (the KeyboardInterrupt can
never be raised there) is frozen: a hard reset, where a board would need its reset button.
Runs in the supervisor thread, except wait_for().
"""

import time

from ..harness import protocol as h
from .board_file import VirtualBoardError
from .ports import PtyPort

INTR_GRACE_S = 0.25  # a VM that exchanged this recently gets Ctrl-C at its next exchange
FREEZE_S = 3.0  # after the interrupt signal, a VM blocked on a lock this long is reset
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
        self.exchanged_at: float | None = None  # the VM's last harness exchange
        self.signalled_at: float | None = None  # the interrupt signal went out (freeze watch)

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
        self.exchanged_at = self.signalled_at = None
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
                elif not self._exchanging():  # code that never exchanges: no reason to wait
                    self._signal(vm)
                return
        vm.write_stdin(data)

    def arm(self, enabled: bool, vm=None) -> None:
        """The runtime's INTR message: Ctrl-C becomes an interrupt (True) or a plain byte; False
        also says the runtime is back at its REPL (held input goes to it now)."""
        self.intr_armed = enabled
        self.user_code = enabled
        self._board.harness.send(h.frame(ord("k")))
        if not enabled:
            self.signalled_at = None
            self._release(vm)

    def exchanged(self) -> None:
        """A harness exchange of the running firmware (not the runtime's own messages)."""
        self.exchanged_at = time.monotonic()
        self.signalled_at = None  # alive

    def _exchanging(self) -> bool:
        return self.exchanged_at is not None and time.monotonic() - self.exchanged_at < INTR_GRACE_S

    def _release(self, vm) -> None:
        held, self.held, self.hold_since = bytes(self.held), bytearray(), None
        if held and vm is not None:
            self.on_input(vm, held)

    @property
    def interrupt_waiting(self) -> bool:
        return self.intr_requested_at is not None

    def deliver_interrupt(self) -> None:
        """Ctrl-C as the answer to an exchange: the HAL raises KeyboardInterrupt at that safe
        point, where the firmware's scan loop expects it."""
        self.intr_requested_at = None
        self._board.harness.send(h.frame(h.INTERRUPTED))

    def _signal(self, vm) -> None:
        """Ctrl-C for code that does not exchange (a loop typed at the REPL, a sleep)."""
        self.intr_requested_at = None
        self.signalled_at = time.monotonic()
        vm.interrupt()

    def after_events(self, vm) -> None:
        """Once per supervisor pass: the signal when the grace for an exchange ran out; held
        input released when the runtime never reported its REPL; the freeze watch."""
        now = time.monotonic()
        if self.hold_since is not None and now - self.hold_since > HOLD_MAX_S:
            self._release(vm)
        waited = self.intr_requested_at and now - self.intr_requested_at
        if waited and waited > INTR_GRACE_S:
            self._signal(vm)
        if self.signalled_at is not None and now - self.signalled_at > FREEZE_S:
            self.signalled_at = None
            if vm.blocked_on_lock():
                self._board.vm_frozen()
