"""L1: the virtual board's RS-485 line as a master on the wire sees it (hal/harness.py over
hal/rs485.py, the same transmit state machine as a board's hal/mcu.py).

A back-to-back master sends its next request t3.5 after the last stop bit of each answer
(DOMAIN.md: the silence that separates two frames), alternating a short read (answered in the
fast tick that frames it) and a write (answered by the control slot: exception 04, the board is
locked). For every answer, at the configured baud and framing (19200 8E1, the default, and
115200 8N2): DE goes up when the answer is written, and down only after its last stop bit, and
before the master's next request starts; the host never hands the board line bytes while its DE
is up (rs485_collisions); every request is answered. Before hal/rs485.py the virtual line had no
DE and sent every answer in no simulated time.
"""

import math

import pytest
from gridpod.build.tree import firmware_files
from gridpod.device.config import firmware_config
from gridpod.harness.plant_stub import PlantStub
from gridpod.vboard.supervisor import VirtualBoard
from vboard_helpers import make_flash
from vboard_helpers import modbus_frame as frame

READ = frame(1, 3, 0, 0, 0, 10)  # identity block: a short read, 25-byte answer
WRITE = frame(1, 6, 0, 100, 0, 90)  # flow setpoint: locked, exception 04, 5-byte answer
EXCHANGES = 40


def t35_us(baud: int, bits_per_char: int) -> float:
    return 1750.0 if baud > 19200 else 3.5 * bits_per_char * 1e6 / baud


class BackToBackMaster(PlantStub):
    """The plant stub plus a master on the line: the next request t3.5 after each answer's last
    stop bit (from when the answer was written and its length at the line's baud)."""

    def __init__(self, baud: int, bits_per_char: int):
        super().__init__()
        self.host = None
        self.char_us = bits_per_char * 1e6 / baud
        self.t35_us = t35_us(baud, bits_per_char)
        self.next_ms: int | None = 1000  # the first request, once the board runs
        self.sent = 0
        self.answers: list[tuple[int, int, float]] = []  # (written ms, bytes, last stop bit us)

    def on_answer(self, data: bytes) -> None:
        t_ms = self.host.sim_ms  # the exchange of the frame that wrote it: its simulated time
        end_us = t_ms * 1000 + len(data) * self.char_us
        self.answers.append((t_ms, len(data), end_us))
        if self.sent < EXCHANGES:
            self.next_ms = math.ceil((end_us + self.t35_us) / 1000)

    def advance(self, now_ms: int) -> None:
        super().advance(now_ms)
        if self.host is not None and self.next_ms is not None and now_ms >= self.next_ms:
            self.host.uart_rx += READ if self.sent % 2 == 0 else WRITE
            self.sent += 1
            self.next_ms = None  # the next one t3.5 after this one's answer

    def next_event_ms(self):
        return self.next_ms  # no hold window across a request


@pytest.mark.parametrize(
    ("baud", "parity", "stop", "bits_per_char"), [(19200, "E", 1, 11), (115200, "N", 2, 11)]
)
def test_de_drops_after_the_last_stop_bit_and_never_meets_the_next_request(
    tmp_path, baud, parity, stop, bits_per_char
):
    cfgmod = firmware_config()
    values = cfgmod.defaults()
    values.update(modbus_baud=baud, modbus_parity=parity, modbus_stop_bits=stop)
    files = firmware_files("VIRTUAL")
    files["/config.json"] = cfgmod.encode(values)
    flash = make_flash(tmp_path / "f.img", files, with_hal=False)
    master = BackToBackMaster(baud, bits_per_char)
    with VirtualBoard(flash=flash, speed="max", plant=master) as vb:
        master.host = vb.host
        out = vb.host.uart_out
        vb.host.uart_out = lambda data: (master.on_answer(data), out(data))
        vb.run_until(1.0 + EXCHANGES * 0.12)
        edges = list(vb.host.rs485_de_edges)
        collisions = vb.host.rs485_collisions
        log = bytes(vb.console_log)
    assert b"Traceback" not in log, log[-600:]
    assert master.sent == EXCHANGES and len(master.answers) == EXCHANGES, master.answers
    assert collisions == 0
    ups = [t for t, v in edges if v == 1]
    downs = [t for t, v in edges if v == 0]
    assert len(ups) == len(downs) == EXCHANGES, edges
    sizes = {n for _, n, _ in master.answers}
    assert sizes == {25, 5}, sizes  # the read's answer and the write's exception
    for (t_w, _, end_us), up, down in zip(master.answers, ups, downs, strict=True):
        assert up == t_w, (t_w, up)  # DE up in the frame that wrote the answer
        assert down * 1000 >= end_us, (down, end_us)  # never before the last stop bit
        assert down * 1000 < end_us + master.t35_us, (down, end_us)  # down before t3.5
