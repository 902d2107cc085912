"""Recording fake `machine` module for the MicroPython unix port (and CPython).

Put this folder ahead of the firmware on MICROPYPATH; a file named machine.py overrides the unix
port's built-in `machine`. Every constructor and every output-changing method appends one dict to
`calls`, with pins as plain numbers, so a test can print `calls` as JSON. Inputs are scripted:
`Pin.level` sets what value() reads, `I2C.regs` / `I2C.byte_in` set what devices answer,
`I2C.fail_writes` makes writes raise OSError (a NACK: nothing recorded, `failed` counts them),
`I2C.quiet` makes writeto() record without allocating (`quiet_writes`, `quiet_last`), for code
run under micropython.heap_lock(), `set_reset_cause()` sets what reset_cause() returns.
Constants have the esp32/rp2 port values.
"""

calls = []
pins = {}  # pin number -> the last Pin object built for it (to fire IRQs from a test)
i2cs = {}  # bus id -> the last I2C object built for it (to script failures from a test)

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_state = {"reset_cause": PWRON_RESET}


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
    def __init__(self, id, baudrate=9600, **kwargs):
        self.id = id
        self.rx = bytearray()
        _record("UART", (id,), dict(kwargs, baudrate=baudrate))

    def write(self, buf):
        _record("UART.write", (self.id, bytes(buf)), {})
        return len(buf)

    def flush(self):
        _record("UART.flush", (self.id,), {})

    def txdone(self):
        return True

    def any(self):
        return len(self.rx)

    def readinto(self, buf):
        if not self.rx:
            return None
        n = min(len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n


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
        _record("I2C", (id,), {"scl": scl, "sda": sda, "freq": freq})
        i2cs[id] = self

    def writeto(self, addr, buf):
        if self.fail_writes:
            self.failed += 1
            raise OSError(19)  # ENODEV: the port's error for a NACKed address
        if self.quiet:
            self.quiet_writes += 1
            self.quiet_last = buf[0]
            return 1
        _record("I2C.writeto", (self.id, addr, bytes(buf)), {})
        return 1

    def writeto_mem(self, addr, reg, buf):
        _record("I2C.writeto_mem", (self.id, addr, reg, bytes(buf)), {})

    def readfrom_mem_into(self, addr, reg, buf):
        # Default: an ADS1115 whose conversion is ready (OS bit set) holding 0x4000 counts.
        data = self.regs.get((addr, reg), b"\x80\x00" if reg == 1 else b"\x40\x00")
        buf[: len(data)] = data

    def readfrom_into(self, addr, buf):
        if self.fail_reads:
            self.failed += 1
            raise OSError(19)  # ENODEV: a dead bus or a chip that lost power
        buf[0] = self.byte_in.get(addr, b"\xff")[0]


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.fed = 0
        _record("WDT", (id,), {"timeout": timeout})

    def feed(self):
        self.fed += 1


def set_reset_cause(cause):
    _state["reset_cause"] = cause


def reset_cause():
    return _state["reset_cause"]


def unique_id():
    return b"\xe6\x61\x41\x04\x03\x2b\x5c\x2a"


def reset():
    _record("reset", (), {})
    raise SystemExit("machine.reset()")
