"""hal/mcu.py runs in the real MicroPython VM (unix port) against a recording fake `machine`.

For every real board the VM opens the platform, builds every role and writes one RS-485 frame;
the recorded `machine` calls must match the board file: each pin built with its mode, pull,
frequency and safe initial value, external chips reached on the right bus and address, the UART
on its pins with DE framing the write, the watchdog clamped to the board's limit. Outputs on a
PCF8574 (active low: value(1) clears the line's bit) are released when the platform opens,
written only on a change, survive a bus error and allocate nothing per call.

ADS1115 reads (safety review M11) run in a simulated scan loop (fake_machine/exercise_ads.py):
an ADS1115 model per chip on a simulated clock that charges every I2C transfer its bit time at
the board's bus clock. A read never sleeps, the fast tick's analog reads stay within a few short
transfers per chip, every value is its own channel's (or the out-of-band 0), within a bounded age.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gridpod.build.tree import import_firmware

ROOT = Path(__file__).resolve().parents[2]
FAKE_DIR = Path(__file__).resolve().parent / "fake_machine"
MICROPYTHON = Path(sys.executable).parent / "micropython"
REAL_BOARDS = ["ESP32_DEVKITC", "ESP32_S3_DEVKITC", "RPI_PICO"]
PULL_CODE = {"up": "PULL_UP", "down": "PULL_DOWN"}

_spec = importlib.util.spec_from_file_location(
    "fake_machine_for_constants", FAKE_DIR / "machine.py"
)
assert _spec is not None and _spec.loader is not None
fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake)
FAULT_INTERLOCK_OPEN = import_firmware("control.fault_rows").FAULT_INTERLOCK_OPEN


def run_vm(board_json: Path, script: str = "exercise_mcu.py") -> dict[str, Any]:
    if not MICROPYTHON.exists():
        found = shutil.which("micropython")
        if found is None:
            pytest.fail(f"MicroPython unix port not found at {MICROPYTHON}: run `make setup`")
        vm = found
    else:
        vm = str(MICROPYTHON)
    env = dict(os.environ, MICROPYPATH=f".frozen:{FAKE_DIR}:{ROOT / 'firmware'}")
    proc = subprocess.run(
        [vm, "-X", "heapsize=4M", str(FAKE_DIR / script), str(board_json)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, f"VM failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=REAL_BOARDS)
def recorded(request: pytest.FixtureRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    path = ROOT / "boards" / request.param / "board.json"
    return json.loads(path.read_text()), run_vm(path)


def ctor(calls: list[dict[str, Any]], kind: str, first_arg: Any) -> list[dict[str, Any]]:
    return [c for c in calls if c["call"] == kind and c["args"][:1] == [first_arg]]


def test_runs_on_the_micropython_vm(recorded):
    _, out = recorded
    assert out["impl"] == "micropython"


def test_every_direct_pin_is_built_with_its_mode(recorded):
    board, out = recorded
    calls = out["calls"]
    for role, spec in board["pins"].items():
        if "pin" not in spec:
            continue
        pin, mode = spec["pin"], spec["mode"]
        pull = getattr(fake.Pin, PULL_CODE[spec["pull"]]) if "pull" in spec else None
        pins = ctor(calls, "Pin", pin)
        assert pins, f"{role}: Pin({pin}) never constructed"
        if mode == "out":
            assert {"mode": fake.Pin.OUT, "value": 0}.items() <= pins[0].items(), role
            assert out["seen"][role] == 0, f"{role} not off after construction"
        elif mode in ("in", "counter"):
            assert pins[0].get("mode") == fake.Pin.IN, role
            assert pins[0].get("pull") == pull, f"{role}: pull {pins[0].get('pull')} != {pull}"
        if mode == "counter":
            irqs = ctor(calls, "Pin.irq", pin)
            assert [i["trigger"] for i in irqs] == [fake.Pin.IRQ_RISING], role
            expected, counted = out["edges"][role]
            assert counted == expected, f"{role}: counted {counted} of {expected} edges"
        if mode == "pwm":
            pwms = ctor(calls, "PWM", pin)
            assert len(pwms) == 1, role
            assert pwms[0]["freq"] == out["pwm_freq_hz"], role
            assert pwms[0]["duty_u16"] == 0, f"{role}: PWM must start at duty 0"
        if mode == "adc":
            adcs = ctor(calls, "ADC", pin)
            assert len(adcs) == 1, role
            if board.get("adc_atten_db") == 11:
                assert adcs[0].get("atten") == fake.ADC.ATTN_11DB, f"{role}: 0-3.3 V range"
            else:
                assert "atten" not in adcs[0], role


def test_external_roles_reach_their_chip(recorded):
    board, out = recorded
    calls = out["calls"]
    for name, bus in board.get("i2c", {}).items():
        (i2c,) = ctor(calls, "I2C", bus["id"])
        assert (i2c["sda"], i2c["scl"], i2c["freq"]) == (bus["sda"], bus["scl"], bus["freq_hz"])
        assert ctor(calls, "Pin", bus["sda"]) and ctor(calls, "Pin", bus["scl"]), name
    for role, spec in board["pins"].items():
        if "ext" not in spec:
            continue
        dev = board["ext"][spec["ext"]]
        bus_id = board["i2c"][dev["bus"]]["id"]
        if dev["chip"] == "ADS1115":
            configs = [
                c["args"][3]
                for c in calls
                if c["call"] == "I2C.writeto_mem" and c["args"][:3] == [bus_id, dev["addr"], 1]
            ]
            assert configs, f"{role}: its chip never got a conversion started"
            assert all(hi & 0x80 and hi & 0x01 for hi, _ in configs), "OS and MODE bits"
            # read once right after boot: no conversion done yet, so out of band, never a guess
            # (the channel mapping: test_ads_values_converge_to_their_own_channel below)
            assert out["seen"][role] == 0, role
        elif dev["chip"] == "PCF8574":
            writes = [c for c in calls if c["call"] == "I2C.writeto"]
            assert [bus_id, dev["addr"], [255]] in [w["args"] for w in writes], role
            # inputs: the fake's lines are high (released), an active-low input reads that as 0;
            # outputs start off
            released = 0 if spec.get("active_low") else 1
            assert out["seen"][role] == (released if spec["mode"] == "in" else 0), role
        else:
            pytest.fail(f"{role}: no assertion for chip {dev['chip']}")


def test_no_pin_outside_the_board_file_and_none_driven_high(recorded):
    board, out = recorded
    calls = out["calls"]
    declared = {s["pin"] for s in board["pins"].values() if "pin" in s}
    for spec in board["uarts"].values():
        declared |= {spec["tx"], spec["rx"], spec["de"]}
    for spec in board.get("i2c", {}).values():
        declared |= {spec["sda"], spec["scl"]}
    built = {c["args"][0] for c in calls if c["call"] == "Pin"}
    assert built == declared
    de_pins = {spec["de"] for spec in board["uarts"].values()}
    raised = [c for c in calls if c["call"] == "Pin.value" and c["args"][1] == 1]
    assert {c["args"][0] for c in raised} <= de_pins, "an output was switched on"


def test_safety_inputs_on_an_expander_read_unsafe_on_a_released_line_and_a_dead_bus(recorded):
    """Safety review C1: the interlock loop and the level switch sit on a PCF8574, whose released
    line and failed read are 1. Wired active low they read 0 (loop open, level low) then, and the
    real interlock logic raises INTERLOCK_OPEN and refuses the permit on a dead bus; the failed
    read is counted in platform.bus_errors(), which app/housekeeping.py raises as IO_BUS."""
    board, out = recorded
    safety = out["safety"]
    assert set(safety) == {"INTERLOCK_LOOP", "LEVEL_OK"}, safety  # both sit on an expander
    for role, r in safety.items():
        assert (r["released"], r["pulled_low"], r["bus_error"]) == (0, 1, 0), (role, r)
        assert r["bus_errors_counted"] == 1, (role, r)  # housekeeping raises IO_BUS from it
    loop = safety["INTERLOCK_LOOP"]
    assert loop["permit_on_dead_bus"] is False
    assert loop["causes_on_dead_bus"] == 1 << FAULT_INTERLOCK_OPEN


def test_uart_pins_and_rs485_direction(recorded):
    board, out = recorded
    calls = out["calls"]
    for name, spec in board["uarts"].items():
        (uart,) = ctor(calls, "UART", spec["id"])
        assert (uart["tx"], uart["rx"]) == (spec["tx"], spec["rx"]), name
        assert (uart["baudrate"], uart["bits"], uart["parity"], uart["stop"]) == (19200, 8, 0, 1)
        de_ctor = ctor(calls, "Pin", spec["de"])
        assert {"mode": fake.Pin.OUT, "value": 0}.items() <= de_ctor[0].items(), "DE starts low"
        assert calls.index(de_ctor[0]) < calls.index(uart), "DE low before the UART exists"
        # a whole RTU frame fits the UART's transmit buffer: write() never waits for room
        assert uart["txbuf"] == 256, name
        after = calls[out["uart_mark"] :]
        events = [
            (c["call"], c["args"][1] if c["call"] == "Pin.value" else None)
            for c in after
            if c["call"] in ("UART.write", "UART.flush")
            or (c["call"] == "Pin.value" and c["args"][0] == spec["de"])
        ]
        # DE frames the write; it drops in the idle wait (timing: test_rs485_* below), no flush
        assert events == [("Pin.value", 1), ("UART.write", None), ("Pin.value", 0)]
        assert out["uart_written"][name] == 8


def test_cpu_clock_is_the_board_files_before_any_peripheral(recorded):
    """docs/chip-time.md: the fast tick needs the chips' top clock (ESP32 family 240 MHz, RP2040
    200 MHz at a 1.15 V core). It is set first, so the UART, I2C and PWM clocks an RP2040 derives
    from the system clock come out right; an RP2040 above 133 MHz gets VSEL 1.15 V before."""
    board, out = recorded
    calls = out["calls"]
    names = [c["call"] for c in calls]
    (freq,) = [c for c in calls if c["call"] == "freq"]
    assert freq["args"] == [board["cpu_mhz"] * 1_000_000]
    first_peripheral = min(names.index(k) for k in ("Pin", "UART", "I2C", "PWM") if k in names)
    assert calls.index(freq) < first_peripheral
    vreg = [c["args"] for c in calls if c["call"] == "mem32"]
    if board["chip"] == "rp2040" and board["cpu_mhz"] > 133:
        assert vreg == [[0x40064000, 0xC1]], vreg  # EN kept, VSEL 0b1100 = 1.15 V
        assert names.index("mem32") < names.index("freq")
    else:
        assert vreg == []


@pytest.fixture(scope="module", params=REAL_BOARDS)
def rs485_run(request: pytest.FixtureRequest) -> dict[str, Any]:
    path = ROOT / "boards" / request.param / "board.json"
    return run_vm(path, "exercise_rs485.py")["scenarios"]


def _t35_us(baud: int) -> float:
    """DOMAIN.md: 3.5 characters of 11 bits, fixed 1750 us above 19200 baud."""
    return 1750.0 if baud > 19200 else 3.5 * 11 * 1e6 / baud


def test_rs485_reply_never_waits_in_the_slot(rs485_run):
    """docs/chip-time.md: write() waited in uart.flush() for the reply's wire time with DE high
    (an FC03 reply of 10 registers at 19200 8E1: 14.3 ms), which took the fast slot over 200 % of
    its tick on a real chip (TICK_OVERRUN). Now every write() returns with the simulated clock
    where it was, DE high, and the idle waits keep the frames on their 10 ms grid."""
    for name, r in rs485_run.items():
        assert r["write_costs_us"] and set(r["write_costs_us"]) == {0}, (name, r)
        # the sleep granularity of the idle wait is a ms (time.sleep_ms), as before
        for k, start in enumerate(r["frames_us"]):
            assert 10000 * k <= start < 10000 * k + 1000, (name, r["frames_us"])
        # no busy wait on the UART: a few polls per frame at most
        assert r["txdone_calls"] <= 3 * len(r["frames_us"]), (name, r["txdone_calls"])
        assert not r["sending_at_end"], name


def test_rs485_de_drops_after_the_last_stop_bit_within_t35(rs485_run):
    """DE rises before the first start bit and drops only after the last stop bit (at the baud
    and framing the line was made with). An end in the idle wait: the wait sleeps until it and
    polls every quarter character. An end inside a frame's work, where no poll runs (a long
    control frame on a chip): the one-shot alarm armed for the expected end drops DE within a
    ms of it, not at the next poll. Either way a master that sends t3.5 after the reply's last
    stop bit (DOMAIN.md) finds the line released: no collision."""
    seen = set()
    for name, r in rs485_run.items():
        char_us = r["char_bits"] * 1e6 / r["baud"]
        start, end = r["sent"][0][0], r["sent"][-1][1]
        assert end - start == pytest.approx(r["bytes"] * char_us, abs=r["bytes"]), name
        assert [level for level, _ in r["de_edges"]] == [1, 0], (name, r["de_edges"])
        (_, t_up), (_, t_down) = r["de_edges"]
        assert t_up <= start and t_down >= end, (name, r["de_edges"], start, end)
        frames = r["frames_us"]
        k = max(i for i, f in enumerate(frames) if f <= end)
        read_at = frames[k] + r["lead_us"]
        work_end = frames[k] + r["works_us"][k]
        if end <= work_end:
            seen.add("in a frame's work")
            first_poll = read_at if end <= read_at else work_end
            assert t_down - end <= 1000 and t_down < first_poll, (name, t_down, end, first_poll)
        else:
            seen.add("in the idle wait")
            assert t_down - end <= char_us / 4 + r["bytes"], (name, t_down - end, char_us)
        assert t_down - end < _t35_us(r["baud"]), (name, t_down - end)
        assert r["one_shots"] >= 1, name  # the alarm was armed for every reply
    assert len(seen) == 2, seen  # the scenarios cover both places a reply can end


def test_watchdog_and_reset_cause(recorded):
    board, out = recorded
    (wdt,) = [c for c in out["calls"] if c["call"] == "WDT"]
    limit = board.get("wdt_max_ms")
    expected = out["wdt_request_ms"] if limit is None else min(limit, out["wdt_request_ms"])
    assert wdt["timeout"] == expected
    assert out["reset_cause_is_watchdog"]
    assert bytes(out["unique_id"]) == fake.unique_id()


def test_maintenance_window_feeds_the_watchdog_then_resets(recorded):
    """Ctrl-C for a host tool: a machine.Timer feeds the watchdog the App started, every quarter
    of its timeout, for the board's window, then machine.reset(); a running scan loop closes it."""
    board, out = recorded
    w = out["window"]
    wdt_ms = min(board.get("wdt_max_ms") or out["wdt_request_ms"], out["wdt_request_ms"])
    window_ms = board.get("maintenance_window_ms", 300000)
    assert w["window_ms"] == window_ms
    assert w["period_ms"] == max(100, wdt_ms // 4)
    fires = -(-window_ms // w["period_ms"])  # the fire that reaches the end resets
    assert w["reset_after_fires"] == fires
    assert w["feeds"] == fires  # one at opening, one per fire before the last
    calls = [c["call"] for c in out["calls"][w["mark"] :]]
    assert "WDT" not in calls  # the App's watchdog, not a second one
    assert calls.count("reset") == 1 and "Timer.deinit" in calls
    assert w["closed"]


# ----- outputs on a PCF8574 ---------------------------------------------------------------------


def ext_outputs(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r: s
        for r, s in board["pins"].items()
        if s["mode"] == "out" and "ext" in s and board["ext"][s["ext"]]["chip"] == "PCF8574"
    }


def pcf_writes(board: dict[str, Any], calls: list[dict[str, Any]], dev_name: str) -> list[int]:
    """The bytes written to one expander, in order."""
    dev = board["ext"][dev_name]
    where = [board["i2c"][dev["bus"]]["id"], dev["addr"]]
    return [c["args"][2][0] for c in calls if c["call"] == "I2C.writeto" and c["args"][:2] == where]


def input_mask(board: dict[str, Any], dev_name: str) -> int:
    return sum(
        1 << s["ch"]
        for s in board["pins"].values()
        if s.get("ext") == dev_name and s["mode"] == "in"
    )


def test_some_board_exercises_pcf8574_outputs():
    boards = {
        name: json.loads((ROOT / "boards" / name / "board.json").read_text())
        for name in REAL_BOARDS
    }
    assert any(ext_outputs(b) for b in boards.values())
    # one expander with inputs and outputs mixed, one with outputs only
    mixed = [
        s["ext"]
        for b in boards.values()
        for s in ext_outputs(b).values()
        if input_mask(b, s["ext"])
    ]
    assert mixed and len(mixed) < sum(len(ext_outputs(b)) for b in boards.values())


def test_pcf8574_outputs_released_when_the_platform_opens(recorded):
    board, out = recorded
    calls = out["calls"]
    for dev_name in {s["ext"] for s in ext_outputs(board).values()}:
        # before any role is built: an expander keeps its state over an MCU reset
        assert pcf_writes(board, calls[: out["open_mark"]], dev_name) == [0xFF], dev_name
        # and nothing switched on while every role was built
        assert set(pcf_writes(board, calls[: out["uart_mark"]], dev_name)) == {0xFF}, dev_name


def test_pcf8574_output_drives_its_bit_active_low_and_writes_only_on_change(recorded):
    board, out = recorded
    calls = out["calls"]
    for role, spec in ext_outputs(board).items():
        r = out["ext_out"][role]
        on_byte = 0xFF & ~(1 << spec["ch"])  # the line sinks; every other line released
        marks = r["marks"]
        per_step = [
            pcf_writes(board, calls[marks[i] : marks[i + 1]], spec["ext"])
            for i in range(len(marks) - 1)
        ]
        # value(1), value(1), value(0), value(0), on(), on(), off(), off()
        assert per_step == [[on_byte], [], [0xFF], [], [on_byte], [], [0xFF], []], role
        assert r["readback"] == [1, 1, 0, 0, 1, 1, 0, 0], role
        # no other device saw a write in the meantime
        others = [
            c
            for c in calls[r["marks"][0] : r["marks"][-1]]
            if c["call"].startswith("I2C.write") and pcf_writes(board, [c], spec["ext"]) == []
        ]
        assert others == [], role


def test_pcf8574_outputs_together_keep_input_lines_high(recorded):
    board, out = recorded
    calls = out["calls"]
    outs = ext_outputs(board)
    for dev_name in {s["ext"] for s in outs.values()}:
        out_mask = sum(1 << s["ch"] for s in outs.values() if s["ext"] == dev_name)
        assert out_mask & input_mask(board, dev_name) == 0
        writes = pcf_writes(board, calls[out["all_on_mark"] : out["all_off_mark"]], dev_name)
        assert writes and writes[-1] == 0xFF & ~out_mask, dev_name
        assert all(w & input_mask(board, dev_name) == input_mask(board, dev_name) for w in writes)
        assert pcf_writes(board, calls[out["all_off_mark"] :], dev_name)[-1] == 0xFF


def test_pcf8574_output_bus_error_is_counted_and_retried(recorded):
    board, out = recorded
    calls = out["calls"]
    for role, spec in ext_outputs(board).items():
        r = out["ext_out"][role]
        assert r["raised"] is None, f"{role}: {r['raised']} escaped value()"
        assert (r["failed_attempts"], r["errors_added"]) == (1, 1), role
        assert r["readback_while_failing"] == 1, "value() reports the command, not the bus"
        on_byte = 0xFF & ~(1 << spec["ch"])
        # the same value again: the chip never acknowledged it, so it is written now
        retry = pcf_writes(board, calls[r["retry_mark"] : r["after_retry_mark"]], spec["ext"])
        assert retry == [on_byte], role
        off = pcf_writes(board, calls[r["after_retry_mark"] : r["after_off_mark"]], spec["ext"])
        assert off == [0xFF], role


def test_pcf8574_output_value_allocates_nothing(recorded):
    board, out = recorded
    for role in ext_outputs(board):
        r = out["ext_out"][role]
        assert r["toggled_ok"] is True, f"{role}: {r['toggled_ok']} under heap_lock"
        assert r["alloc_bytes"] == 0, role
        # toggle_locked(): 20 rounds of value(b), value(b), on(), off(); a write per change only
        state, changes = 0, 0
        for i in range(20):
            for v in (i & 1, i & 1, 1, 0):
                changes += v != state
                state = v
        assert r["quiet_writes"] == changes, role


# ----- ADS1115 reads without waiting (safety review M11) ---------------------------------------

FRAME_US = 10000  # the fast tick
ADS_TX_PER_CHIP = 3  # config read-back, result read, next start (hal/mcu.py _Ads1115.service)


def _i2c_bits(data_bytes: int, register: bool, read: bool) -> int:
    """Bit times of one I2C transfer: START, address, [register], [repeated START, address],
    data, STOP; 9 bits a byte (8 + ACK)."""
    nbytes = 1 + (1 if register else 0) + (1 if register and read else 0) + data_bytes
    return 2 + (1 if register and read else 0) + 9 * nbytes


def _u16(raw: int) -> int:
    """ADS1115 counts (+-4.096 V full scale) as read_u16() counts (65535 = 3.3 V)."""
    return min(65535, round(raw * 65535 * 4.096 / (32767 * 3.3)))


@pytest.fixture(scope="module", params=REAL_BOARDS)
def ads_run(request: pytest.FixtureRequest) -> dict[str, Any]:
    return run_vm(ROOT / "boards" / request.param / "board.json", "exercise_ads.py")


def _phase_start(run: dict[str, Any], name: str) -> tuple[int, int]:
    """(phase index, first frame) of a named phase."""
    for k, (frame, n) in enumerate(run["phases"]):
        if n == name:
            return k, frame
    raise KeyError(name)


def _is(run: dict[str, Any], role: str, value: int, phase: int) -> bool:
    return abs(value - _u16(run["raw"][role][phase])) <= 2


def _chip_channels(run: dict[str, Any], chip: str) -> int:
    return sum(1 for w in run["where"].values() if w[0] == chip)


def test_ads_reads_never_wait_and_fit_the_fast_tick_budget(ads_run):
    """No sleep in any read; the fast tick's analog reads cost at most 3 short transfers per chip
    they touch. Their bus time stays under the bits of those transfers at the board's clock, and
    that under 10 % of the tick. The single-shot reads before slept and polled: about 1.3 ms each,
    three of them on the pack's chip."""
    fast_chips = {ads_run["where"][r][0] for r in ads_run["fast_roles"]}
    assert ads_run["pack_chip"] in fast_chips
    freq_hz = min(ads_run["freq_hz"][c] for c in fast_chips)
    per_chip_bits = 2 * _i2c_bits(2, register=True, read=True) + _i2c_bits(
        2, register=True, read=False
    )
    budget_us = len(fast_chips) * per_chip_bits * 1e6 / freq_hz
    assert budget_us <= FRAME_US // 10, budget_us
    _, long_start = _phase_start(ads_run, "long")
    for i, frame in enumerate(ads_run["frames"]):
        fast = frame["fast"]
        assert fast["n_sleeps"] == 0, (i, fast["sleeps"])
        assert fast["tx"] <= ADS_TX_PER_CHIP * len(fast_chips), (i, fast["tx"])
        assert fast["bus_us"] <= budget_us + len(fast_chips) * ADS_TX_PER_CHIP, (i, fast)
        if "control" in frame:
            assert frame["control"]["n_sleeps"] == 0, (i, frame["control"]["sleeps"])
        # docs/chip-time.md: while every frame has its idle wait, its two rounds service the
        # chips and the fast tick's reads make no bus transfer at all (they cost ~1 ms of every
        # fast tick on a chip before); without idle waits (long frames) the reads service
        if 0 < i < long_start:
            assert fast["tx"] == 0, (i, fast)
        elif i > long_start:
            assert fast["tx"] > 0, (i, fast)


def test_ads_first_reads_after_boot_are_out_of_band(ads_run):
    """Before a channel's first conversion its read is 0 (out of band for every front end: NTC
    short, below 4 mA, a rail current), never a plausible value."""
    first = ads_run["frames"][0]
    values = dict(first["fast"]["values"], **first["control"]["values"])
    assert set(values) == set(ads_run["where"]), values
    assert all(v == 0 for v in values.values()), values


def test_ads_values_converge_to_their_own_channel(ads_run):
    """Each role reads its own chip and channel, never another's. After an input change a fast-
    tick role shows it within (channels in use on its chip + 1) frames, and so does a
    control-tick role at its first read after that: the idle wait services every chip each frame
    (without it a control-tick chip would convert one channel per 100 ms read). In long frames
    (no idle wait) the reads service their chips: still within that many frames."""
    frames = ads_run["frames"]
    for name in ("boot", "change", "long"):
        k, start = _phase_start(ads_run, name)
        end = ads_run["phases"][k + 1][0]
        for role in ads_run["fast_roles"]:
            settle = start + _chip_channels(ads_run, ads_run["where"][role][0]) + 1
            for i in range(start, end):
                v = frames[i]["fast"]["values"][role]
                if i >= settle:
                    assert _is(ads_run, role, v, k), (role, i, v)
                else:
                    ok = _is(ads_run, role, v, k) or (
                        v == 0 if k == 0 else _is(ads_run, role, v, k - 1)
                    )
                    assert ok, (role, i, v)
        if name == "long":
            continue  # no idle wait: a control-tick chip converts once per 100 ms read then
        for role in ads_run["control_roles"]:
            settle = start + _chip_channels(ads_run, ads_run["where"][role][0]) + 1
            reads = [
                (i, frames[i]["control"]["values"][role])
                for i in range(start, end)
                if "control" in frames[i]
            ]
            after = [(i, v) for i, v in reads if i >= settle]
            assert after and _is(ads_run, role, after[0][1], k), (role, after)
    for chip, starts in ads_run["starts"].items():
        used = {w[1] for w in ads_run["where"].values() if w[0] == chip}
        assert set(starts) == used, (chip, sorted(set(starts)), used)


def _pack_roles(run: dict[str, Any]) -> list[str]:
    return [r for r in run["fast_roles"] if run["where"][r][0] == run["pack_chip"]]


def test_ads_bus_error_reads_out_of_band_until_a_fresh_conversion(ads_run):
    """A chip that NACKs: every channel reads 0 from the first read after the error on (not the
    last good value), each error counts, one attempt per idle round (two a frame); once it
    answers again a channel reads only a value converted since (never the one from before the
    error). The chip dies between two frames; the first bus access after that is the idle wait's
    (the tick's reads cost no bus transfer, docs/chip-time.md), so that frame's tick still reads
    the conversions made before (at most a frame old) and every tick after it reads 0."""
    frames = ads_run["frames"]
    chip = ads_run["pack_chip"]
    k, start = _phase_start(ads_run, "dead")
    end = ads_run["phases"][k + 1][0]
    for role in _pack_roles(ads_run):
        v = frames[start]["fast"]["values"][role]
        assert v == 0 or _is(ads_run, role, v, k - 1), (role, v)
    for i in range(start + 1, end):
        assert all(frames[i]["fast"]["values"][r] == 0 for r in _pack_roles(ads_run)), i
        new = frames[i]["errors"][chip] - frames[i - 1]["errors"][chip]
        assert 1 <= new <= 2, (i, new)
    k, start = _phase_start(ads_run, "revived")
    settle = start + _chip_channels(ads_run, chip) + 1
    for i in range(start, ads_run["phases"][k + 1][0]):
        for role in _pack_roles(ads_run):
            v = frames[i]["fast"]["values"][role]
            assert _is(ads_run, role, v, k) or (v == 0 and i < settle), (role, i, v)


def test_ads_power_cycle_is_an_error_and_never_a_wrong_channel(ads_run):
    """The chip resets mid-conversion (its config back to the reset value): the read-back is not
    ours, so an error, every channel out of band until converted again. As with a dead chip,
    the error shows at the first bus access after the reset (the idle wait's), so the tick of
    that frame still reads the conversions from before it."""
    frames = ads_run["frames"]
    chip = ads_run["pack_chip"]
    k, start = _phase_start(ads_run, "power_cycle")
    assert frames[start + 1]["errors"][chip] == frames[start - 1]["errors"][chip] + 1
    settle = start + 1 + _chip_channels(ads_run, chip) + 1
    for role in _pack_roles(ads_run):
        v = frames[start]["fast"]["values"][role]
        assert _is(ads_run, role, v, k - 1), (role, v)  # converted before the reset
    for i in range(start + 1, ads_run["phases"][k + 1][0]):
        for role in _pack_roles(ads_run):
            v = frames[i]["fast"]["values"][role]
            assert _is(ads_run, role, v, k) or (v == 0 and i < settle), (role, i, v)


def test_ads_slow_chip_never_hands_one_channel_the_result_of_another(ads_run):
    """Conversions 15x slower than 860 SPS (a clone, a slow oscillator): the OS bit, not the
    clock, says when a result is there, so a channel reads its old or its new value, no error,
    and converges."""
    frames = ads_run["frames"]
    chip = ads_run["pack_chip"]
    k, start = _phase_start(ads_run, "slow")
    end = ads_run["phases"][k + 1][0]
    for i in range(start, end):
        assert frames[i]["errors"][chip] == frames[start - 1]["errors"][chip], i
        for role in _pack_roles(ads_run):
            v = frames[i]["fast"]["values"][role]
            assert _is(ads_run, role, v, k) or _is(ads_run, role, v, k - 1), (role, i, v)
    assert all(
        _is(ads_run, r, frames[end - 1]["fast"]["values"][r], k) for r in _pack_roles(ads_run)
    )
