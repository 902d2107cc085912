"""VirtualBoard: a MicroPython board on two serial ports, with a simulated clock and power.

    with VirtualBoard(speed="max") as vb:
        print(vb.console_port, vb.modbus_port)   # open with mpremote / minimalmodbus
        vb.run_until(10.0)                       # simulated seconds
        vb.power_cycle()

One supervisor thread owns everything (ptys, harness socket, VM process, plant) and runs a
selector loop, so the plant and the clock advance only at harness exchanges, in one order:
lockstep runs are deterministic. Public methods post commands to that thread and wait.
"""

import json
import os
import queue
import selectors
import shutil
import struct
import tempfile
import threading
import time
from pathlib import Path

from .. import GridpodError
from ..harness import protocol as h
from ..harness.host import EV_BROWN_OUT, EV_FLASH_KILL, EV_RESET, EV_WATCHDOG, HarnessHost
from ..harness.plant_stub import PlantStub
from .flash import DEFAULT_SIZE, create_blank
from .ports import PtyPort
from .vm import VmProcess

REPO_ROOT = Path(__file__).resolve().parents[3]
RESET_POWER_ON, RESET_HARD, RESET_WATCHDOG, RESET_SOFT, RESET_BROWN_OUT = 1, 2, 3, 5, 6
EXIT_SOFT_REBOOT, EXIT_SOFT_REBOOT_RAW = 80, 81
CRASH_LIMIT = 5  # VM crashes within CRASH_WINDOW_S before the board stays down
CRASH_WINDOW_S = 5.0
# On a real board the REPL, raw REPL and VFS code live in ROM. Here they are Python bytecode on
# the VM's heap (runtime/vm_main.py, measured ~27 KiB), so the VM gets this much on top of the
# board's budget; a test checks that boot.py still starts with at least the budget free.
RUNTIME_RESERVE_BYTES = 32 * 1024
# Board heap budgets are for 32-bit MCUs. MicroPython's GC block is 4 machine words (16 bytes on
# ESP32/RP2040, 32 on a 64-bit host) and every object header and pointer doubles too, so the
# same firmware needs twice the bytes here: the VM's heap is budget x WORD_SCALE.
WORD_SCALE = max(1, struct.calcsize("P") // 4)
INTR_GRACE_S = 0.25  # Ctrl-C waits this long for an exchange before falling back to SIGINT


class VirtualBoardError(GridpodError):
    pass


def load_board_file(board: str) -> dict:
    path = REPO_ROOT / "boards" / board / "board.json"
    if not path.exists():
        raise VirtualBoardError(f"unknown board {board!r}: no {path}")
    return json.loads(path.read_text())


class _Boot:
    """One VM process from power-on to its death: its harness connection and Ctrl-C state."""

    def __init__(self, vm: VmProcess, reset_cause: int):
        self.vm = vm
        self.reset_cause = reset_cause
        self.conn = None
        self.inbuf = bytearray()
        self.intr_enabled = False
        self.intr_requested_at = None  # Ctrl-C waiting for the VM's next exchange


class VirtualBoard:
    def __init__(
        self,
        flash: str | Path | None = None,
        flash_size: int = DEFAULT_SIZE,
        heap_bytes: int | None = None,
        speed: float | str = 1.0,
        board: str = "VIRTUAL",
        link_console: str | Path | None = None,
        link_modbus: str | Path | None = None,
        plant=None,
        max_hold_ms: int = 100,
        console_echo=None,
        run_for_s: float | None = None,
        console_baud: int | None = None,
        romfs: bytes | None = None,
    ):
        self.board = load_board_file(board)
        self.heap_bytes = heap_bytes or self.board["heap_bytes"]
        self.vm_heap_bytes = self.heap_bytes * WORD_SCALE + RUNTIME_RESERVE_BYTES
        # ROMFS (MicroPython >= 1.25): a read-only image in the board's flash whose .mpy files run
        # in place, their bytecode never copied to RAM. The unix port has no memory-mapped flash,
        # so the VM reads the image into its heap at power-on, before the budget is measured: the
        # image's bytes are added on top (they are flash on a board, not heap).
        self.romfs = romfs
        if romfs is not None:
            self.vm_heap_bytes += len(romfs) + 1024
        if speed == "max":
            self.speed = None
        else:
            self.speed = float(speed)
            if self.speed <= 0:
                raise VirtualBoardError(f"--speed {speed}: use a positive number or 'max'")
        self.host = HarnessHost(
            plant if plant is not None else PlantStub(), self.speed, max_hold_ms, self._uart_out
        )
        self.host.stop_at_ms = None if run_for_s is None else int(run_for_s * 1000)
        self.plant = self.host.plant
        self.finished = self.host.finished  # set when the clock reached run_for_s (VM frozen)
        self.console_echo = console_echo
        # None: a native-USB console (no rate limit); 115200: a CP2102-style USB-UART bridge.
        self.console_baud = console_baud
        self._tmp = Path(tempfile.mkdtemp(prefix="gridpod-vboard-"))
        self.flash_path = Path(flash) if flash else self._tmp / "flash.img"
        self.romfs_path = None
        if romfs is not None:
            self.romfs_path = self._tmp / "romfs.img"
            self.romfs_path.write_bytes(romfs)
        if not self.flash_path.exists():
            create_blank(self.flash_path, flash_size)
        self._links = (link_console, link_modbus)
        self.console_log = bytearray()
        self.console_dropped = 0  # bytes cut from the front of console_log (kept to 1 MiB)
        self.resets = 0
        self.soft_reboots = 0
        self.boots = 0
        self.stopped_reason = None
        self._kill_after_ops = 0
        self._power_returns = True
        self.brown_outs = 0
        self._crashes: list[float] = []
        self._commands: queue.Queue = queue.Queue()
        self._thread = None
        self._boot = None
        self._pending_reply = None

    # ----- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self) -> None:
        self.console = PtyPort("console", self._links[0], self.console_baud)
        self.modbus = PtyPort("rs485", self._links[1])
        self._harness_path = str(self._tmp / "harness.sock")
        import socket

        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self._harness_path)
        self._listener.listen(4)
        self._listener.setblocking(False)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._wall_start = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="vboard", daemon=True)
        self._started = threading.Event()
        self._thread.start()
        self._started.wait()

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._call("stop")
            self._thread.join(10)
        for port in (getattr(self, "console", None), getattr(self, "modbus", None)):
            if port is not None:
                port.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    @property
    def console_port(self) -> str:
        return str(self._links[0]) if self._links[0] else self.console.path

    @property
    def modbus_port(self) -> str:
        return str(self._links[1]) if self._links[1] else self.modbus.path

    # ----- public controls (any thread) --------------------------------------------------------
    def power_cycle(self) -> None:
        """Cut power and restore it: the VM dies at once, flash keeps what littlefs committed."""
        self._call("restart", ("boot", RESET_POWER_ON))

    def brown_out(self, at_sim_s: float) -> None:
        """Kill the VM when the simulated clock reaches at_sim_s; it boots again after."""
        self._call("brown_out_at", int(at_sim_s * 1000))

    def brown_out_after_flash_ops(self, ops: int, power_returns: bool = True) -> None:
        """At the next boot, kill the VM in the middle of its ops-th flash erase/program.

        With power_returns=False the board stays off afterwards (inspect the flash image,
        then power_on())."""
        self._call("kill_after_ops", (ops, power_returns))

    def power_off(self) -> None:
        self._call("power_off")

    def power_on(self) -> None:
        self._call("power_on")

    @property
    def powered(self) -> bool:
        return self._boot is not None

    @property
    def sim_ms(self) -> int:
        return self.host.sim_ms

    @property
    def stop_at_ms(self):
        return self.host.stop_at_ms

    def run_until(self, sim_s: float, timeout_s: float = 300.0, stall_s: float = 20.0) -> None:
        """Block until the simulated clock reaches sim_s (the firmware must be running).

        Fails fast when the clock stands still for stall_s wall seconds: the firmware crashed
        to the REPL or hangs, and waiting longer would only hide that."""
        if self.stop_at_ms is not None:
            sim_s = min(sim_s, self.stop_at_ms / 1000)
        if not self.host.run_until(sim_s, timeout_s, lambda: self.stopped_reason, stall_s):
            raise VirtualBoardError(
                f"simulated clock stuck at {self.sim_ms / 1000:.3f} s, wanted {sim_s} s "
                f"({self.stopped_reason or 'is the firmware scan loop running?'})"
            )

    def wait_sim_change(self, timeout_s: float) -> None:
        with self.host.changed:
            self.host.changed.wait(timeout_s)

    def stats(self) -> dict:
        return {
            **self.host.stats(),
            "wall_s": round(time.monotonic() - self._wall_start, 3),
            "resets": self.resets,
            "soft_reboots": self.soft_reboots,
            "heap_budget": self.heap_bytes,
            "vm_heap_bytes": self.vm_heap_bytes,
        }

    def wait_console(self, needle: bytes, timeout_s: float = 10.0) -> bytes:
        """Wait until the console output contains needle; return the output so far."""
        deadline = time.monotonic() + timeout_s
        while needle not in self.console_log:
            if time.monotonic() > deadline:
                raise VirtualBoardError(f"console never printed {needle!r}")
            time.sleep(0.01)
        return bytes(self.console_log)

    def _call(self, name, arg=None):
        done = threading.Event()
        self._commands.put((name, arg, done))
        os.write(self._wake_w, b"!")
        if not done.wait(30):
            raise VirtualBoardError(f"supervisor did not answer {name}")

    # ----- supervisor thread -------------------------------------------------------------------
    def _loop(self) -> None:
        sel = selectors.DefaultSelector()
        self._sel = sel
        sel.register(self._listener, selectors.EVENT_READ, "accept")
        sel.register(self.console, selectors.EVENT_READ, "console")
        sel.register(self.modbus, selectors.EVENT_READ, "modbus")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._spawn("boot", RESET_POWER_ON)
        self._started.set()
        running = True
        while running:
            timeout = 0.05
            if self.console_baud and (self.console.pending or self._stdin_pending()):
                timeout = 0.002  # a rate-limited line drains a little at every pass
            if self._pending_reply is not None:
                timeout = max(0.0, min(timeout, self._pending_reply[0] - time.monotonic()))
            for key, mask in sel.select(timeout):
                try:
                    self._dispatch(key, mask)
                except Exception as e:  # noqa: BLE001 - one bad event must not stop the board
                    self._console_out(f"\r\n[vboard] supervisor error: {e!r}\r\n".encode())
            self._after_events()
            while not self._commands.empty():
                name, arg, done = self._commands.get()
                try:
                    if name == "stop":
                        running = False
                    else:
                        self._command(name, arg)
                finally:
                    done.set()
        self._end_vm()
        sel.close()
        self._listener.close()

    def _dispatch(self, key, mask) -> None:
        what = key.data
        if mask & selectors.EVENT_WRITE:
            key.fileobj.flush()
            if not mask & selectors.EVENT_READ:
                return
        if what == "accept":
            self._accept()
        elif what == "console":
            self._on_console(self.console.read())
        elif what == "modbus":
            data = self.modbus.read()
            if self._boot is not None:
                self.host.uart_rx += data
        elif what == "wake":
            os.read(self._wake_r, 4096)
        elif what == "vm":
            self._on_vm_output()
        elif what == "harness":
            self._on_harness(key.fileobj)

    def _stdin_pending(self) -> bool:
        return self._boot is not None and bool(self._boot.vm.pending_stdin)

    def _after_events(self) -> None:
        sel = self._sel
        if self._pending_reply is not None and time.monotonic() >= self._pending_reply[0]:
            self._send_reply(self._pending_reply[1])
        boot = self._boot
        if boot is not None:
            boot.vm.flush_stdin()
            waited = boot.intr_requested_at and time.monotonic() - boot.intr_requested_at
            if waited and waited > INTR_GRACE_S:
                boot.intr_requested_at = None
                boot.vm.interrupt()
        self.console.flush()
        for port in (self.console, self.modbus):
            writable = port.pending and port.rate.wait_s() == 0
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if writable else 0)
            if sel.get_key(port).events != want:
                sel.modify(port, want, sel.get_key(port).data)

    def _command(self, name, arg) -> None:
        if name == "restart":
            self._kill_and_restart(*arg)
        elif name == "brown_out_at":
            self.host.brown_out_at_ms = arg
        elif name == "kill_after_ops":
            self._kill_after_ops, self._power_returns = arg
        elif name == "power_off":
            self._end_vm()
        elif name == "power_on" and self._boot is None:
            self.resets += 1
            self._spawn("boot", RESET_POWER_ON)

    def _spawn(self, mode: str, reset_cause: int) -> None:
        vm = VmProcess(
            self.vm_heap_bytes, self._harness_path, str(self.flash_path), mode, self.console_baud
        )
        self._boot = _Boot(vm, reset_cause)
        self.host.new_boot(reset_cause)
        self._sel.register(vm.proc.stdout, selectors.EVENT_READ, "vm")
        self.boots += 1

    def _end_vm(self) -> None:
        boot = self._boot
        if boot is None:
            return
        boot.vm.kill()
        self._drain_vm_output(boot)
        try:
            self._sel.unregister(boot.vm.proc.stdout)
        except (KeyError, ValueError):
            pass
        if boot.conn is not None:
            self._sel.unregister(boot.conn)
            boot.conn.close()
        boot.vm.close()
        self.host.end_boot()
        self._pending_reply = None
        self._boot = None

    def _kill_and_restart(self, mode: str, reset_cause: int) -> None:
        self._end_vm()
        if reset_cause == RESET_SOFT:
            self.soft_reboots += 1
        else:
            self.resets += 1
        self._spawn(mode, reset_cause)

    def _drain_vm_output(self, boot) -> None:
        while True:
            data = boot.vm.read_stdout()
            if not data:
                return
            self._console_out(data)

    def _on_vm_output(self) -> None:
        boot = self._boot
        data = boot.vm.read_stdout()
        if data:
            self._console_out(data)
            return
        if data is None:  # the VM is gone
            code = boot.vm.proc.wait()
            if code == EXIT_SOFT_REBOOT:
                self._kill_and_restart("boot", RESET_SOFT)
            elif code == EXIT_SOFT_REBOOT_RAW:
                self._kill_and_restart("raw", RESET_SOFT)
            else:
                now = time.monotonic()
                self._crashes = [t for t in self._crashes if now - t < CRASH_WINDOW_S] + [now]
                msg = f"\r\n[vboard] VM exited with code {code}"
                if len(self._crashes) >= CRASH_LIMIT:
                    self._console_out((msg + "; too many crashes, board stays off\r\n").encode())
                    self._end_vm()
                    self.stopped_reason = f"VM crashed {CRASH_LIMIT} times"
                else:
                    self._console_out((msg + ", hard reset\r\n").encode())
                    self._kill_and_restart("boot", RESET_HARD)

    def _console_out(self, data: bytes) -> None:
        self.console_log += data
        if len(self.console_log) > 1 << 20:
            cut = len(self.console_log) - (1 << 19)
            del self.console_log[:cut]
            self.console_dropped += cut
        self.console.write(data)
        if self.console_echo is not None:
            self.console_echo(data)

    def _on_console(self, data: bytes) -> None:
        boot = self._boot
        if not data or boot is None:
            return
        while data and boot.intr_enabled:
            i = data.find(b"\x03")
            if i < 0:
                break
            boot.vm.write_stdin(data[:i])
            boot.intr_enabled = False  # one Ctrl-C per run; the runtime re-arms it
            boot.intr_requested_at = time.monotonic()
            if self._pending_reply is not None:  # the VM waits in an exchange right now
                self._pending_reply = None
                self._deliver_interrupt(boot)
            data = data[i + 1 :]
        boot.vm.write_stdin(data)

    def _deliver_interrupt(self, boot: _Boot) -> None:
        """Ctrl-C as the answer to an exchange: the HAL raises KeyboardInterrupt at that safe
        point. A SIGINT is the fallback for code that never exchanges (a busy loop at the REPL):
        the unix port raises it from the signal handler, and if that lands inside an allocation
        the VM's GC lock stays taken forever (seen as a rare hang), so it is the last resort."""
        boot.intr_requested_at = None
        self._send_reply(h.frame(h.INTERRUPTED))

    def _accept(self) -> None:
        conn, _ = self._listener.accept()
        conn.setblocking(True)
        boot = self._boot
        if boot is None:
            conn.close()
            return
        if boot.conn is not None:
            self._sel.unregister(boot.conn)
            boot.conn.close()
        # A reply still waiting for the wall clock belongs to the dropped connection; sending
        # it on the new one would shift every later reply by one.
        self._pending_reply = None
        boot.conn = conn
        boot.inbuf = bytearray()
        self._sel.register(conn, selectors.EVENT_READ, "harness")

    def _on_harness(self, conn) -> None:
        boot = self._boot
        if boot is None or conn is not boot.conn:
            return
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._sel.unregister(conn)
            conn.close()
            boot.conn = None
            return
        boot.inbuf += data
        while len(boot.inbuf) >= 3:
            msg_type, length = h.HEADER.unpack_from(boot.inbuf)
            if len(boot.inbuf) < 3 + length:
                break
            payload = bytes(boot.inbuf[3 : 3 + length])
            del boot.inbuf[: 3 + length]
            self._on_message(boot, msg_type, payload)
            if self._boot is not boot:
                return

    def _send_reply(self, data: bytes) -> None:
        self._pending_reply = None
        boot = self._boot
        if boot is not None and boot.conn is not None:
            try:
                boot.conn.sendall(data)
            except OSError:
                # The VM dropped this connection (Ctrl-C cut an exchange and it reconnected,
                # or it died); the reply is meaningless now.
                self._sel.unregister(boot.conn)
                boot.conn.close()
                boot.conn = None

    def _uart_out(self, data: bytes) -> None:
        self.modbus.write(data)

    def _on_message(self, boot: _Boot, msg_type: int, payload: bytes) -> None:
        if msg_type == h.HELLO:
            info = {
                "reset_cause": boot.reset_cause,
                "board": self.board["board"],
                "kill_after_ops": self._kill_after_ops,
                "boot": self.boots,
                "romfs": None if self.romfs_path is None else str(self.romfs_path),
            }
            self._kill_after_ops = 0
            self._send_reply(self.host.hello_reply(info))
            return
        if msg_type == h.INTR:
            boot.intr_enabled = bool(payload[0])
            self._send_reply(h.frame(ord("k")))
            return
        reply, due, event = self.host.handle(msg_type, payload)
        if reply is not None and msg_type == h.EXCHANGE and boot.intr_requested_at is not None:
            self._deliver_interrupt(boot)
            return
        if event == EV_WATCHDOG:
            self._console_out(b"\r\n[vboard] watchdog expired: reset\r\n")
            self._kill_and_restart("boot", RESET_WATCHDOG)
        elif event == EV_BROWN_OUT:
            self.brown_outs += 1
            self._kill_and_restart("boot", RESET_BROWN_OUT)
        elif event == EV_FLASH_KILL:
            self.brown_outs += 1
            if self._power_returns:
                self._kill_and_restart("boot", RESET_BROWN_OUT)
            else:
                self._end_vm()
        elif event == EV_RESET:
            self._kill_and_restart("boot", RESET_HARD)
        elif reply is not None:
            if due is None:
                self._send_reply(reply)
            else:
                self._pending_reply = (due, reply)
