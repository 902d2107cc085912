"""VirtualBoard: a MicroPython board on two serial ports, with a simulated clock and power.

    with VirtualBoard(speed="max") as vb:
        print(vb.console_port, vb.modbus_port)   # open with mpremote / minimalmodbus
        vb.run_until(10.0)                       # simulated seconds
        vb.power_cycle()

One supervisor thread owns everything (ptys, harness socket, VM process, plant) and runs a
selector loop, so the plant and the clock advance only at harness exchanges, in one order:
lockstep runs are deterministic. Public methods post commands to that thread and wait.
At a finite --speed the clock also runs while the firmware is out of its scan loop and a watchdog
or a maintenance window runs (harness/host.py idle_advance), as a board's does.
"""

import hashlib
import os
import queue
import selectors
import shutil
import tempfile
import threading
import time
from pathlib import Path

from ..harness import host as hh
from ..harness import protocol as h
from ..harness.plant_stub import PlantStub
from .board_file import VirtualBoardError, load_board_file
from .console import Console
from .flash import DEFAULT_SIZE, check_flash_path, check_flash_size, create_blank
from .harness_socket import HarnessSocket
from .ports import PtyPort, check_link_path
from .vm import VmProcess, vm_heap_bytes

RESET_POWER_ON, RESET_HARD, RESET_WATCHDOG, RESET_SOFT, RESET_BROWN_OUT = 1, 2, 3, 5, 6
EXIT_SOFT_REBOOT, EXIT_SOFT_REBOOT_RAW = 80, 81
CRASH_LIMIT = 5  # VM crashes within CRASH_WINDOW_S before the board stays down
CRASH_WINDOW_S = 5.0


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
        boot_ticks_ms: int = 0,
        chip=None,
    ):
        """boot_ticks_ms: the board's ticks_ms() at every power-on (a real board: 0); a test of
        the 2**30 wrap (12.4 days of ticks) starts the clock a few seconds before it.
        chip: a vboard.chip_time.ChipTime: the firmware reports every frame (no hold windows:
        slower) and stats()["chip"] has the tick load real boards would see."""
        self.board = load_board_file(board)
        self.heap_bytes = heap_bytes or self.board["heap_bytes"]
        self.vm_heap_bytes = vm_heap_bytes(self.heap_bytes, romfs)  # ROMFS: see vm.py
        self.romfs = romfs
        if speed == "max":
            self.speed = None
        else:
            self.speed = float(speed)
            if self.speed <= 0:
                raise VirtualBoardError(f"--speed {speed}: use a positive number or 'max'")
        self.host = hh.HarnessHost(
            plant if plant is not None else PlantStub(), self.speed, max_hold_ms, self._uart_out
        )
        self.host.stop_at_ms = None if run_for_s is None else int(run_for_s * 1000)
        self.host.boot_ticks_ms = boot_ticks_ms
        if chip is not None:
            self.host.chip = chip
            self.host.cpu_probe = self._vm_cpu_ns
            self.host.max_hold_ms = 0  # one exchange per frame: every frame has its record
        self._cpu_stat = None  # (pid, fd) of the VM's /proc schedstat
        self.plant = self.host.plant
        self.finished = self.host.finished  # set when the clock reached run_for_s (VM frozen)
        # Everything the caller named is checked before anything is made (a refused path must
        # leave no temp folder behind and touch none of the user's files).
        for link, option in ((link_console, "--link-console"), (link_modbus, "--link-modbus")):
            if link is not None:
                check_link_path(link, option)
        if flash and check_flash_path(Path(flash)) == "missing":
            check_flash_size(flash_size)
        self.console = Console(self, link_console, console_baud, console_echo)
        self._tmp = Path(tempfile.mkdtemp(prefix="gridpod-vboard-"))
        try:
            self.flash_path = Path(flash) if flash else self._tmp / "flash.img"
            self.romfs_path = None
            if romfs is not None:
                self.romfs_path = self._tmp / "romfs.img"
                self.romfs_path.write_bytes(romfs)
            if not self.flash_path.exists():
                create_blank(self.flash_path, flash_size)
            # The chip's unique id (machine.unique_id() on a real board): one per flash image, so
            # the same virtual module keeps it across power cycles and runs.
            path_key = str(self.flash_path.resolve()).encode()
            self.unique_id = hashlib.sha256(b"gridpod-vboard\0" + path_key).hexdigest()[:16]
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        self._link_modbus = link_modbus
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
        self._vm = None  # the VM process of this power-on (None: the board is off)
        self.harness = None

    # ----- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self) -> None:
        try:
            self.console.open()
            self.modbus = PtyPort("rs485", self._link_modbus)
        except BaseException:  # e.g. a link path taken since __init__: leave nothing behind
            self.close()
            raise
        self.harness = HarnessSocket(str(self._tmp / "harness.sock"), self._on_message)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._wall_start = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="vboard", daemon=True)
        self._started = threading.Event()
        self._thread.start()
        self._started.wait()

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._call(None)
            self._thread.join(10)
        self.console.close()
        if getattr(self, "modbus", None) is not None:
            self.modbus.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    @property
    def console_port(self) -> str:
        return self.console.path

    @property
    def modbus_port(self) -> str:
        return str(self._link_modbus) if self._link_modbus else self.modbus.path

    @property
    def console_log(self) -> bytearray:
        """What the board printed (the last 1 MiB at most)."""
        return self.console.log

    @property
    def console_dropped(self) -> int:
        """Bytes cut from the front of console_log."""
        return self.console.dropped

    # ----- public controls (any thread) --------------------------------------------------------
    def power_cycle(self) -> None:
        """Cut power and restore it: the VM dies at once, flash keeps what littlefs committed."""
        self._call(self._kill_and_restart, "boot", RESET_POWER_ON)

    def brown_out(self, at_sim_s: float) -> None:
        """Kill the VM when the simulated clock reaches at_sim_s; it boots again after."""
        self._call(setattr, self.host, "brown_out_at_ms", int(at_sim_s * 1000))

    def brown_out_after_flash_ops(self, ops: int, power_returns: bool = True) -> None:
        """At the next boot, kill the VM in the middle of its ops-th flash erase/program.

        With power_returns=False the board stays off afterwards (inspect the flash image,
        then power_on())."""
        self._call(self._arm_flash_kill, ops, power_returns)

    def power_off(self) -> None:
        self._call(self._end_vm)

    def power_on(self) -> None:
        self._call(self._power_on)

    @property
    def powered(self) -> bool:
        return self._vm is not None

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
        return self.console.wait_for(needle, timeout_s)

    def _call(self, fn, *args):
        """Run fn(*args) in the supervisor thread and wait for it (fn None: stop the thread)."""
        done = threading.Event()
        self._commands.put((fn, args, done))
        os.write(self._wake_w, b"!")
        if not done.wait(30):
            name = "stop" if fn is None else fn.__name__
            raise VirtualBoardError(f"supervisor did not answer {name}")

    # ----- supervisor thread -------------------------------------------------------------------
    def _loop(self) -> None:
        sel = selectors.DefaultSelector()
        self._sel = sel
        self.harness.attach(sel)
        sel.register(self.console.port, selectors.EVENT_READ, "console")
        sel.register(self.modbus, selectors.EVENT_READ, "modbus")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._spawn("boot", RESET_POWER_ON)
        self._started.set()
        running = True
        while running:
            timeout = 0.05
            if self.console.baud and (self.console.port.pending or self._stdin_pending()):
                timeout = 0.002  # a rate-limited line drains a little at every pass
            timeout = self.harness.timeout(timeout)
            for key, mask in sel.select(timeout):
                try:
                    self._dispatch(key, mask)
                except Exception as e:  # noqa: BLE001 - one bad event must not stop the board
                    self.console.write(f"\r\n[vboard] supervisor error: {e!r}\r\n".encode())
            self._after_events()
            while not self._commands.empty():
                fn, args, done = self._commands.get()
                try:
                    if fn is None:
                        running = False
                    else:
                        fn(*args)
                finally:
                    done.set()
        self._end_vm()
        if self._cpu_stat is not None:
            os.close(self._cpu_stat[1])
            self._cpu_stat = None
        self.harness.close()
        sel.close()

    def _dispatch(self, key, mask) -> None:
        what = key.data
        if mask & selectors.EVENT_WRITE:
            key.fileobj.flush()
            if not mask & selectors.EVENT_READ:
                return
        if what == "accept":
            self.harness.accept(self._vm is not None)
        elif what == "console":
            self.console.on_input(self._vm, self.console.port.read())
        elif what == "modbus":
            data = self.modbus.read()
            if self._vm is not None:
                self.host.uart_rx += data
        elif what == "wake":
            os.read(self._wake_r, 4096)
        elif what == "vm":
            self._on_vm_output()
        elif what == "harness":
            self.harness.on_readable(key.fileobj)

    def _stdin_pending(self) -> bool:
        return self._vm is not None and bool(self._vm.pending_stdin)

    def _after_events(self) -> None:
        sel = self._sel
        self.harness.send_due()
        vm = self._vm
        if vm is not None:
            self.console.after_events(vm)
            vm.flush_stdin()
            if self.harness.pending is None:
                out_of_loop = not self.console.user_code or self.host.wdt.window_end_ms is not None
                event = self.host.idle_advance(out_of_loop)
                if event is not None:
                    self._board_event(event)
        self.console.port.flush()
        self._hold_vm_output(self.console.port.full)
        for port in (self.console.port, self.modbus):
            want = port.want_events()
            if sel.get_key(port).events != want:
                sel.modify(port, want, sel.get_key(port).data)

    def _arm_flash_kill(self, ops: int, power_returns: bool) -> None:
        self._kill_after_ops, self._power_returns = ops, power_returns

    def _power_on(self) -> None:
        if self._vm is None:
            self.resets += 1
            self._spawn("boot", RESET_POWER_ON)

    def _spawn(self, mode: str, reset_cause: int) -> None:
        vm = VmProcess(
            self.vm_heap_bytes,
            self.harness.path,
            str(self.flash_path),
            mode,
            self.console.baud,
            reset_cause,
        )
        self._vm = vm
        self.console.new_boot(vm)
        self.host.new_boot(reset_cause)
        self._sel.register(vm.proc.stdout, selectors.EVENT_READ, "vm")
        self._vm_output_held = False
        self.boots += 1

    def _hold_vm_output(self, hold: bool) -> None:
        """Back-pressure: while the console's backlog is full (ports.py), the VM's output is
        not read, so its writes block as a board's do on a USB host that has not read yet."""
        vm = self._vm
        if vm is None or hold == self._vm_output_held:
            return
        if hold:
            self._sel.unregister(vm.proc.stdout)
        else:
            self._sel.register(vm.proc.stdout, selectors.EVENT_READ, "vm")
        self._vm_output_held = hold

    def vm_frozen(self) -> None:
        """console.py: the VM sat on a lock after Ctrl-C (it can never take it): hard reset."""
        self.console.write(
            b"\r\n[vboard] VM frozen after Ctrl-C (blocked on a lock): hard reset\r\n"
        )
        self._kill_and_restart("boot", RESET_HARD)

    def _end_vm(self) -> None:
        vm = self._vm
        if vm is None:
            return
        vm.kill()
        self.console.drain(vm)
        try:
            self._sel.unregister(vm.proc.stdout)
        except (KeyError, ValueError):
            pass
        self.harness.disconnect()
        vm.close()
        self.host.end_boot()
        self._vm = None

    def _kill_and_restart(self, mode: str, reset_cause: int) -> None:
        self._end_vm()
        if reset_cause == RESET_SOFT:
            self.soft_reboots += 1
        else:
            self.resets += 1
        self._spawn(mode, reset_cause)

    def _on_vm_output(self) -> None:
        vm = self._vm
        data = vm.read_stdout()
        if data:
            self.console.write(data)
            return
        if data is None:  # the VM is gone
            code = vm.proc.wait()
            if code == EXIT_SOFT_REBOOT:
                self._kill_and_restart("boot", RESET_SOFT)
            elif code == EXIT_SOFT_REBOOT_RAW:
                self._kill_and_restart("raw", RESET_SOFT)
            else:
                now = time.monotonic()
                self._crashes = [t for t in self._crashes if now - t < CRASH_WINDOW_S] + [now]
                msg = f"\r\n[vboard] VM exited with code {code}"
                if len(self._crashes) >= CRASH_LIMIT:
                    self.console.write((msg + "; too many crashes, board stays off\r\n").encode())
                    self._end_vm()
                    self.stopped_reason = f"VM crashed {CRASH_LIMIT} times"
                else:
                    self.console.write((msg + ", hard reset\r\n").encode())
                    self._kill_and_restart("boot", RESET_HARD)

    def vm_cpu_s(self) -> float | None:
        """CPU seconds the VM's thread has used in this power-on (None: no VM, no /proc), for
        figures such as the soak's split of time between the VM and the host."""
        vm = self._vm
        if vm is None:
            return None
        try:
            with open(f"/proc/{vm.proc.pid}/schedstat", "rb") as f:
                return int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            return None

    def _vm_cpu_ns(self) -> int | None:
        """CPU time of the VM process's main thread (the MicroPython VM), in ns; None when
        unknown. Read while the VM waits for an exchange reply, so the kernel has it exact."""
        vm = self._vm
        if vm is None:
            return None
        pid = vm.proc.pid
        if self._cpu_stat is None or self._cpu_stat[0] != pid:
            if self._cpu_stat is not None:
                os.close(self._cpu_stat[1])
                self._cpu_stat = None
            try:
                self._cpu_stat = (pid, os.open(f"/proc/{pid}/schedstat", os.O_RDONLY))
            except OSError:
                return None
        try:
            return int(os.pread(self._cpu_stat[1], 64, 0).split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _uart_out(self, data: bytes) -> None:
        self.modbus.write(data)

    def _on_message(self, msg_type: int, payload: bytes) -> None:
        """One harness message of the running VM."""
        if msg_type == h.HELLO:
            info = {
                "reset_cause": self._vm.reset_cause,
                "board": self.board["board"],
                "kill_after_ops": self._kill_after_ops,
                "boot": self.boots,
                "unique_id": self.unique_id,
                "boot_ticks_ms": self.host.boot_ticks_ms,
                "chip_time": self.host.chip is not None,
                "romfs": None if self.romfs_path is None else str(self.romfs_path),
            }
            self._kill_after_ops = 0
            self.harness.send(self.host.hello_reply(info))
            return
        if msg_type == h.INTR:
            self.console.arm(bool(payload[0]), self._vm)
            return
        self.console.exchanged()
        reply, due, event = self.host.handle(msg_type, payload)
        if reply is not None and msg_type == h.EXCHANGE and self.console.interrupt_waiting:
            self.console.deliver_interrupt()
            return
        if event is not None:
            self._board_event(event)
        elif reply is not None:
            self.harness.reply(reply, due)

    def _board_event(self, event: str) -> None:
        """An event that ends the VM's run (harness/host.py EV_*)."""
        if event == hh.EV_WATCHDOG:
            self.console.write(b"\r\n[vboard] watchdog expired: reset\r\n")
            self._kill_and_restart("boot", RESET_WATCHDOG)
        elif event == hh.EV_BROWN_OUT:
            self.brown_outs += 1
            self._kill_and_restart("boot", RESET_BROWN_OUT)
        elif event == hh.EV_FLASH_KILL:
            self.brown_outs += 1
            if self._power_returns:
                self._kill_and_restart("boot", RESET_BROWN_OUT)
            else:
                self._end_vm()
        elif event == hh.EV_RESET:
            self._kill_and_restart("boot", RESET_HARD)
        elif event == hh.EV_WINDOW_END:  # the HAL's timer prints this before machine.reset()
            self.console.write(b"\r\ngridpod: maintenance window over: reset\r\n")
            self._kill_and_restart("boot", RESET_HARD)
