"""A console behind a USB-UART bridge: bytes leave at the line rate, mpremote still works."""

from gridpod.vboard.line_rate import BURST_BYTES, LineRate
from gridpod.vboard.supervisor import VirtualBoard
from vboard_helpers import make_flash, mpremote


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_line_rate_allows_baud_over_ten_bits_per_byte():
    clock = FakeClock()
    rate = LineRate(115200, clock)
    assert rate.allow(10_000) == BURST_BYTES  # one packet may go at once
    rate.take(BURST_BYTES)
    assert rate.allow(10_000) == 0 and rate.wait_s() > 0
    clock.t += 0.1  # 100 ms at 11520 B/s, but never more than one burst of credit
    assert rate.allow(10_000) == BURST_BYTES
    rate.take(10)
    clock.t += 10 / 11520
    assert rate.allow(10_000) == BURST_BYTES  # refilled the 10 bytes just taken
    assert LineRate(None).allow(10_000) == 10_000


def test_mpremote_works_through_a_115200_baud_console(tmp_path):
    src = tmp_path / "blob.txt"
    src.write_text("0123456789abcdef\n" * 200)
    with VirtualBoard(flash=make_flash(tmp_path / "f.img", {}), console_baud=115200) as vb:
        mpremote(vb.console_port, "fs", "cp", str(src), ":blob.txt")
        out = mpremote(vb.console_port, "exec", "print(len(open('blob.txt').read()))").stdout
        assert out.strip() == str(len(src.read_text()))
