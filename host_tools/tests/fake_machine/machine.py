"""Recording fake `machine` module for the MicroPython unix port (and CPython).

Put this folder ahead of the firmware on MICROPYPATH; a file named machine.py overrides the unix
port's built-in `machine`. Every constructor and every output-changing method appends one dict to
`calls`, with pins as plain numbers, so a test can print `calls` as JSON. Inputs are scripted:
`Pin.level` sets what value() reads, `I2C.regs` / `I2C.byte_in` set what devices answer,
`I2C.fail_writes` makes writes raise OSError (a NACK: nothing recorded, `failed` counts them),
`I2C.quiet` makes writeto() record without allocating (`quiet_writes`, `quiet_last`), for code
run under micropython.heap_lock(), `set_reset_cause()` sets what reset_cause() returns, and a
Timer runs its callback when the test calls fire().
Constants have the esp32/rp2 port values.

UART wire time: a UART sends its bytes one after the other on the simulated clock, each taking
its character time at the baud rate and framing it was made with (start, data, parity, stop
bits); txdone() is True once the last stop bit has left, flush() waits (moves the clock) until
then, `sent` lists [start us, end us, bytes] per write. Every Pin.value() output change is also
appended to `pin_edges` as [pin, level, simulated us]. freq() and mem32 play the CPU clock and
the registers the HAL touches to set it (`mem32_writes`, the RP2040 VREG register's reset value).

Bus time: every I2C transfer (except quiet ones) is appended to `transactions` as
[bus id, addr, kind, bits, us] and advances the simulated clock (time.py in this folder) by its
duration at the bus's clock: START, 9 bits per byte (8 + ACK/NACK), repeated START, STOP. An
address that attach_ads() gave an Ads1115 model answers like the chip (conversions take their
data-rate time on the simulated clock); other addresses answer from `regs` / `byte_in`.
"""

import time

calls = []
pins = {}  # pin number -> the last Pin object built for it (to fire IRQs from a test)
i2cs = {}  # bus id -> the last I2C object built for it (to script failures from a test)

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_state = {"reset_cause": PWRON_RESET, "freq": 160000000}
pin_edges = []  # [pin, level, simulated us] per Pin.value(v) call
mem32_writes = []  # [address, value]
transactions = []  # [bus id, addr, kind, bits, us]; kind "w", "r", "wm" (to a register), "rm"
ads_models = {}  # (bus id, addr) -> Ads1115


def _plain(value):
    if isinstance(value, Pin):
        return value.id
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    return value


def _record(kind, args, kwargs):
    entry = {"call": kind, "args": [_plain(a) for a in args]}
    for key in kwargs:
        entry[key] = _plain(kwargs[key])
    calls.append(entry)
    return entry


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 4
    IRQ_FALLING = 8

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.level = 0 if value is None else value
        self.handler = None
        entry = _record("Pin", (id,), {})
        if mode != -1:
            entry["mode"] = mode
        if pull != -1:
            entry["pull"] = pull
        if value is not None:
            entry["value"] = value
        pins[id] = self

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = 1 if v else 0
        _record("Pin.value", (self.id, self.level), {})
        pin_edges.append([self.id, self.level, time.now_us()])
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=0, hard=False):
        self.handler = handler
        _record("Pin.irq", (self.id,), {"trigger": trigger, "hard": hard})

    def fire(self):
        """Deliver one edge to the registered handler, as the port's IRQ would."""
        self.handler(self)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.pin = pin
        self.counts_u16 = 0
        kw = {} if atten is None else {"atten": atten}
        _record("ADC", (pin,), kw)

    def read_u16(self):
        return self.counts_u16


class PWM:
    def __init__(self, pin, freq=None, duty_u16=None):
        self.pin = pin
        self._duty = duty_u16
        _record("PWM", (pin,), {"freq": freq, "duty_u16": duty_u16})

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        self._duty = d
        _record("PWM.duty_u16", (self.pin, d), {})
        return None

    def freq(self, f=None):
        return None


class UART:
    def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, **kwargs):
        self.id = id
        self.rx = bytearray()
        self.baudrate = baudrate
        self.char_bits = 1 + bits + (0 if parity is None else 1) + stop
        self.end_us = 0  # simulated us when the last queued stop bit has left
        self.sent = []  # [start us, end us, bytes] per write
        self.txdone_calls = 0
        _record("UART", (id,), dict(kwargs, baudrate=baudrate, bits=bits, parity=parity, stop=stop))

    def wire_us(self, n):
        return n * self.char_bits * 1000000 // self.baudrate

    def write(self, buf):
        _record("UART.write", (self.id, bytes(buf)), {})
        start = max(time.now_us(), self.end_us)
        self.end_us = start + self.wire_us(len(buf))
        self.sent.append([start, self.end_us, list(buf)])
        return len(buf)

    def flush(self):
        _record("UART.flush", (self.id,), {})
        if self.end_us > time.now_us():
            time.advance_us(self.end_us - time.now_us())

    def txdone(self):
        self.txdone_calls += 1
        return time.now_us() >= self.end_us

    def any(self):
        return len(self.rx)

    def readinto(self, buf):
        if not self.rx:
            return None
        n = min(len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n


class Ads1115:
    """TI ADS1115 as the bus sees it (SBAS444): config register 1, conversion register 0.

    Writing the config with OS=1 and MODE=1 (single-shot) starts a conversion of the MUX input
    unless one is in progress; it ends 1/data rate + 25 us (wake-up) later, times `slow` (a clone
    or a chip with a slow oscillator). While converting the config reads OS=0; the conversion
    register holds the previous result until the new one is done. `raw[ch]` is the signed result
    of single-ended input ch, taken when the conversion starts; `dead` NACKs every transfer;
    reset() is a power cycle (reset values: config 0x8583, conversion 0). `starts` lists the
    channel of every conversion begun.
    """

    RATES_SPS = (8, 16, 32, 64, 128, 250, 475, 860)
    WAKE_US = 25

    def __init__(self):
        self.raw = [0, 0, 0, 0]
        self.dead = False
        self.slow = 1
        self.starts = []
        self.reset()

    def reset(self):
        self.config = 0x8583
        self.conversion = 0
        self.sample = 0
        self.busy_ch = None
        self.done_us = 0

    def _update(self):
        if self.busy_ch is not None and time.now_us() >= self.done_us:
            self.conversion = self.sample & 0xFFFF
            self.config |= 0x8000
            self.busy_ch = None

    def write(self, reg, data):
        self._update()
        if reg != 1:
            return
        word = (data[0] << 8) | data[1]
        if self.busy_ch is not None or not (word & 0x8000 and word & 0x0100):
            self.config = (word & 0x7FFF) | (0 if self.busy_ch is not None else 0x8000)
            return
        mux = (word >> 12) & 7
        self.busy_ch = mux - 4 if mux >= 4 else -1  # differential inputs: not modelled, 0
        self.sample = self.raw[self.busy_ch] if self.busy_ch >= 0 else 0  # the input at the start
        self.starts.append(self.busy_ch)
        rate = self.RATES_SPS[(word >> 5) & 7]
        self.done_us = time.now_us() + (1000000 // rate + self.WAKE_US) * self.slow
        self.config = word & 0x7FFF

    def read(self, reg):
        self._update()
        v = self.config if reg == 1 else self.conversion
        return bytes(((v >> 8) & 0xFF, v & 0xFF))


def attach_ads(bus_id, addr):
    """An Ads1115 model answering at addr on I2C bus bus_id (before or after the bus is built)."""
    model = Ads1115()
    ads_models[(bus_id, addr)] = model
    return model


class I2C:
    """regs: (addr, reg) -> bytes answered by readfrom_mem_into; byte_in: addr -> bytes."""

    def __init__(self, id, scl=None, sda=None, freq=400000):
        self.id = id
        self.regs = {}
        self.byte_in = {}
        self.fail_writes = False
        self.fail_reads = False
        self.failed = 0
        self.quiet = False
        self.quiet_writes = 0
        self.quiet_last = -1
        self.freq = freq
        _record("I2C", (id,), {"scl": scl, "sda": sda, "freq": freq})
        i2cs[id] = self

    def _charge(self, addr, kind, bits):
        us = (bits * 1000000 + self.freq - 1) // self.freq
        transactions.append([self.id, addr, kind, bits, us])
        time.advance_us(us)

    def _ads(self, addr):
        """The Ads1115 model at addr, or None; a dead one NACKs its address (OSError)."""
        model = ads_models.get((self.id, addr))
        if model is not None and model.dead:
            self._charge(addr, "nack", 11)
            raise OSError(19)
        return model

    def writeto(self, addr, buf):
        if self.fail_writes:
            self.failed += 1
            raise OSError(19)  # ENODEV: the port's error for a NACKed address
        if self.quiet:
            self.quiet_writes += 1
            self.quiet_last = buf[0]
            return 1
        self._charge(addr, "w", 2 + 9 * (1 + len(buf)))
        _record("I2C.writeto", (self.id, addr, bytes(buf)), {})
        return 1

    def writeto_mem(self, addr, reg, buf):
        model = self._ads(addr)
        self._charge(addr, "wm", 2 + 9 * (2 + len(buf)))
        _record("I2C.writeto_mem", (self.id, addr, reg, bytes(buf)), {})
        if model is not None:
            model.write(reg, buf)

    def readfrom_mem_into(self, addr, reg, buf):
        model = self._ads(addr)
        if model is not None:
            data = model.read(reg)
        else:
            # Default: an ADS1115 whose conversion is ready (OS bit set) holding 0x4000 counts.
            data = self.regs.get((addr, reg), b"\x80\x00" if reg == 1 else b"\x40\x00")
        self._charge(addr, "rm", 3 + 9 * (3 + len(buf)))
        buf[: len(data)] = data

    def readfrom_into(self, addr, buf):
        if self.fail_reads:
            self.failed += 1
            raise OSError(19)  # ENODEV: a dead bus or a chip that lost power
        self._charge(addr, "r", 2 + 9 * (1 + len(buf)))
        buf[0] = self.byte_in.get(addr, b"\xff")[0]


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.fed = 0
        _record("WDT", (id,), {"timeout": timeout})

    def feed(self):
        self.fed += 1


timers = []  # every Timer built, to fire from a test


class Timer:
    """A periodic timer a test fires by hand (fire() runs the callback as the soft IRQ would); a
    one-shot timer fires by itself when the simulated clock (time.py) passes its due time.
    One-shot inits are counted in `one_shots`, not recorded in `calls`."""

    PERIODIC = 1
    ONE_SHOT = 0

    def __init__(self, id=-1):
        self.id = id
        self.period = None
        self.callback = None
        self.one_shots = 0
        self._alarm = None
        timers.append(self)
        _record("Timer", (id,), {})

    def init(self, period=0, mode=1, callback=None):
        self._cancel()
        self.period = period
        self.callback = callback
        if mode == self.ONE_SHOT:
            self.one_shots += 1
            self._alarm = [time.now_us() + period * 1000, self._expire]
            time.alarms.append(self._alarm)
            return
        _record("Timer.init", (), {"period": period, "mode": mode})

    def _expire(self):
        self._alarm = None
        if self.callback is not None:
            self.callback(self)

    def _cancel(self):
        if self._alarm is not None and self._alarm in time.alarms:
            time.alarms.remove(self._alarm)
        self._alarm = None

    def deinit(self):
        self._cancel()
        self.callback = None
        _record("Timer.deinit", (), {})

    def fire(self):
        if self.callback is not None:
            self.callback(self)


class _Mem32:
    """machine.mem32: reads give the RP2040 VREG register's reset value (EN, VSEL 1.10 V) or the
    last value written; writes are recorded."""

    def __init__(self):
        self.regs = {0x40064000: 0xB1}

    def __getitem__(self, addr):
        return self.regs.get(addr, 0)

    def __setitem__(self, addr, value):
        self.regs[addr] = value
        mem32_writes.append([addr, value])
        _record("mem32", (addr, value), {})


mem32 = _Mem32()


def freq(hz=None):
    if hz is None:
        return _state["freq"]
    _state["freq"] = hz
    _record("freq", (hz,), {})
    return None


def set_reset_cause(cause):
    _state["reset_cause"] = cause


def reset_cause():
    return _state["reset_cause"]


def unique_id():
    return b"\xe6\x61\x41\x04\x03\x2b\x5c\x2a"


def reset():
    _record("reset", (), {})
    raise SystemExit("machine.reset()")
