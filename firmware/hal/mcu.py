"""HAL for real boards (ESP32, ESP32-S3, RP2040) through `machine` and `time`.

Implements the Platform interface documented in hal/__init__.py. Every board difference comes
from the board dict (boards/<BOARD>/board.json): pins by role, UART/I2C ids and pins, ADC
attenuation, watchdog limit, and roles served by external I2C chips:
  ADS1115  16-bit ADC, single-shot reads, read_u16() scaled so 65535 = 3.3 V like the on-chip ADC
  PCF8574  8 contact inputs; on a bus error every input reads 1 (contact open) and errors counts
Outputs are constructed in their safe state (low, duty 0, DE low = receive) so nothing glitches
on between construction and the first command. Hardware assumption: each output drives a
low-side driver with a pull-down, so the floating pins during reset also mean "off".
"""

import time

import machine
from micropython import const

from hal import (
    RESET_DEEPSLEEP,
    RESET_HARD,
    RESET_POWER_ON,
    RESET_SOFT,
    RESET_WATCHDOG,
)

_ADS_REG_CONVERSION = const(0)
_ADS_REG_CONFIG = const(1)
# OS=1 start, PGA=001 (+-4.096 V), MODE=1 single-shot, DR=111 (860 SPS), comparator off.
_ADS_CONFIG_BASE = const(0x8000 | 0x0200 | 0x0100 | 0x00E0 | 0x0003)
_ADS_MUX_SINGLE_AIN0 = const(4)
_ADS_OS_READY = const(0x80)
# 860 SPS -> 1.16 ms per conversion plus ~25 us wake-up; poll a few times past that.
_ADS_POLL_US = const(200)
_ADS_POLL_TRIES = const(15)
# 32767 counts = 4.096 V; 65535 = 3.3 V: u16 = raw * 65535 * 4.096 / (32767 * 3.3) ~ raw * 8192/3300
_ADS_SCALE_NUM = const(8192)
_ADS_SCALE_DEN = const(3300)
_U16_MAX = const(65535)

_PARITY = {"N": None, "E": 0, "O": 1}


class _EdgeCounter:
    """Counts rising edges with a pin interrupt (portable to every port).

    On ESP32 the PCNT peripheral (esp32.PCNT) could count in hardware without an IRQ per edge;
    tach and flow rates here are below 2 kHz, well within what a soft IRQ handles.
    """

    def __init__(self, pin):
        self._count = 0
        self._pin = pin
        pin.irq(trigger=machine.Pin.IRQ_RISING, handler=self._on_edge)

    def _on_edge(self, _pin):
        self._count += 1

    def count(self):
        return self._count


class _Rs485:
    """Half-duplex RS-485: DE high, write, wait until the last stop bit left, DE low."""

    def __init__(self, uart, de_pin):
        self._uart = uart
        self._de = de_pin
        # flush() (MicroPython >= 1.20) returns when the shift register is empty on esp32 and rp2;
        # txdone() polling is the fallback for ports without it.
        self._flush = getattr(uart, "flush", None)

    def write(self, buf):
        self._de.value(1)
        try:
            n = self._uart.write(buf)
            if self._flush is not None:
                self._flush()
            else:
                while not self._uart.txdone():
                    pass
        finally:
            self._de.value(0)
        return n or 0

    def readinto(self, buf):
        n = self._uart.readinto(buf)
        return n or 0

    def any(self):
        return self._uart.any()


class _Ads1115:
    """TI ADS1115 over I2C, single-shot conversions; preallocated buffers, no allocation per read."""

    def __init__(self, i2c, addr):
        self._i2c = i2c
        self._addr = addr
        self._buf = bytearray(2)
        self._config = []
        for ch in range(4):
            word = _ADS_CONFIG_BASE | ((_ADS_MUX_SINGLE_AIN0 + ch) << 12)
            self._config.append(bytes((word >> 8, word & 0xFF)))
        self.errors = 0

    def read_u16(self, ch):
        buf = self._buf
        try:
            self._i2c.writeto_mem(self._addr, _ADS_REG_CONFIG, self._config[ch])
            for _ in range(_ADS_POLL_TRIES):
                time.sleep_us(_ADS_POLL_US)
                self._i2c.readfrom_mem_into(self._addr, _ADS_REG_CONFIG, buf)
                if buf[0] & _ADS_OS_READY:
                    break
            else:
                self.errors += 1
                return 0
            self._i2c.readfrom_mem_into(self._addr, _ADS_REG_CONVERSION, buf)
        except OSError:
            # 0 counts is out of band for every analog front end here (NTC short, < 4 mA),
            # so a dead bus shows up as a sensor fault, never as a plausible value.
            self.errors += 1
            return 0
        raw = (buf[0] << 8) | buf[1]
        if raw & 0x8000:
            return 0
        u16 = raw * _ADS_SCALE_NUM // _ADS_SCALE_DEN
        return _U16_MAX if u16 > _U16_MAX else u16


class _Pcf8574:
    """NXP PCF8574 used as 8 inputs: write 1s once (quasi-bidirectional), then read one byte."""

    def __init__(self, i2c, addr):
        self._i2c = i2c
        self._addr = addr
        self._buf = bytearray(1)
        self.errors = 0
        try:
            i2c.writeto(addr, b"\xff")
        except OSError:
            self.errors += 1

    def read_bit(self, ch):
        try:
            self._i2c.readfrom_into(self._addr, self._buf)
        except OSError:
            self.errors += 1
            return 1
        return (self._buf[0] >> ch) & 1


class _ExtChannel:
    """One channel of an external chip, with the HAL object methods of its mode."""

    def __init__(self, dev, ch):
        self._dev = dev
        self._ch = ch

    def read_u16(self):
        return self._dev.read_u16(self._ch)

    def value(self):
        return self._dev.read_bit(self._ch)


_EXT_DRIVERS = {"ADS1115": _Ads1115, "PCF8574": _Pcf8574}


class _Watchdog:
    def __init__(self, wdt):
        self._wdt = wdt

    def feed(self):
        self._wdt.feed()


class Platform:
    """Board pins by role through `machine`; see hal/__init__.py for the contract."""

    def __init__(self, board):
        self.board = board
        self._released = False
        self._pins = board["pins"]
        self._uarts = board.get("uarts", {})
        self._i2c_specs = board.get("i2c", {})
        self._ext_specs = board.get("ext", {})
        self._i2c_buses = {}
        self._ext_devs = {}
        self._wdt_max_ms = board.get("wdt_max_ms")
        atten_db = board.get("adc_atten_db")
        self._adc_atten = None
        if atten_db is not None:
            self._adc_atten = getattr(machine.ADC, "ATTN_%dDB" % atten_db)

    def release_boot(self):
        """Pins are made at boot only: drop the board dict and its pin tables (on a 64 KiB heap
        the board file costs several KiB). Channels already made keep their own objects."""
        self.board = None
        self._released = True
        self._pins = {}
        self._uarts = {}
        self._i2c_specs = {}
        self._ext_specs = {}
        self._i2c_buses = {}
        self._ext_devs = {}

    # clock
    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_us(self):
        return time.ticks_us()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def wait_until_ms(self, deadline_ms):
        wait_ms = time.ticks_diff(deadline_ms, time.ticks_ms())
        if wait_ms > 0:
            time.sleep_ms(wait_ms)

    # I/O by role
    def _spec(self, role, mode):
        if self._released:
            raise ValueError("board released: pins are made at boot only (%s)" % role)
        spec = self._pins.get(role)
        if spec is None:
            raise ValueError("board has no role %s" % role)
        if spec["mode"] != mode:
            raise ValueError("role %s is %s, not %s" % (role, spec["mode"], mode))
        return spec

    def _pull(self, spec, pull):
        if pull is None:
            pull = spec.get("pull")
        if pull == "up":
            return machine.Pin.PULL_UP
        if pull == "down":
            return machine.Pin.PULL_DOWN
        if pull is None:
            return None
        raise ValueError("pull %s: use None, 'up' or 'down'" % pull)

    def _ext(self, spec):
        name = spec["ext"]
        dev = self._ext_devs.get(name)
        if dev is None:
            dev_spec = self._ext_specs[name]
            dev = _EXT_DRIVERS[dev_spec["chip"]](self._i2c(dev_spec["bus"]), dev_spec["addr"])
            self._ext_devs[name] = dev
        return _ExtChannel(dev, spec["ch"])

    def _i2c(self, name):
        bus = self._i2c_buses.get(name)
        if bus is None:
            s = self._i2c_specs[name]
            bus = machine.I2C(
                s["id"], scl=machine.Pin(s["scl"]), sda=machine.Pin(s["sda"]), freq=s["freq_hz"]
            )
            self._i2c_buses[name] = bus
        return bus

    def digital_out(self, role, value=0):
        spec = self._spec(role, "out")
        return machine.Pin(spec["pin"], machine.Pin.OUT, value=value)

    def digital_in(self, role, pull=None):
        spec = self._spec(role, "in")
        if "ext" in spec:
            return self._ext(spec)
        return machine.Pin(spec["pin"], machine.Pin.IN, self._pull(spec, pull))

    def adc(self, role):
        spec = self._spec(role, "adc")
        if "ext" in spec:
            return self._ext(spec)
        if self._adc_atten is None:
            return machine.ADC(machine.Pin(spec["pin"]))
        return machine.ADC(machine.Pin(spec["pin"]), atten=self._adc_atten)

    def pwm(self, role, freq_hz, duty_u16=0):
        spec = self._spec(role, "pwm")
        return machine.PWM(machine.Pin(spec["pin"]), freq=freq_hz, duty_u16=duty_u16)

    def pulse_counter(self, role):
        spec = self._spec(role, "counter")
        pin = machine.Pin(spec["pin"], machine.Pin.IN, self._pull(spec, None))
        return _EdgeCounter(pin)

    def uart(self, name, baud, bits=8, parity="E", stop=1):
        if self._released:
            raise ValueError("board released: UARTs are made at boot only (%s)" % name)
        s = self._uarts.get(name)
        if s is None:
            raise ValueError("board has no UART %s" % name)
        if parity not in _PARITY:
            raise ValueError("parity %s: use 'N', 'E' or 'O'" % parity)
        # DE low first: the transceiver listens until the first write.
        de = machine.Pin(s["de"], machine.Pin.OUT, value=0)
        uart = machine.UART(
            s["id"],
            baudrate=baud,
            bits=bits,
            parity=_PARITY[parity],
            stop=stop,
            tx=machine.Pin(s["tx"]),
            rx=machine.Pin(s["rx"]),
            timeout=0,
        )
        return _Rs485(uart, de)

    # platform
    def watchdog(self, timeout_ms):
        if self._wdt_max_ms is not None and timeout_ms > self._wdt_max_ms:
            timeout_ms = self._wdt_max_ms
        return _Watchdog(machine.WDT(id=0, timeout=timeout_ms))

    def reset_cause(self):
        return reset_cause()

    def unique_id(self):
        return bytes(machine.unique_id())

    def reset(self):
        machine.reset()

    def report(self, ticks, max_tick_us, overruns, heap_free):
        pass


_RESET_NAMES = (
    ("PWRON_RESET", RESET_POWER_ON),
    ("HARD_RESET", RESET_HARD),
    ("WDT_RESET", RESET_WATCHDOG),
    ("DEEPSLEEP_RESET", RESET_DEEPSLEEP),
    ("SOFT_RESET", RESET_SOFT),
)


def reset_cause():
    """machine.reset_cause() as a hal.RESET_* constant (also used by hal/hil.py)."""
    code = machine.reset_cause()
    for name, cause in _RESET_NAMES:
        if getattr(machine, name, None) == code:
            return cause
    return RESET_HARD


def open_platform(board):
    """Platform for a board dict whose "hal" is "mcu"."""
    return Platform(board)
