"""Property-based fuzzing (hypothesis) of the real firmware's Modbus slave on the virtual board, over
its rs485 pty: random bytes, valid requests with one byte mutated, wrong CRCs, truncated and
over-long frames, every function code (0-255) and broadcasts.

Every example is sent on its own, then the simulated clock is waited on (not the wall clock, so a
slow host cannot merge two examples into one frame) until any answer must have gone out. Checks:
  * every answer is a well-formed response (CRC, unit 1) to a CRC-valid unit-1 frame contained in
    what was sent: a normal response consistent with that request (never more registers or bits
    than asked, writes echoed) or exception 01-04 (01 exactly for unsupported functions);
  * nothing sent without such a frame (bad CRC, truncated, broadcast, noise) is answered;
  * a CRC-valid frame for unit 1 is always answered;
  * after each example the identity block (holding 0-23) and the safety limits (300-307) read back
    exactly as before fuzzing: the board still answers a valid request, correctly;
  * at the end of each test: no reset, no output edge besides the heartbeat, no tick overrun,
    and the bad-CRC counter moved.
The board is locked (the default config has no PIN), as on a site bus before anyone logs in.
Bounded and reproducible: derandomize=True, no example database, deadline=None.
"""

import time

import pytest
import serial
from gridpod.build.tree import firmware_files
from gridpod.device.config import firmware_config
from gridpod.vboard.supervisor import VirtualBoard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vboard_helpers import make_flash
from vboard_helpers import modbus_crc16 as crc16
from vboard_helpers import modbus_frame as frame

BOARD_HEAP_BYTES = None  # the VIRTUAL board file's budget
UNIT = 1
SUPPORTED = (1, 2, 3, 4, 5, 6, 15, 16)
# Simulated time after the last byte by which any answer has gone out: t3.5 (3 ms at 19200 baud)
# rounds up to the next 10 ms fast tick, which frames the request and answers a short read (every
# other tick at most); a write or a longer read waits for the next control tick
# (comms/modbus_rtu.py: such answers cost more than a fast tick on a chip); plus one tick for the
# exchange that carries the answer. The board runs its control tick every CONTROL_TICK_MS (the
# config's minimum, the default is 100 ms): the answers are the same, the wait per example
# (at speed 1, wall time) stays what it was when the fast tick answered.
CONTROL_TICK_MS = 20
ANSWER_BY_MS = 20 + CONTROL_TICK_MS + 10
TIMEOUT_S = 5.0
QUIET_S = 0.02  # wall time without a byte that ends an answer
TICK_OVERRUNS = 125  # input registers (u32)
FAST_TICK_MAX_US = 121
MODBUS_BAD_CRC = 141
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ----- the oracle ---------------------------------------------------------------------------------


def candidate_requests(sent: bytes) -> list[bytes]:
    """Every slice of sent that is a CRC-valid frame (>= 4 bytes) addressed to this unit."""
    found = []
    for i in range(len(sent) - 3):
        if sent[i] != UNIT:
            continue
        crc = 0xFFFF
        for j in range(i, len(sent)):
            crc = crc16(sent[j : j + 1], crc)
            if crc == 0 and j - i + 1 >= 4:
                found.append(sent[i : j + 1])
    return found


def split_responses(reply: bytes) -> list[bytes]:
    out = []
    i = 0
    while i < len(reply):
        assert len(reply) - i >= 5, f"truncated answer {reply[i:].hex()}"
        assert reply[i] == UNIT, f"answer from unit {reply[i]}: {reply.hex()}"
        fc = reply[i + 1]
        if fc & 0x80:
            n = 5
        elif fc in (1, 2, 3, 4):
            n = 5 + reply[i + 2]
        elif fc in (5, 6, 15, 16):
            n = 8
        else:
            raise AssertionError(f"answer with function {fc}: {reply.hex()}")
        resp = reply[i : i + n]
        assert len(resp) == n and crc16(resp) == 0, f"bad answer frame {reply[i:].hex()}"
        out.append(resp)
        i += n
    return out


def answers(req: bytes, resp: bytes) -> bool:
    """Is resp a correct response to req (normal, or a documented exception)?"""
    fc = req[1]
    if resp[1] == (fc | 0x80) & 0xFF and len(resp) == 5:
        code = resp[2]
        return code == 1 if fc not in SUPPORTED else code in (2, 3, 4)
    if resp[1] != fc or fc not in SUPPORTED:
        return False
    if fc in (1, 2, 3, 4, 5, 6) and len(req) != 8:
        return False
    qty = (req[4] << 8) | req[5]
    if fc in (1, 2):
        return 1 <= qty <= 2000 and resp[2] == (qty + 7) // 8
    if fc in (3, 4):
        return 1 <= qty <= 125 and resp[2] == 2 * qty
    if fc == 5:
        return resp == req and qty in (0xFF00, 0)
    if fc == 6:
        return resp == req
    limit, per = (1968, lambda q: (q + 7) // 8) if fc == 15 else (123, lambda q: 2 * q)
    return (
        1 <= qty <= limit and len(req) == 9 + req[6] and req[6] == per(qty) and resp[:6] == req[:6]
    )


def check_reply(sent: bytes, reply: bytes) -> None:
    candidates = candidate_requests(sent)
    responses = split_responses(reply)
    if not candidates:
        assert reply == b"", f"answered a frame without a valid CRC for us: {sent.hex()}"
        return
    assert len(responses) <= len(candidates), (sent.hex(), reply.hex())
    for resp in responses:
        assert any(answers(req, resp) for req in candidates), (
            f"wrong answer {resp.hex()} to {sent.hex()}"
        )
    if sent[0] == UNIT and crc16(sent) == 0 and len(sent) <= 256:
        assert responses, f"valid request not answered: {sent.hex()}"


# ----- the board ----------------------------------------------------------------------------------


class Wire:
    """The rs485 pty, paced by the board's simulated clock."""

    def __init__(self, vb: VirtualBoard, port: serial.Serial):
        self.vb = vb
        self.port = port
        self.identity = self.ask(frame(UNIT, 3, 0, 0, 0, 24), 5 + 48)
        self.limits = self.ask(frame(UNIT, 3, 1, 0x2C, 0, 8), 5 + 16)
        self.resets = vb.resets
        self.edges = self._edges()
        self.overruns = self.input_u32(TICK_OVERRUNS)
        self.bad_crc = self.input_u16(MODBUS_BAD_CRC)
        self.examples = 0

    def _edges(self) -> dict:
        return {k: len(v) for k, v in self.vb.plant.edges.items() if k != "STATUS_LED"}

    def _wait_sim(self, target_ms: int) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while self.vb.sim_ms < target_ms:
            assert time.monotonic() < deadline, f"simulated clock stuck at {self.vb.sim_ms} ms"
            time.sleep(0.002)

    def send(self, data: bytes) -> bytes:
        """Send data, wait until every answer is due, return what came back."""
        stray = self.port.read(self.port.in_waiting)
        assert stray == b"", f"unexpected bytes before sending: {stray.hex()}"
        t0 = self.vb.sim_ms
        self.port.write(data)
        self.port.flush()
        self._wait_sim(t0 + ANSWER_BY_MS)
        # the pty hop after the exchange that carried the answer: collect until the line has
        # been quiet for QUIET_S of wall time (a loaded host delays the hop, never the answer)
        out = b""
        deadline = time.monotonic() + TIMEOUT_S
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < QUIET_S and time.monotonic() < deadline:
            time.sleep(0.002)
            got = self.port.read(self.port.in_waiting)
            if got:
                out += got
                quiet_since = time.monotonic()
        return out

    def ask(self, req: bytes, n: int) -> bytes:
        self.port.write(req)
        out = b""
        deadline = time.monotonic() + TIMEOUT_S
        while len(out) < n and time.monotonic() < deadline:
            out += self.port.read(max(1, self.port.in_waiting))
        assert len(out) == n and crc16(out) == 0, f"{req.hex()} -> {out.hex()}"
        return out

    def input_u16(self, addr: int) -> int:
        resp = self.ask(frame(UNIT, 4, addr >> 8, addr & 0xFF, 0, 1), 7)
        return int.from_bytes(resp[3:5], "big")

    def input_u32(self, addr: int) -> int:
        resp = self.ask(frame(UNIT, 4, addr >> 8, addr & 0xFF, 0, 2), 9)
        return int.from_bytes(resp[3:7], "big")

    def example(self, data: bytes) -> None:
        self.examples += 1
        check_reply(data, self.send(data))
        assert self.ask(frame(UNIT, 3, 0, 0, 0, 24), 5 + 48) == self.identity
        assert self.ask(frame(UNIT, 3, 1, 0x2C, 0, 8), 5 + 16) == self.limits
        assert self.vb.resets == self.resets, "the board reset"

    def finish(self) -> dict:
        assert self.vb.resets == self.resets, "the board reset"
        assert self._edges() == self.edges, "an output changed"
        overruns = self.input_u32(TICK_OVERRUNS)
        assert overruns == self.overruns, f"{overruns - self.overruns} tick overruns"
        bad_crc = self.input_u16(MODBUS_BAD_CRC)
        stats = {
            "examples": self.examples,
            "bad_crc": bad_crc - self.bad_crc,
            "fast_tick_max_us": self.input_u16(FAST_TICK_MAX_US),
        }
        self.bad_crc = bad_crc
        self.examples = 0
        # On time: the slowest fast tick since boot (real CPU time on the unix port) fits a tick.
        assert stats["fast_tick_max_us"] < 10000, stats
        return stats


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    cfgmod = firmware_config()
    files = firmware_files()
    values = cfgmod.defaults()
    values["control_tick_ms"] = CONTROL_TICK_MS
    files["/config.json"] = cfgmod.encode(values)
    flash = make_flash(tmp_path_factory.mktemp("fuzz") / "f.img", files, with_hal=False)
    with VirtualBoard(flash=flash, speed=1, heap_bytes=BOARD_HEAP_BYTES) as vb:
        vb.run_until(0.5)
        yield vb


@pytest.fixture(scope="module")
def wire(board):
    with serial.Serial(board.modbus_port, 19200, timeout=0.05) as port:
        yield Wire(board, port)


# ----- strategies ---------------------------------------------------------------------------------

addresses = st.one_of(
    st.integers(0, 0xFFFF),
    st.sampled_from((0, 5, 7, 8, 99, 100, 104, 110, 120, 121, 200, 201, 300, 307, 308)),
)


@st.composite
def requests(draw, unit=UNIT):
    """A CRC-valid request of a supported function, fields at and past their limits."""
    u = unit
    fc = draw(st.sampled_from(SUPPORTED))
    a = draw(addresses)
    if fc in (1, 2, 3, 4):
        qty = draw(st.one_of(st.integers(0, 130), st.sampled_from((2000, 2001, 0xFFFF))))
        return frame(u, fc, a >> 8, a & 0xFF, qty >> 8, qty & 0xFF)
    if fc in (5, 6):
        v = draw(st.one_of(st.sampled_from((0xFF00, 0, 1, 1000, 1001)), st.integers(0, 0xFFFF)))
        return frame(u, fc, a >> 8, a & 0xFF, v >> 8, v & 0xFF)
    qty = draw(st.integers(0, 12))
    count = (qty + 7) // 8 if fc == 15 else 2 * qty
    count = draw(st.one_of(st.just(count), st.integers(0, 20)))
    data = draw(st.binary(min_size=count, max_size=count))
    return frame(u, fc, a >> 8, a & 0xFF, qty >> 8, qty & 0xFF, count, *data)


@st.composite
def mutated(draw):
    req = bytearray(draw(requests()))
    i = draw(st.integers(0, len(req) - 1))
    req[i] = (req[i] + draw(st.integers(1, 255))) & 0xFF
    return bytes(req)


@st.composite
def damaged(draw):
    req = draw(requests())
    kind = draw(st.sampled_from(("crc", "truncated", "long")))
    if kind == "crc":
        flip = draw(st.integers(1, 0xFFFF))
        return req[:-2] + bytes((req[-2] ^ (flip & 0xFF), req[-1] ^ (flip >> 8)))
    if kind == "truncated":
        return req[: draw(st.integers(1, len(req) - 1))]
    return req + draw(st.binary(min_size=1, max_size=40))


@st.composite
def any_function(draw):
    fc = draw(st.integers(0, 255))
    body = draw(st.binary(min_size=0, max_size=12))
    return frame(UNIT, fc, *body)


# ----- the tests ----------------------------------------------------------------------------------


def _run(wire, strategy, n, label, results):
    @settings(FUZZ, max_examples=n)
    @given(strategy)
    def prop(data):
        wire.example(data)

    t0 = time.monotonic()
    prop()
    results[label] = round(time.monotonic() - t0, 1)


@pytest.fixture(scope="module")
def results():
    out = {}
    yield out
    print("\nfuzz wall s and stats:", out)


def test_fuzz_random_bytes(wire, results):
    _run(wire, st.binary(min_size=1, max_size=300), 60, "random", results)
    stats = wire.finish()
    assert stats["bad_crc"] > 0
    results["random_stats"] = stats


def test_fuzz_valid_requests_with_one_byte_mutated(wire, results):
    _run(wire, mutated(), 60, "mutated", results)
    stats = wire.finish()
    assert stats["bad_crc"] > 0
    results["mutated_stats"] = stats


def test_fuzz_wrong_crc_truncated_and_over_long(wire, results):
    _run(wire, damaged(), 60, "damaged", results)
    results["damaged_stats"] = wire.finish()


def test_fuzz_valid_requests_and_every_function_code(wire, results):
    _run(wire, st.one_of(requests(), any_function()), 80, "functions", results)
    results["functions_stats"] = wire.finish()


def test_fuzz_broadcast_is_never_answered(wire, results):
    _run(wire, requests(unit=0), 40, "broadcast", results)
    results["broadcast_stats"] = wire.finish()


def test_oracle_rejects_wrong_answers():
    """The checks above can fail: wrong answers and answers to bad frames are caught."""
    req = frame(1, 3, 0, 0, 0, 2)
    check_reply(req, frame(1, 3, 4, 0, 1, 0, 2))
    check_reply(req, frame(1, 0x83, 2))
    for bad in (
        frame(1, 3, 6, 0, 1, 0, 2, 0, 3),  # more registers than asked
        frame(1, 0x83, 1),  # 01 for a supported function
        frame(1, 0x83, 5),  # undocumented exception
        frame(1, 3, 4, 0, 1, 0, 2)[:-1] + b"\x00",  # bad CRC
        frame(2, 3, 4, 0, 1, 0, 2),  # another unit
        b"",  # silence to a valid request
    ):
        with pytest.raises(AssertionError):
            check_reply(req, bad)
    with pytest.raises(AssertionError):
        check_reply(req[:-1] + bytes((req[-1] ^ 1,)), frame(1, 0x83, 3))  # answered a bad CRC
    with pytest.raises(AssertionError):
        check_reply(frame(0, 6, 0, 100, 0, 1), frame(0, 6, 0, 100, 0, 1))  # broadcast answered
    w16 = frame(1, 16, 0, 100, 0, 2, 4, 0, 1, 0, 2)
    check_reply(w16, frame(1, 16, 0, 100, 0, 2))
    with pytest.raises(AssertionError):
        check_reply(w16, frame(1, 16, 0, 100, 0, 3))
