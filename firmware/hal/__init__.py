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
  console (the USB REPL's byte stream while the application runs: the service channel)
    console() -> obj with read_into(buf, start, end) -> n (bytes now waiting, put in
                                  buf[start:start+n], never blocks) and write(data); None where
                                  the console carries something else (HIL mode: the harness)
  platform
    watchdog(timeout_ms) -> obj with feed()
    maintenance(opened) -> ms     the maintenance window (README "When a host tool stops the
                                  application"): opened True when the scan loop stopped for a host
                                  tool (outputs already safe): the HAL feeds the watchdog from a
                                  timer for the board's maintenance_window_ms, then resets the
                                  board into the application; False once the scan loop feeds again;
                                  returns the window's length (0 when closed)
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
boot.py opens the same window at every boot through hal/window.py (starting the hardware watchdog
if it is not running yet), so a soft reset into the REPL (mpremote, gridpod deploy) never leaves a
running watchdog unfed.
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

# The maintenance window (board file "maintenance_window_ms" overrides the length) and the
# watchdog timeout boot.py starts it with (the App sets its configured timeout when it runs).
MAINTENANCE_WINDOW_MS = const(300000)
MAINTENANCE_WDT_MS = const(2000)


def window_ms(board):
    """The board's maintenance window length in ms (board file key, or the default)."""
    return board.get("maintenance_window_ms", MAINTENANCE_WINDOW_MS)


def boot_wdt_ms(board):
    """The watchdog timeout boot.py starts the hardware watchdog with (within the board's limit)."""
    limit = board.get("wdt_max_ms")
    return MAINTENANCE_WDT_MS if limit is None or limit > MAINTENANCE_WDT_MS else limit
