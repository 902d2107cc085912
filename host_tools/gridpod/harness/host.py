"""Host end of the harness protocol: channels, plant stepping, simulated clock and pacing.

Transport-agnostic, so the virtual board (socket to the VM) and HIL mode on a real board
(serial link, harness/serial_link.py) share one implementation. The owner feeds each message to
handle() and gets back what to send, when to send it (wall clock, for --speed N) and whether the
board's run ends here (watchdog, brown-out, reset request, --run-for reached).
"""

import json
import struct
import threading
import time
from collections import deque

from . import protocol as h

MAX_LAG_S = 0.2  # at finite speed, a board further behind than this re-anchors the clock
IDLE_S = 0.3  # at finite speed, no exchange for this long: the board is out of its scan loop
RESET_SOFT = 5  # hal.RESET_SOFT: the one reset a chip's watchdog survives
RS485_EDGES_KEPT = 4096  # the last DE edges kept (a 24 h soak polled every second makes 172800)

# Events handle() can report; the owner decides what they mean for its board.
EV_WATCHDOG = "watchdog"  # the firmware stopped feeding: reset at the expiry time
EV_BROWN_OUT = "brown_out"  # the scheduled brown-out time was reached
EV_FLASH_KILL = "flash_kill"  # the VM reached its armed flash-op kill point
EV_RESET = "reset"  # the firmware asked for a hard reset
EV_FINISHED = "finished"  # run_for reached: the board is frozen here, no reply
EV_WINDOW_END = "window_end"  # the maintenance window is over: the HAL resets the board


class Watchdog:
    """The board's hardware watchdog and the HAL's maintenance timer, as the host plays them
    (absolute simulated ms). The watchdog survives a soft reset, as a chip's does (ESP32 task
    watchdog, RP2040 watchdog); the timer does not (MicroPython stops every timer at a soft
    reset), so boot.py opens a new window."""

    def __init__(self):
        self.timeout_ms = 0  # 0: not started (power-on, hard or watchdog reset)
        self.fed_ms = 0
        self.window_end_ms: int | None = None  # the maintenance window feeds it until then

    def expiry_ms(self) -> int | None:
        """When it bites if nobody feeds it (None: not started, or the window feeds it)."""
        if not self.timeout_ms or self.window_end_ms is not None:
            return None
        return self.fed_ms + self.timeout_ms

    def after_reset(self, reset_cause: int, now_ms: int) -> "Watchdog":
        if reset_cause != RESET_SOFT:
            return Watchdog()
        if self.window_end_ms is not None:
            self.fed_ms = now_ms  # the timer fed it until the soft reset stopped the timer
            self.window_end_ms = None
        return self


class BootChannels:
    """One power-on of the board: its registered channels, what it last saw, its telemetry.

    boot_sim_ms is the simulated time at which the board's clock read 0 (times on the wire are
    the board's ticks_ms, unwrapped): the power-on time, less the board's clock at power-on when
    the host starts it elsewhere (HarnessHost.boot_ticks_ms)."""

    def __init__(self, boot_sim_ms: int, reset_cause: int):
        self.boot_sim_ms = boot_sim_ms
        self.reset_cause = reset_cause
        self.roles: list[str] = []
        self.kinds: list[str] = []
        self.sent: dict[int, int] = {}
        self.scanned: list[tuple[int, str]] = []  # (channel, role) of every input: no uart or DE
        self.stats: dict = {}


class HarnessHost:
    def __init__(self, plant, speed: float | None, max_hold_ms: int = 100, uart_out=None):
        self.plant = plant
        self.speed = speed  # None: lockstep as fast as possible
        self.max_hold_ms = max_hold_ms
        self.uart_out = uart_out or (lambda data: None)
        self.uart_rx = bytearray()
        # RS-485 half duplex: the board's DE (a "de" channel, hal/harness.py: not a plant role)
        # as last told, its last edges (absolute simulated ms, value), and the exchanges that
        # handed the board bytes from the line while its DE was high (its receiver is off then:
        # DE is tied to /RE, so on a real line those bytes collide with the board's own reply)
        self.rs485_de = 0
        self.rs485_de_edges: deque = deque(maxlen=RS485_EDGES_KEPT)
        self.rs485_collisions = 0
        self._rx_handed = False  # line bytes went to the board with the last reply (chip time)
        self.sim_ms = 0
        self.changed = threading.Condition()
        self.stop_at_ms: int | None = None
        self.brown_out_at_ms: int | None = None
        self.finished = threading.Event()
        self.boot: BootChannels | None = None
        self.ticks_done = 0
        self.exchanges = 0  # exchange messages answered (all boots): the lockstep's round trips
        self.overruns_done = 0
        self.max_tick_us = 0
        self.heap_min_free: int | None = None
        self.wdt = Watchdog()
        # The board's ticks_ms at power-on (a board: 0). A test of the 2**30 wrap starts it just
        # before the wrap; the hello tells the firmware (hal/harness.py), every boot alike.
        self.boot_ticks_ms = 0
        # Chip time (vboard/chip_time.py ChipTime): charged with every frame's record; cpu_probe
        # () -> the board process's CPU ns or None, read while it waits for a reply (exact then).
        self.chip = None
        self.cpu_probe = None
        self._cpu_prev: int | None = None
        self._wall0 = None
        self._last_exchange_wall = time.monotonic()
        self._idle_wall: float | None = None  # wall time the idle clock last moved to sim_ms

    # ----- boots ------------------------------------------------------------------------------
    def new_boot(self, reset_cause: int) -> BootChannels:
        self.end_boot()
        self.boot = BootChannels(self.sim_ms - self.boot_ticks_ms, reset_cause)
        self.wdt = self.wdt.after_reset(reset_cause, self.sim_ms)
        self._wall0 = None
        self._last_exchange_wall = time.monotonic()  # the idle clock starts IDLE_S after power-on
        self._idle_wall = None
        self._cpu_prev = None
        self.rs485_de = 0  # a reset drops every pin: the transceiver listens
        if self.chip is not None:
            self.chip.on_boot()
        on_boot = getattr(self.plant, "on_boot", None)  # monitors: a new firmware instance
        if on_boot is not None:
            on_boot(self.sim_ms)
        return self.boot

    def end_boot(self) -> None:
        if self.boot is not None:
            stats = self.boot.stats
            self.ticks_done += stats.get("ticks", 0)
            self.overruns_done += stats.get("overruns", 0)
            self.max_tick_us = max(self.max_tick_us, stats.get("max_tick_us", 0))
            self.boot = None

    def hello_reply(self, info: dict) -> bytes:
        return h.frame(ord("h"), json.dumps(info).encode())

    def stats(self) -> dict:
        current = self.boot.stats if self.boot else {}
        out = {
            "sim_s": self.sim_ms / 1000,
            "ticks": self.ticks_done + current.get("ticks", 0),
            "max_tick_us": max(self.max_tick_us, current.get("max_tick_us", 0)),
            "heap_min_free": self.heap_min_free,
            "overruns": self.overruns_done + current.get("overruns", 0),
            "rs485_collisions": self.rs485_collisions,
            "exchanges": self.exchanges,
        }
        if self.chip is not None:
            out["chip"] = self.chip.summary()
        return out

    # ----- clock ------------------------------------------------------------------------------
    def advance(self, abs_ms: int) -> None:
        if abs_ms > self.sim_ms:
            self.plant.advance(abs_ms)
            with self.changed:
                self.sim_ms = abs_ms
                self.changed.notify_all()

    def run_until(
        self, sim_s: float, timeout_s: float, why_stuck=lambda: "", stall_s: float | None = None
    ) -> bool:
        """Wait until the simulated clock reaches sim_s. False on timeout, when why_stuck()
        says so, or when the clock stood still for stall_s wall seconds (firmware not running)."""
        target = int(sim_s * 1000)
        deadline = time.monotonic() + timeout_s
        last_ms, last_change = self.sim_ms, time.monotonic()
        with self.changed:
            while self.sim_ms < target:
                now = time.monotonic()
                if self.sim_ms != last_ms:
                    last_ms, last_change = self.sim_ms, now
                stalled = stall_s is not None and now - last_change > stall_s
                if now >= deadline or stalled or why_stuck():
                    return False
                self.changed.wait(min(deadline - now, 0.5))
        return True

    # ----- messages ---------------------------------------------------------------------------
    def handle(self, msg_type: int, payload: bytes):
        """Return (reply bytes or None, wall time to send it or None for now, event or None)."""
        boot = self.boot
        if msg_type == h.EXCHANGE:
            return self._exchange(boot, payload)
        if msg_type == h.REGISTER:
            kind = h.KIND_NAMES.get(payload[0], "?")
            role = payload[1:].decode()
            ch = len(boot.roles)
            boot.roles.append(role)
            boot.kinds.append(kind)
            value = self.plant.register(role, kind) if kind not in ("uart", "de") else 0
            boot.sent[ch] = value
            if kind not in ("uart", "de"):
                boot.scanned.append((ch, role))
            return h.frame(ord("r"), struct.pack("<HI", ch, value)), None, None
        if msg_type == h.WATCHDOG:
            (self.wdt.timeout_ms,) = struct.unpack("<I", payload)
            self.wdt.fed_ms = self.sim_ms
            return h.frame(ord("w")), None, None
        if msg_type == h.MAINTENANCE:
            window_ms, wdt_ms = struct.unpack("<II", payload)
            wdt = self.wdt
            if window_ms and not wdt.timeout_ms:
                wdt.timeout_ms = wdt_ms  # boot.py starts the hardware watchdog
            wdt.window_end_ms = self.sim_ms + window_ms if window_ms else None
            wdt.fed_ms = self.sim_ms
            return h.frame(ord("m")), None, None
        if msg_type == h.RESUME:
            return h.frame(ord("c")), None, None
        if msg_type == h.RESET:
            return None, None, EV_RESET
        if msg_type == h.BROWN_OUT:
            return None, None, EV_FLASH_KILL
        raise ValueError(f"unknown harness message {msg_type:#x}")

    def _exchange(self, boot: BootChannels, payload: bytes):
        self.exchanges += 1
        deadline, board_now, stats, outputs, uart_tx = h.decode_exchange(payload)
        record = stats.pop("chip")
        boot.stats = stats
        if self.chip is not None and record is not None:
            self._charge(boot, board_now, record, outputs, uart_tx)
        # Inside a hold window the board ran ahead on held inputs; catch the plant up to the
        # board's clock so output edges carry the tick they happened in.
        self.advance(boot.boot_sim_ms + board_now)
        if stats["heap_free"]:
            hf = stats["heap_free"]
            self.heap_min_free = hf if self.heap_min_free is None else min(self.heap_min_free, hf)
        now_rel = self.sim_ms - boot.boot_sim_ms
        changes = {}
        for ch, v in outputs.items():
            if boot.kinds[ch] == "de":
                if v != self.rs485_de:
                    self.rs485_de_edges.append((self.sim_ms, v))
                self.rs485_de = v
            else:
                changes[boot.roles[ch]] = v
        self.plant.apply_outputs(self.sim_ms, changes)
        for data in uart_tx.values():
            self.uart_out(data)
        target = boot.boot_sim_ms + max(deadline, now_rel)
        self._last_exchange_wall = time.monotonic()
        self._idle_wall = None
        wdt = self.wdt
        fed = stats["wdt_last_feed_ms"]
        if fed is not None and boot.boot_sim_ms + fed > wdt.fed_ms:
            wdt.fed_ms = boot.boot_sim_ms + fed
        expiry = wdt.expiry_ms()
        if expiry is not None and expiry <= target:
            self.advance(max(expiry, self.sim_ms))
            return None, None, EV_WATCHDOG
        if wdt.window_end_ms is not None and wdt.window_end_ms <= target:
            self.advance(max(wdt.window_end_ms, self.sim_ms))
            return None, None, EV_WINDOW_END
        if self.brown_out_at_ms is not None and self.brown_out_at_ms <= target:
            self.advance(self.brown_out_at_ms)
            self.brown_out_at_ms = None
            return None, None, EV_BROWN_OUT
        if self.stop_at_ms is not None and target > self.stop_at_ms:
            # run_for reached: no answer, so the board freezes on the same tick every run.
            self.advance(self.stop_at_ms)
            self.finished.set()
            with self.changed:
                self.changed.notify_all()
            return None, None, EV_FINISHED
        self.advance(target)
        hold = target
        if self.speed is None:
            limits = [target + self.max_hold_ms, self.plant.next_event_ms(), expiry]
            limits.append(wdt.window_end_ms)
            limits += [self.brown_out_at_ms, self.stop_at_ms]
            hold = max(target, min(t for t in limits if t is not None))
        reply = h.encode_exchange_reply(
            target - boot.boot_sim_ms, hold - boot.boot_sim_ms, self._inputs(boot), self._rx(boot)
        )
        return reply, self._due(target), None

    def idle_advance(self, out_of_loop: bool) -> str | None:
        """At finite speed, the clock of a board outside its scan loop (at the REPL, booting, or
        stopped for a host tool) follows the wall clock as a board's does, so its watchdog and
        maintenance window run; returns the event that ends the board's run, if any. Only while
        a watchdog or a window runs (a blank board keeps the clock still, so a stuck clock still
        says "no scan loop"), and only once no exchange came for IDLE_S: a running scan loop
        moves the clock itself. Lockstep (speed None) never moves it here."""
        wdt = self.wdt
        now = time.monotonic()
        if (
            self.speed is None
            or self.boot is None
            or not out_of_loop
            or not (wdt.timeout_ms or wdt.window_end_ms is not None)
            or self.finished.is_set()
            or now - self._last_exchange_wall < IDLE_S
        ):
            self._idle_wall = None
            return None
        if self._idle_wall is None:
            self._idle_wall = max(self._last_exchange_wall, now - IDLE_S)
        step_ms = int((now - self._idle_wall) * 1000 * self.speed)
        if step_ms <= 0:
            return None
        self._idle_wall += step_ms / 1000 / self.speed
        target = self.sim_ms + step_ms
        expiry = wdt.expiry_ms()
        if expiry is not None and expiry <= target:
            self.advance(max(expiry, self.sim_ms))
            return EV_WATCHDOG
        if wdt.window_end_ms is not None and wdt.window_end_ms <= target:
            self.advance(max(wdt.window_end_ms, self.sim_ms))
            return EV_WINDOW_END
        if self.stop_at_ms is not None and target > self.stop_at_ms:
            self.advance(self.stop_at_ms)
            self.finished.set()
            with self.changed:
                self.changed.notify_all()
            return None
        self.advance(target)
        return None

    def _charge(self, boot: BootChannels, board_now: int, record, outputs, uart_tx) -> None:
        """Chip time of the frame that just ended: its work measured by the firmware's clock,
        bounded by the board process's CPU time since the previous exchange (a host that
        preempted the VM inflates the first, never the second)."""
        cpu_us = None
        if self.cpu_probe is not None:
            now = self.cpu_probe()
            if now is not None and self._cpu_prev is not None:
                cpu_us = (now - self._cpu_prev) / 1000
            self._cpu_prev = now
        uart_bytes = sum(len(d) for d in uart_tx.values())
        self.chip.frame(
            boot.boot_sim_ms + board_now,
            record,
            boot.roles,
            outputs,
            uart_bytes,
            cpu_us,
            rx=self._rx_handed,  # the frame that just ended read them
        )
        self._rx_handed = False

    def _inputs(self, boot: BootChannels) -> dict:
        changed = {}
        get = self.plant.read_inputs().get
        sent = boot.sent
        for ch, role in boot.scanned:
            value = get(role, 0)
            if sent[ch] != value:
                changed[ch] = value
                sent[ch] = value
        return changed

    def _rx(self, boot: BootChannels) -> dict:
        if not self.uart_rx:
            return {}
        if self.rs485_de:
            self.rs485_collisions += 1
        for ch, kind in enumerate(boot.kinds):
            if kind == "uart":
                data = bytes(self.uart_rx[:1024])
                del self.uart_rx[:1024]
                self._rx_handed = True
                return {ch: data}
        return {}

    def _due(self, target_ms: int):
        if self.speed is None:
            return None
        now = time.monotonic()
        if self._wall0 is None:
            self._wall0 = (now, target_ms)
        due = self._wall0[0] + (target_ms - self._wall0[1]) / 1000 / self.speed
        if due < now - MAX_LAG_S:
            self._wall0 = (now, target_ms)
            due = now
        return due if due > now else None
