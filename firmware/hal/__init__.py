"""Hardware abstraction layer: the ONLY firmware package that imports `machine` or reads a clock.

Three implementations share one interface, chosen by the board file's "hal" key:
  hal/mcu.py      real ESP32 / RP2040 through `machine`
  hal/virtual.py  the virtual board: pins, UART and clock come over the harness socket
  hal/fake.py     host and VM unit tests: inputs set by the test, outputs recorded

Each module exposes `open_platform(board) -> Platform` where `board` is the dict loaded from
/board.json (see boards/README.md). A Platform offers:

  clock
    ticks_ms() -> int             monotonic ms since boot (simulated time on the virtual board)
    ticks_us() -> int             microsecond clock for measuring work durations (CPU time)
    cpu_us() -> int or None       CPU time of the scan loop's thread where a host may preempt it
                                  (virtual board), None on an MCU (ticks_us is CPU time there)
    ticks_diff(a, b) -> int       a - b for either clock, wrap-safe
    wait_until_ms(deadline_ms)    idle until ticks_ms() >= deadline_ms; the scan loop calls it once
                                  per fast tick (on the virtual board this is the harness exchange)
  I/O by role (a role is a key of board["pins"], e.g. "PUMP1_PWM"; never a pin number)
    digital_out(role, value=0) -> obj with value(v=None), on(), off()
    digital_in(role, pull=None) -> obj with value()           pull: None, "up" or "down"
                                  value() is the logical level: on a real line (hal/mcu.py) a
                                  board entry "active_low": true inverts it; the harness HALs
                                  carry logical levels by role already
    adc(role) -> obj with read_u16()
    pwm(role, freq_hz, duty_u16=0) -> obj with duty_u16(d=None)
    pulse_counter(role) -> obj with count()                   cumulative rising edges
    uart(name, baud, bits=8, parity="E", stop=1) -> obj with write(buf) -> n,
                                  readinto(buf) -> n (0 when empty), any() -> n
                                  name is a key of board["uarts"], e.g. "RS485"
  platform
    watchdog(timeout_ms) -> obj with feed()
    reset_cause() -> int          one of the RESET_* constants below
    unique_id() -> bytes
    bus_errors() -> int           failed transactions on the board's I2C devices since boot
                                  (expanders, ADCs); each also reads its unsafe value
    reset()                       hard reset (does not return)
    report(ticks, max_tick_us, overruns, heap_free)
                                  loop telemetry for the bench (no-op on real hardware)
    release_boot()                called once the App is built: drop the board tables (heap);
                                  I/O objects are made at boot only, a later request raises
                                  ValueError (hal/fake.py keeps its tables for the tests)
"""

from micropython import const

# Same numbers as machine.PWRON_RESET ... machine.SOFT_RESET on ESP32 and RP2040.
RESET_POWER_ON = const(1)
RESET_HARD = const(2)
RESET_WATCHDOG = const(3)
RESET_DEEPSLEEP = const(4)
RESET_SOFT = const(5)
# Not a machine constant: the virtual board reports a brown-out separately.
RESET_BROWN_OUT = const(6)
