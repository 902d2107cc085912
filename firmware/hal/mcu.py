"""HAL for real boards (ESP32, ESP32-S3, RP2040) through `machine` and `time`.

Implements the Platform interface documented in hal/__init__.py. Every board difference comes
from the board dict (boards/<BOARD>/board.json): pins by role, UART/I2C ids and pins, ADC
attenuation, watchdog limit, and roles served by external I2C chips:
  ADS1115  16-bit ADC, read_u16() scaled so 65535 = 3.3 V like the on-chip ADC; a read never
           waits: it returns the channel's last completed conversion (see _Ads1115)
  PCF8574  8 lines, each a contact input or a slow active-low output (value(1) sinks the line);
           on a bus error every input reads 1 (contact open), outputs keep their commanded
           value and are written again by the next value() call, and errors counts
Outputs are constructed in their safe state (low, duty 0, DE low = receive) so nothing glitches
on between construction and the first command. Hardware assumption: each MCU output drives a
low-side driver with a pull-down, so the floating pins during reset also mean "off". A PCF8574
comes up with every line high (released), which is "off" for its active-low outputs; it keeps
its state while the MCU resets, so the Platform releases every output line of every expander
that carries outputs as soon as it opens, before any role is built.
CPU clock: the board file's "cpu_mhz" is set first thing when the Platform opens (_set_clock),
before any UART, I2C or PWM is made (an RP2040 derives their clocks from the system clock); an
RP2040 above 133 MHz gets its core regulator raised to 1.15 V first (certified for 200 MHz).
RS-485: hal/rs485.py, without waiting: write() returns with the reply in the UART's buffer (txbuf
holds a whole RTU frame), DE drops once txdone(), polled by the idle wait (which sleeps until the
reply's expected end when it falls before the deadline), by the next tick's read and by a
one-shot timer at the expected end (_Alarm: a reply that ends inside a long frame's work).
Console: the REPL's stdin/stdout while the application runs (the service channel, app/service.py,
through hal/console.py). The maintenance window (hal/window.py): a machine.Timer feeds the
hardware watchdog while no scan loop does (boot, or the application stopped for a host tool),
then machine.reset().
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
    boot_wdt_ms,
    window_ms,
)
from hal.rs485 import Rs485, char_us

_ADS_REG_CONVERSION = const(0)
_ADS_REG_CONFIG = const(1)
_ADS_OS = const(0x8000)  # written 1: start a conversion; read 1: no conversion in progress
# PGA=001 (+-4.096 V), MODE=1 single-shot, DR=111 (860 SPS), comparator off; OS and MUX added.
_ADS_CONFIG_BASE = const(0x0200 | 0x0100 | 0x00E0 | 0x0003)
_ADS_MUX_SINGLE_AIN0 = const(4)
# One conversion at 860 SPS: 1163 us nominal, +10 % for the internal oscillator, + ~25 us wake-up
# from power-down. The chip is not addressed until this long after a conversion started.
_ADS_CONVERSION_US = const(1400)
# Still converting (OS bit 0) this long after the start: a stuck or foreign chip, a bus error.
_ADS_STUCK_US = const(50000)
_ADS_CHANNELS = const(4)
# 32767 counts = 4.096 V; 65535 = 3.3 V: u16 = raw * 65535 * 4.096 / (32767 * 3.3) ~ raw * 8192/3300
_ADS_SCALE_NUM = const(8192)
_ADS_SCALE_DEN = const(3300)
# The scan loop's idle wait services every ADS1115 when at least this much of the frame is left
# (up to 3 short transactions per chip, well under 1 ms at 400 kHz), and again late in the wait
# (the late round), so the next fast tick's reads find their chips serviced.
_IDLE_SERVICE_MIN_MS = const(3)
# The late round starts this long before the deadline: 1 ms, plus this much per chip for its
# transactions (3 of about 0.15 ms at 400 kHz with the driver's overhead), rounded up to a ms.
_LATE_ROUND_LEAD_MS = const(1)
_LATE_ROUND_US_PER_CHIP = const(500)
# A read services its chip only when nothing did for this long (the idle wait missed a frame:
# a long frame before): the fast tick does no bus I/O while the idle waits keep up (DOMAIN.md:
# analog reads on a bus do not belong in the fast tick).
_ADS_READ_SERVICE_US = const(10000)
_U16_MAX = const(65535)
# The UART's transmit buffer: a whole Modbus RTU frame, so write() never waits for room (ESP32:
# ESP-IDF wants 0 or more than its 128-byte FIFO; 0 would make every write wait for the wire).
_UART_TXBUF = const(256)
# The RS-485 alarm's hardware timer where the port has no software timers (esp32); timer 0 is the
# maintenance window's (hal/window.py), which runs only while the scan loop does not.
_RS485_TIMER_ID = const(1)
# RP2040 above this clock: VREG VSEL 1.15 V first (RP2040 datasheet 2.10.7 VREG register, bits
# 7:4; 0b1011 = 1.10 V is the reset value; Pico SDK 2.1.1: 200 MHz certified at >= 1.15 V) and
# let it settle (the SDK waits 1 ms).
_RP2040_STOCK_MAX_MHZ = const(133)
_RP2040_VREG = const(0x40064000)
_VREG_VSEL_MASK = const(0xF0)
_VREG_VSEL_1V15 = const(0xC0)
_VREG_SETTLE_US = const(1000)

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


class _Ads1115:
    """TI ADS1115 over I2C without waiting (safety review M11: single-shot reads polled with
    sleep_us cost ~1.3 ms each, ~4-5 ms of a 10 ms fast tick on the pack's three channels).

    One single-shot conversion is in flight at a time. read_u16(ch) returns the channel's last
    completed conversion. The scan loop's idle wait (Platform.wait_until_ms) services every chip
    twice a frame: at its start and in a late round just before the deadline, so the next tick's
    reads find their chips serviced and cost no bus transfer (chip time, docs/chip-time.md: the
    reads' services were ~1 ms of every fast tick). A read services its chip itself only when
    nothing did for _ADS_READ_SERVICE_US (a long frame left no idle wait before it), so a chip
    still converts at least once a frame. A service never sleeps or polls: until
    _ADS_CONVERSION_US after the start it does nothing; then it reads the config register (1
    transaction), and when that shows the conversion done with the config we wrote (OS set, same
    MUX/PGA/mode: a chip reset or a conversion slower than expected can never hand one channel's
    result to another), reads the result (1) and starts the next channel in use, round-robin (1).
    So a service costs at most 3 short transactions (about 0.33 ms of bus at 400 kHz) and
    completes at most one conversion; a conversion found still running is asked again only a
    conversion time later.

    Staleness: each service completes at most one conversion and the channels in use take turns,
    so with at least one service in every 10 ms scan frame a value is at most (channels in use on
    the chip + 1) frames old, 50 ms with four, whichever tick reads it (measured in
    host_tools/tests/test_mcu_hal.py); with both idle rounds about half that. A driver that
    flags a stale sample
    (drivers/transmitter.py: 50 identical reads) sees at most a few repeats of one conversion.
    Out-of-band value 0 (NTC short, below 4 mA, a rail current): before a channel's first real
    conversion after boot, and for every channel of the chip after a bus error (NACK, OSError),
    a config read-back that is not ours, or a conversion stuck past _ADS_STUCK_US; a channel
    reads its value again only after its own next conversion. Each of those counts in errors,
    and the chip is addressed again only a conversion time later (at most one attempt per idle
    round on a dead bus: two a frame). Preallocated buffers: no allocation per read or service.
    """

    def __init__(self, i2c, addr):
        self._i2c = i2c
        self._addr = addr
        self._buf = bytearray(2)
        self._config = []  # the config word per channel, as written (OS set)
        self._words = []  # the same without OS: what the config register reads back
        for ch in range(_ADS_CHANNELS):
            word = _ADS_OS | _ADS_CONFIG_BASE | ((_ADS_MUX_SINGLE_AIN0 + ch) << 12)
            self._config.append(bytes((word >> 8, word & 0xFF)))
            self._words.append(word & ~_ADS_OS)
        self._u16 = [0] * _ADS_CHANNELS  # last completed conversion per channel; 0 = none
        self._used = 0  # bit per channel read at least once: the round-robin set
        self._ch = -1  # the channel converting, -1 none
        self._rr = -1  # the channel started last (round-robin position)
        self._t_us = time.ticks_add(time.ticks_us(), -_ADS_CONVERSION_US)  # last bus access
        self._start_us = self._t_us  # when the conversion in flight started
        self.errors = 0

    def read_u16(self, ch):
        self._used |= 1 << ch
        if time.ticks_diff(time.ticks_us(), self._t_us) >= _ADS_READ_SERVICE_US:
            self.service()  # no idle wait serviced this chip for a frame: do it here
        return self._u16[ch]

    def service(self):
        """Advance the conversion cycle by at most one conversion, without waiting."""
        now = time.ticks_us()
        el = time.ticks_diff(now, self._t_us)
        if 0 <= el < _ADS_CONVERSION_US:
            return
        i2c = self._i2c
        buf = self._buf
        ch = self._ch
        try:
            if ch >= 0:
                i2c.readfrom_mem_into(self._addr, _ADS_REG_CONFIG, buf)
                word = (buf[0] << 8) | buf[1]
                if word & ~_ADS_OS != self._words[ch]:
                    self._fail()  # not our conversion: the chip was reset, or another device
                    return
                if not word & _ADS_OS:
                    # still converting: ask again a conversion time later, not at every read
                    self._t_us = now
                    el = time.ticks_diff(now, self._start_us)
                    if el < 0 or el >= _ADS_STUCK_US:
                        self._fail()
                    return
                i2c.readfrom_mem_into(self._addr, _ADS_REG_CONVERSION, buf)
                self._u16[ch] = _ads_u16(buf)
                self._ch = -1
            nxt = self._next()
            if nxt < 0:
                return
            i2c.writeto_mem(self._addr, _ADS_REG_CONFIG, self._config[nxt])
            self._ch = self._rr = nxt
            self._t_us = self._start_us = time.ticks_us()
        except OSError:
            self._fail()

    def _next(self):
        used = self._used
        for k in range(1, _ADS_CHANNELS + 1):
            n = (self._rr + k) % _ADS_CHANNELS
            if used & (1 << n):
                return n
        return -1

    def _fail(self):
        self.errors += 1
        self._ch = -1
        self._t_us = time.ticks_us()
        u16 = self._u16
        for i in range(_ADS_CHANNELS):
            u16[i] = 0


def _ads_u16(buf):
    """A conversion result as read_u16() counts; below 0 V reads 0 (out of band, as a dead bus)."""
    raw = (buf[0] << 8) | buf[1]
    if raw & 0x8000:
        return 0
    u16 = raw * _ADS_SCALE_NUM // _ADS_SCALE_DEN
    return _U16_MAX if u16 > _U16_MAX else u16


class _Pcf8574:
    """NXP PCF8574: 8 quasi-bidirectional lines, each an input or an active-low output.

    A line written 1 is released (weak ~100 uA pull-up, the power-on state) and reads its input;
    a line written 0 sinks up to 25 mA. Outputs are active low, so power-on, a released line and
    a chip that lost power all mean "off": value(1) writes the bit 0, value(0) writes it 1. One
    shadow byte holds every line, input bits always 1. It goes out only when it differs from the
    byte the chip last acknowledged, so an unchanged value() costs no bus traffic and a failed
    write is retried by the next value() call. No allocation outside the error path.
    """

    def __init__(self, i2c, addr):
        self._i2c = i2c
        self._addr = addr
        self._buf = bytearray(1)
        self._wbuf = bytearray(1)
        self._shadow = 0xFF
        self._sent = -1  # the byte the chip acknowledged last; -1 unknown (never, or a bus error)
        self.errors = 0
        self._flush()

    def _flush(self):
        self._wbuf[0] = self._shadow
        try:
            self._i2c.writeto(self._addr, self._wbuf)
        except OSError:
            self.errors += 1
            self._sent = -1
            return
        self._sent = self._shadow

    def read_bit(self, ch):
        try:
            self._i2c.readfrom_into(self._addr, self._buf)
        except OSError:
            self.errors += 1
            return 1
        return (self._buf[0] >> ch) & 1

    def write_bit(self, ch, v):
        if v:
            self._shadow &= ~(1 << ch)
        else:
            self._shadow |= 1 << ch
        if self._shadow != self._sent:
            self._flush()

    def out_bit(self, ch):
        """The commanded value of an output line (1 = on = line low)."""
        return ((self._shadow >> ch) & 1) ^ 1


class _ExtChannel:
    """One channel of an external chip, with the HAL object methods of its mode."""

    def __init__(self, dev, ch):
        self._dev = dev
        self._ch = ch

    def read_u16(self):
        return self._dev.read_u16(self._ch)

    def value(self):
        return self._dev.read_bit(self._ch)


class _ActiveLow:
    """An input line that is pulled low when active (board entry "active_low": true). value() is
    the logical level, so everything passive reads 0: a released line (pull-up, the PCF8574's
    weak pull-up), a broken wire, a failed expander read (read_bit returns 1). Safety inputs whose
    0 is the unsafe reading (INTERLOCK_LOOP open, LEVEL_OK low) are wired this way on an
    expander; the board checker enforces it."""

    def __init__(self, line):
        self._line = line

    def value(self):
        return self._line.value() ^ 1


class _ExtOut:
    """One PCF8574 line as an output, like machine.Pin: value(v=None), on(), off()."""

    def __init__(self, dev, ch, value):
        self._dev = dev
        self._ch = ch
        dev.write_bit(ch, value)

    def value(self, v=None):
        if v is None:
            return self._dev.out_bit(self._ch)
        self._dev.write_bit(self._ch, v)
        return None

    def on(self):
        self._dev.write_bit(self._ch, 1)

    def off(self):
        self._dev.write_bit(self._ch, 0)


_EXT_DRIVERS = {"ADS1115": _Ads1115, "PCF8574": _Pcf8574}


class _Alarm:
    """A one-shot machine.Timer in ms, for hal/rs485.py: it drops DE at the end of a reply that
    ends inside a long frame's work, where no poll runs (callbacks are soft: between bytecodes)."""

    def __init__(self):
        try:
            self._timer = machine.Timer(-1)  # a software timer where the port has them (rp2)
        except (ValueError, OSError):
            self._timer = machine.Timer(_RS485_TIMER_ID)  # esp32: a hardware timer

    def start(self, ms, callback):
        self._timer.init(mode=machine.Timer.ONE_SHOT, period=ms, callback=callback)


class _Watchdog:
    def __init__(self, wdt):
        self._wdt = wdt

    def feed(self):
        self._wdt.feed()


_MIN_FEED_PERIOD_MS = const(100)
_open: list = [None]  # the open maintenance window, shared by boot.py (hal/window.py) and Platform


class _Window:
    """machine.Timer feeding wdt until length_ms is over, then machine.reset()."""

    def __init__(self, wdt, length_ms, wdt_timeout_ms):
        self._wdt = wdt
        self._left_ms = length_ms
        self._period_ms = max(_MIN_FEED_PERIOD_MS, wdt_timeout_ms // 4)
        try:
            self._timer = machine.Timer(-1)  # a software timer where the port has them (rp2)
        except (ValueError, OSError):
            self._timer = machine.Timer(0)  # esp32: hardware timer 0
        wdt.feed()
        self._timer.init(period=self._period_ms, mode=machine.Timer.PERIODIC, callback=self._tick)

    def _tick(self, _timer):
        self._left_ms -= self._period_ms
        if self._left_ms <= 0:
            print("gridpod: maintenance window over: reset")
            machine.reset()
        self._wdt.feed()

    def close(self):
        self._timer.deinit()


def open_window(length_ms, wdt_timeout_ms, wdt=None):
    """Start (or restart) the maintenance window (hal/window.py); wdt None: start the hardware
    watchdog (a running one is re-armed with this timeout: machine.WDT may be created again on
    esp32 and rp2). boot.py calls it through hal/window.py boot()."""
    close_window()
    if wdt is None:
        wdt = machine.WDT(id=0, timeout=wdt_timeout_ms)
    _open[0] = _Window(wdt, length_ms, wdt_timeout_ms)


def close_window():
    w = _open[0]
    if w is not None:
        _open[0] = None
        w.close()


class Platform:
    """Board pins by role through `machine`; see hal/__init__.py for the contract."""

    def __init__(self, board):
        _set_clock(board)  # first: the peripherals below take their clocks from it
        self.board = board
        self._released = False
        self._pins = board["pins"]
        self._uarts = board.get("uarts", {})
        self._i2c_specs = board.get("i2c", {})
        self._ext_specs = board.get("ext", {})
        self._i2c_buses = {}
        self._ext_devs = {}
        self._adcs = []  # every ADS1115, serviced in the idle wait (kept after release_boot)
        self._bus_devs = []  # every I2C device, for bus_errors() (kept after release_boot)
        self._lines = []  # every RS-485 line (hal/rs485.py): DE released in the idle wait
        self._late_lead_ms = 1 << 29  # the late ADS1115 round's lead (none without a chip)
        self._wdt_max_ms = board.get("wdt_max_ms")
        self._window_ms = window_ms(board)
        self._wdt = None  # machine.WDT once watchdog() started it
        self._wdt_ms = boot_wdt_ms(board)
        self._console = None
        atten_db = board.get("adc_atten_db")
        self._adc_atten = None
        if atten_db is not None:
            self._adc_atten = getattr(machine.ADC, "ATTN_%dDB" % atten_db)
        # An expander keeps driving what it was told before an MCU reset: release its outputs now.
        for spec in self._pins.values():
            if spec["mode"] == "out" and "ext" in spec:
                self._ext_dev(spec["ext"])

    def release_boot(self):
        """Pins are made at boot only: drop the board dict and its pin tables (on a small heap
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

    def cpu_us(self):
        return None  # nothing preempts the scan loop: ticks_us() already measures CPU time

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def wait_until_ms(self, deadline_ms):
        """Idle until the deadline. With enough of the frame left, service every ADS1115 (never
        waiting) at the start of the wait and again in a late round just before the deadline:
        their conversions progress here, outside the ticks, two per chip and frame, and the
        next tick's reads find their chips serviced, so they cost no bus transfer (see
        _Ads1115). An RS-485 reply that ends before the deadline gets its DE released at its
        end (hal/rs485.py idle())."""
        wait_ms = time.ticks_diff(deadline_ms, time.ticks_ms())
        if wait_ms >= _IDLE_SERVICE_MIN_MS:
            self._service_adcs()
        for line in self._lines:
            if line.sending:
                line.idle(deadline_ms)
        wait_ms = time.ticks_diff(deadline_ms, time.ticks_ms())
        if wait_ms > self._late_lead_ms:
            time.sleep_ms(wait_ms - self._late_lead_ms)
            self._service_adcs()
            wait_ms = time.ticks_diff(deadline_ms, time.ticks_ms())
        if wait_ms > 0:
            time.sleep_ms(wait_ms)

    def _service_adcs(self):
        for dev in self._adcs:
            dev.service()

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

    def _ext_dev(self, name):
        dev = self._ext_devs.get(name)
        if dev is None:
            dev_spec = self._ext_specs[name]
            dev = _EXT_DRIVERS[dev_spec["chip"]](self._i2c(dev_spec["bus"]), dev_spec["addr"])
            self._ext_devs[name] = dev
            self._bus_devs.append(dev)
            if isinstance(dev, _Ads1115):
                self._adcs.append(dev)
                us = len(self._adcs) * _LATE_ROUND_US_PER_CHIP
                self._late_lead_ms = _LATE_ROUND_LEAD_MS + (us + 999) // 1000
        return dev

    def _ext(self, spec):
        return _ExtChannel(self._ext_dev(spec["ext"]), spec["ch"])

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
        if "ext" in spec:
            return _ExtOut(self._ext_dev(spec["ext"]), spec["ch"], value)
        return machine.Pin(spec["pin"], machine.Pin.OUT, value=value)

    def digital_in(self, role, pull=None):
        """The role's logical level: a board entry with "active_low": true is inverted here."""
        spec = self._spec(role, "in")
        if "ext" in spec:
            line = self._ext(spec)
        else:
            line = machine.Pin(spec["pin"], machine.Pin.IN, self._pull(spec, pull))
        return _ActiveLow(line) if spec.get("active_low") else line

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
            txbuf=_UART_TXBUF,
            timeout=0,
        )
        line = Rs485(uart, de, char_us(baud, bits, parity, stop), time, _Alarm())
        self._lines.append(line)
        return line

    # platform
    def watchdog(self, timeout_ms):
        if self._wdt_max_ms is not None and timeout_ms > self._wdt_max_ms:
            timeout_ms = self._wdt_max_ms
        self._wdt = machine.WDT(id=0, timeout=timeout_ms)
        self._wdt_ms = timeout_ms
        return _Watchdog(self._wdt)

    def maintenance(self, opened):
        if opened:
            open_window(self._window_ms, self._wdt_ms, self._wdt)
            return self._window_ms
        close_window()
        return 0

    def console(self):
        if self._console is None:
            from hal.console import StdioConsole

            self._console = StdioConsole()
        return self._console

    def bus_errors(self):
        n = 0
        for dev in self._bus_devs:
            n += dev.errors
        return n

    def reset_cause(self):
        return reset_cause()

    def unique_id(self):
        return bytes(machine.unique_id())

    def reset(self):
        machine.reset()

    def report(self, ticks, max_tick_us, overruns, heap_free):
        pass


def _set_clock(board):
    """The board file's cpu_mhz (boards/README.md), when it differs from the clock running."""
    mhz = board.get("cpu_mhz")
    if not mhz or machine.freq() == mhz * 1000000:
        return
    if board.get("chip") == "rp2040" and mhz > _RP2040_STOCK_MAX_MHZ:
        vreg = machine.mem32[_RP2040_VREG]
        if vreg & _VREG_VSEL_MASK < _VREG_VSEL_1V15:
            machine.mem32[_RP2040_VREG] = (vreg & ~_VREG_VSEL_MASK) | _VREG_VSEL_1V15
            time.sleep_us(_VREG_SETTLE_US)
    machine.freq(mhz * 1000000)


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
