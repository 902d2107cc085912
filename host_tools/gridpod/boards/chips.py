"""Chip capability tables: one dict per chip, the facts the board checker applies.

Sources: ESP32 datasheet v4 (sections 2.2 and 2.4 strapping pins, 4.1.1 ADC), ESP32-WROOM-32
datasheet (exposed pins), ESP32-S3 datasheet v1.8 (2.3 strapping pins, 3.5 ADC), ESP32-S3-WROOM-1
datasheet (octal PSRAM pins), RP2040 datasheet 1.4.3 (GPIO functions), Raspberry Pi Pico datasheet
(GP23-25 and GP29 board functions). Pin numbers are GPIO numbers. Board-level reservations (an
RGB LED, a VBUS sense pin) live in the board file's "reserved" key, not here.

Keys of a chip table:
  pin_prefix       how messages name a pin ("GPIO", "GP")
  gpios            pins that exist and are broken out on the module
  reserved         pin -> why no role may use it (flash, console, PSRAM)
  input_only       pins without an output driver (and without internal pulls)
  strapping        pins sampled at reset; an output there can change the boot mode
  adc              pin -> ADC unit and channel, e.g. "ADC1_CH4"
  adc_wifi_conflict  ADC pins unusable while WiFi runs (ESP32 ADC2)
  uart_ids         UART peripherals a role may use (the console UART excluded)
  uart_pins        None when any pin can be routed (GPIO matrix), else id -> {"tx": [..], "rx": [..]}
  i2c_pins         same for I2C: None or id -> {"sda": [..], "scl": [..]}
  pwm_output       None, or pin -> PWM output name; two pwm roles on one output share a duty
  mpy_arch         the native arch mpy-cross must emit for this chip
  ram_bytes        internal SRAM: the heap budget must fit well below it
  flash_bytes      flash sizes sold for this chip or its modules
  wdt_max_ms       longest hardware watchdog timeout, None when not limited in practice
  cpu_mhz          CPU clocks a board file may ask for (its "cpu_mhz" key; hal/mcu.py sets it
                   at boot), None where the chip has no such setting (the virtual board).
                   ESP32 / ESP32-S3: the clocks machine.freq() accepts (ESP-IDF CPU clock
                   80/160/240 MHz; peripherals run from the 80 MHz APB either way). RP2040: up
                   to 200 MHz, certified at a core voltage of at least 1.15 V (Pico SDK 2.1.1
                   release notes, RP2040 datasheet), which hal/mcu.py sets above 133 MHz
"""

from __future__ import annotations

from typing import Any

MB = 1024 * 1024


def _rp2040_pwm_output(pin: int) -> str:
    # RP2040 datasheet 4.5.2: slice = (gpio >> 1) & 7, channel A on even, B on odd pins.
    return "PWM%d%s" % ((pin >> 1) & 7, "AB"[pin & 1])


ESP32 = {
    "pin_prefix": "GPIO",
    # WROOM-32 exposes 0-5, 12-19, 21-23, 25-27, 32-36, 39 (37/38 are not pinned out).
    "gpios": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    + [21, 22, 23, 25, 26, 27, 32, 33, 34, 35, 36, 39],
    "reserved": {
        1: "UART0 TX, the REPL console",
        3: "UART0 RX, the REPL console",
        **{p: "SPI flash pin" for p in (6, 7, 8, 9, 10, 11)},
    },
    "input_only": [34, 35, 36, 37, 38, 39],
    "strapping": [0, 2, 5, 12, 15],
    "adc": {
        36: "ADC1_CH0",
        37: "ADC1_CH1",
        38: "ADC1_CH2",
        39: "ADC1_CH3",
        32: "ADC1_CH4",
        33: "ADC1_CH5",
        34: "ADC1_CH6",
        35: "ADC1_CH7",
        4: "ADC2_CH0",
        0: "ADC2_CH1",
        2: "ADC2_CH2",
        15: "ADC2_CH3",
        13: "ADC2_CH4",
        12: "ADC2_CH5",
        14: "ADC2_CH6",
        27: "ADC2_CH7",
        25: "ADC2_CH8",
        26: "ADC2_CH9",
    },
    "adc_wifi_conflict": [0, 2, 4, 12, 13, 14, 15, 25, 26, 27],
    "uart_ids": [1, 2],
    "uart_pins": None,
    "i2c_pins": None,
    "pwm_output": None,
    "mpy_arch": "xtensawin",
    "ram_bytes": 520 * 1024,
    "flash_bytes": [2 * MB, 4 * MB, 8 * MB, 16 * MB],
    "wdt_max_ms": None,
    "cpu_mhz": [80, 160, 240],
}

ESP32S3 = {
    "pin_prefix": "GPIO",
    # WROOM-1 exposes 0-21 and 35-48; 26-32 are the SPI flash/PSRAM bus inside the module.
    "gpios": list(range(0, 22)) + list(range(26, 33)) + list(range(35, 49)),
    "reserved": {
        19: "USB D- (native USB REPL)",
        20: "USB D+ (native USB REPL)",
        43: "UART0 TX, the REPL console",
        44: "UART0 RX, the REPL console",
        **{p: "SPI flash pin" for p in range(26, 33)},
        **{p: "octal PSRAM pin on N8R8/N16R8 modules" for p in (35, 36, 37)},
    },
    "input_only": [],
    "strapping": [0, 3, 45, 46],
    "adc": {
        **{p: "ADC1_CH%d" % (p - 1) for p in range(1, 11)},
        **{p: "ADC2_CH%d" % (p - 11) for p in range(11, 21)},
    },
    "adc_wifi_conflict": list(range(11, 21)),
    "uart_ids": [1, 2],
    "uart_pins": None,
    "i2c_pins": None,
    "pwm_output": None,
    "mpy_arch": "xtensawin",
    "ram_bytes": 512 * 1024,
    "flash_bytes": [4 * MB, 8 * MB, 16 * MB, 32 * MB],
    "wdt_max_ms": None,
    "cpu_mhz": [80, 160, 240],
}

RP2040 = {
    "pin_prefix": "GP",
    "gpios": list(range(0, 30)),
    "reserved": {},
    "input_only": [],
    "strapping": [],
    "adc": {26: "ADC0", 27: "ADC1", 28: "ADC2", 29: "ADC3"},
    "adc_wifi_conflict": [],
    "uart_ids": [0, 1],
    "uart_pins": {
        0: {"tx": [0, 12, 16, 28], "rx": [1, 13, 17, 29]},
        1: {"tx": [4, 8, 20, 24], "rx": [5, 9, 21, 25]},
    },
    "i2c_pins": {
        0: {"sda": [0, 4, 8, 12, 16, 20, 24, 28], "scl": [1, 5, 9, 13, 17, 21, 25, 29]},
        1: {"sda": [2, 6, 10, 14, 18, 22, 26], "scl": [3, 7, 11, 15, 19, 23, 27]},
    },
    "pwm_output": _rp2040_pwm_output,
    "mpy_arch": "armv6m",
    "ram_bytes": 264 * 1024,
    "flash_bytes": [2 * MB, 4 * MB, 8 * MB, 16 * MB],
    # 24-bit counter ticking at 2 MHz in MicroPython's rp2 port: 0xFFFFFF / 2000 us.
    "wdt_max_ms": 8388,
    "cpu_mhz": [125, 133, 150, 200],
}

# The virtual board: pins are harness channels, so no electrical rule applies.
VIRTUAL = {
    "pin_prefix": "CH",
    "gpios": list(range(0, 64)),
    "reserved": {},
    "input_only": [],
    "strapping": [],
    "adc": {p: "ADC%d" % p for p in range(0, 64)},
    "adc_wifi_conflict": [],
    "uart_ids": [0, 1, 2],
    "uart_pins": None,
    "i2c_pins": None,
    "pwm_output": None,
    "mpy_arch": None,
    "ram_bytes": 4 * MB,
    "flash_bytes": None,
    "wdt_max_ms": None,
    "cpu_mhz": None,
}

CHIPS: dict[str, dict[str, Any]] = {
    "esp32": ESP32,
    "esp32s3": ESP32S3,
    "rp2040": RP2040,
    "virtual": VIRTUAL,
}

# External I2C devices a board may hang roles on: the modes each supports and its channel count.
# PCF8574 lines are quasi-bidirectional: high (weak, ~100 uA) at power-up, sinking 25 mA when
# written 0. A line written 1 is an input; an `out` line is active low (the HAL writes 0 for
# value(1)), so its power-up and released state is off. Which roles may sit on one is a board rule
# (gridpod.boards.check.MCU_ONLY_ROLE), not a chip fact.
EXT_CHIPS: dict[str, dict[str, Any]] = {
    "ADS1115": {"modes": ["adc"], "channels": 4, "addrs": [0x48, 0x49, 0x4A, 0x4B]},
    # passive_in: what an input line reads when nothing drives it (weak pull-up) and what the HAL
    # returns for a failed read: the level a broken wire or a dead bus shows the firmware
    "PCF8574": {
        "modes": ["in", "out"],
        "channels": 8,
        "addrs": list(range(0x20, 0x28)),
        "passive_in": 1,
    },
}

# The HAL each chip runs; "virtual" is the only non-mcu one.
HAL_OF_CHIP = {"esp32": "mcu", "esp32s3": "mcu", "rp2040": "mcu", "virtual": "virtual"}

# ----- flashing facts (gridpod.flash) ------------------------------------------------------------
# ESP chip ids, bootloader offsets, header flash sizes and UF2 family ids of the ESP chips come
# from esptool's own table (esptool.targets.CHIP_DEFS, see gridpod.flash.images).
# Partition table location in flash for every ESP32-family chip (ESP-IDF default).
ESP_PARTITION_TABLE_ADDR = 0x8000

# UF2 family ids esptool does not know (microsoft/uf2 utils/uf2families.json) -> name, for messages.
UF2_FAMILIES: dict[int, str] = {
    0xE48BFF56: "rp2040",
    0xE48BFF57: "absolute address",
    0xE48BFF58: "rp2350 data",
    0xE48BFF59: "rp2350-arm-s",
    0xE48BFF5A: "rp2350-riscv",
    0xE48BFF5B: "rp2350-arm-ns",
    0x68ED2B88: "samd21",
    0x55114460: "samd51",
}
# What `gridpod flash` writes for each board chip.
FLASH_METHOD = {
    "esp32": {"method": "esptool", "esptool_chip": "esp32"},
    "esp32s3": {"method": "esptool", "esptool_chip": "esp32s3"},
    # RP2040 datasheet 2.8.4: UF2 family 0xE48BFF56, XIP flash at 0x10000000, 256-byte payloads.
    "rp2040": {"method": "uf2", "uf2_family": 0xE48BFF56, "flash_base": 0x10000000, "payload": 256},
}
