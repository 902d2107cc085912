"""HIL mode (fidelity level L2), host side: the plant for a real board over its serial link.

The board runs its normal firmware with "hal": "hil" (firmware/hal/hil.py): every pin, its
Modbus UART and its clock are served by this host over the harness protocol, framed with the
preamble A5 5A because a serial link has no message boundaries. Text the board prints between
frames (boot banner, warnings) is kept in `console_text`. The host paces replies (`speed`), so the
board's ticks follow the simulated clock; the same HarnessHost serves the virtual board.

    with HilLink("/dev/ttyACM0", plant=my_plant, speed=1) as link:
        link.run_until(60.0)
"""

import json
import threading
import time

import serial

from .. import GridpodError
from . import protocol as h
from .host import EV_FINISHED, EV_RESET, EV_WATCHDOG, EV_WINDOW_END, HarnessHost
from .plant_stub import PlantStub

PREAMBLE = b"\xa5\x5a"
QUERY = ord("Q")
DEFAULT_BAUD = 921600


class HilLinkError(GridpodError):
    pass


class HilLink:
    def __init__(self, port: str, plant=None, speed=1.0, baud: int = DEFAULT_BAUD, run_for_s=None):
        try:
            self.serial = serial.Serial(port, baud, timeout=0.02)
        except serial.SerialException as e:
            raise HilLinkError(
                f"cannot open {port}: {e}; check the cable and `gridpod doctor`"
            ) from None
        self.host = HarnessHost(plant or PlantStub(), None if speed == "max" else float(speed))
        self.host.uart_out = self._uart_out
        self.host.stop_at_ms = None if run_for_s is None else int(run_for_s * 1000)
        self.plant = self.host.plant
        self.console_text = bytearray()
        self.uart_tx = bytearray()  # what the board's Modbus UART sent
        self.boots = 0
        self.events: list[tuple[int, str]] = []
        self._buf = bytearray()
        self._stop = threading.Event()
        self._nonce = None
        self._thread = threading.Thread(target=self._loop, name="hil-link", daemon=True)
        self._thread.start()
        # A board that booted before we opened the port waits for a HELLO answer we never saw.
        self.serial.write(PREAMBLE + h.frame(QUERY))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.serial.close()

    @property
    def sim_ms(self) -> int:
        return self.host.sim_ms

    def send_uart(self, data: bytes) -> None:
        """Bytes for the board's Modbus UART (delivered at its next exchange)."""
        self.host.uart_rx += data

    def run_until(self, sim_s: float, timeout_s: float = 120.0) -> None:
        if not self.host.run_until(sim_s, timeout_s):
            tail = bytes(self.console_text[-200:]).decode(errors="replace")
            raise HilLinkError(
                f"board clock stuck at {self.sim_ms / 1000:.3f} s, wanted {sim_s} s; is the "
                f"firmware in HIL mode (board 'hal': 'hil')? board printed: {tail!r}"
            )

    def _uart_out(self, data: bytes) -> None:
        self.uart_tx += data

    def _loop(self) -> None:
        while not self._stop.is_set():
            # read() returns as soon as one byte is there; asking for more would wait for the
            # timeout on every exchange.
            data = self.serial.read(max(1, self.serial.in_waiting))
            if data:
                self._buf += data
                self._parse()

    def _parse(self) -> None:
        while True:
            i = self._buf.find(PREAMBLE)
            if i < 0:
                keep = 1 if self._buf.endswith(PREAMBLE[:1]) else 0
                self.console_text += self._buf[: len(self._buf) - keep]
                del self._buf[: len(self._buf) - keep]
                return
            self.console_text += self._buf[:i]
            del self._buf[:i]
            if len(self._buf) < 5:
                return
            msg_type, length = h.HEADER.unpack_from(self._buf, 2)
            if len(self._buf) < 5 + length:
                return
            payload = bytes(self._buf[5 : 5 + length])
            del self._buf[: 5 + length]
            self._on_message(msg_type, payload)

    def _send(self, frame_bytes: bytes, due) -> None:
        if due is not None:
            time.sleep(max(0.0, due - time.monotonic()))
        self.serial.write(PREAMBLE + frame_bytes)

    def _on_message(self, msg_type: int, payload: bytes) -> None:
        if msg_type == h.HELLO:
            info = json.loads(payload or b"{}")
            if info.get("nonce") != self._nonce or self.host.boot is None:
                self._nonce = info.get("nonce")
                self.boots += 1
                self.host.new_boot(int(info.get("reset_cause", 1)))
            self._send(self.host.hello_reply({"boot": self.boots}), None)
            return
        if self.host.boot is None:
            return  # a frame from before we saw the board boot: wait for its HELLO
        reply, due, event = self.host.handle(msg_type, payload)
        if event in (EV_WATCHDOG, EV_RESET, EV_FINISHED, EV_WINDOW_END):
            # The board resets itself (its own watchdog / machine.reset) or is frozen at the
            # end of the run; the next HELLO starts a new boot.
            self.events.append((self.sim_ms, event))
            return
        if reply is not None:
            self._send(reply, due)
