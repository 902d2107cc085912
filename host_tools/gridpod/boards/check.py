"""Board files: load, list and check boards/<BOARD>/board.json before anything is flashed.

A board is data (see boards/README.md). The checks apply the chip tables of gridpod.boards.chips
and the role list of the VIRTUAL reference board; every problem is reported at once, each naming
the board, the role, the pin and the rule. CLI: python -m gridpod.boards check [BOARD|PATH ...]
(all boards when none given)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from gridpod import GridpodError
from gridpod.boards.chips import CHIPS, EXT_CHIPS, HAL_OF_CHIP

BOARDS_DIR = Path(__file__).resolve().parents[3] / "boards"
REFERENCE_BOARD = "VIRTUAL"
MODES = ("out", "in", "adc", "pwm", "counter")
OUTPUT_MODES = ("out", "pwm")
PULLS = (None, "up", "down")
# The maintenance window after a host tool stopped the application (firmware/hal/window.py): at most
# an hour of a module kept down; seconds are for tests (a deploy over a 115200-baud console takes
# about 20 s: keep a product board's window minutes long).
MAINTENANCE_WINDOW_RANGE_MS = (1000, 3600000)
REQUIRED_KEYS = ("board", "chip", "hal", "mpy_arch", "heap_bytes", "flash_bytes", "pins", "uarts")
# Roles that stay on MCU pins even where an external chip serves their mode (boards/README.md,
# "External chips"): an I2C expander keeps its last state while the MCU resets and is lost with
# the bus, so contactor coils and zone valves must drop with the MCU, and leak inputs and the
# safe-mode button must be read without the bus. PWM and counters are MCU-only by their mode.
# Safety inputs whose logical 0 is the safe reading (loop open, level low, button released): a
# broken wire, a floating line or a failed expander read must read 0 (DOMAIN.md "Fail-safe inputs").
FAIL_SAFE_INPUTS = ("INTERLOCK_LOOP", "LEVEL_OK", "SAFE_MODE_BUTTON")
MCU_ONLY_ROLE = re.compile(r"K_\w+_COIL|ZONE\d+_VALVE|LEAK_\w+|SAFE_MODE_BUTTON")
MIN_HEAP_BYTES = 16 * 1024
# The application, its buffers and MicroPython itself must fit beside the heap.
MAX_HEAP_FRACTION_OF_RAM = 0.75


class BoardError(GridpodError):
    """A board file that cannot be read or breaks a rule; the message lists every problem."""


def list_boards(boards_dir: Path = BOARDS_DIR) -> list[str]:
    """Names of the board folders that hold a board.json, sorted."""
    return sorted(p.parent.name for p in boards_dir.glob("*/board.json"))


def _board_path(name_or_path: str | Path, boards_dir: Path) -> Path:
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "board.json"
    if path.is_file():
        return path
    candidate = boards_dir / str(name_or_path) / "board.json"
    if candidate.is_file():
        return candidate
    known = ", ".join(list_boards(boards_dir)) or "none"
    raise BoardError(f"{name_or_path}: no such board (known boards: {known})")


def read_board(name_or_path: str | Path, boards_dir: Path = BOARDS_DIR) -> dict[str, Any]:
    """The board file as a dict, without checks."""
    path = _board_path(name_or_path, boards_dir)
    try:
        board = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BoardError(f"{path}: cannot read board file: {exc}") from exc
    if not isinstance(board, dict):
        raise BoardError(f"{path}: a board file is a JSON object")
    return board


def load_board(name_or_path: str | Path, boards_dir: Path = BOARDS_DIR) -> dict[str, Any]:
    """The checked board dict; BoardError listing every problem when a rule is broken."""
    board = read_board(name_or_path, boards_dir)
    reference = None
    if board.get("board") != REFERENCE_BOARD:
        reference = read_board(REFERENCE_BOARD, boards_dir)
    errors = check_board(board, reference)
    if errors:
        raise BoardError(f"{len(errors)} problem(s):\n  " + "\n  ".join(errors))
    return board


def _pin_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


class _Checker:
    """Collects the problems of one board; one method per rule family."""

    def __init__(self, board: dict[str, Any], reference: dict[str, Any] | None) -> None:
        self.board = board
        self.reference = reference
        self.name = str(board.get("board", "?"))
        self.errors: list[str] = []
        self.chip: dict[str, Any] = CHIPS.get(str(board.get("chip")), CHIPS["virtual"])
        # pin -> the first user, to report reuse ("RS485.tx", "I2C0.sda", a role name)
        self.owners: dict[int, str] = {}

    def err(self, who: str, pin: int | None, rule: str) -> None:
        where = f"{who} on {self.pin_name(pin)}" if pin is not None else who
        self.errors.append(f"{self.name}: {where}: {rule}")

    def pin_name(self, pin: int) -> str:
        return f"{self.chip['pin_prefix']}{pin}"

    def run(self) -> list[str]:
        self.check_header()
        reserved = self.board.get("reserved", {})
        if not isinstance(reserved, dict):
            self.err("reserved", None, "must map pin numbers to reasons")
            reserved = {}
        for pin_text in reserved:
            pin = _pin_int(int(pin_text)) if str(pin_text).isdigit() else None
            if pin is None:
                self.err("reserved", None, f"key {pin_text!r} is not a pin number")
            else:
                self.owners[pin] = f"reserved ({reserved[pin_text]})"
        self.check_buses()
        self.check_pins()
        self.check_reference()
        return self.errors

    def check_header(self) -> None:
        b = self.board
        for key in REQUIRED_KEYS:
            if key not in b:
                self.err(key, None, "required key missing")
        chip_name = b.get("chip")
        if chip_name not in CHIPS:
            self.err("chip", None, f"unknown chip {chip_name!r} (known: {', '.join(CHIPS)})")
            return
        chip = self.chip
        hal = HAL_OF_CHIP[chip_name]
        if b.get("hal") != hal:
            self.err("hal", None, f"chip {chip_name} runs hal {hal!r}, not {b.get('hal')!r}")
        if "mpy_arch" in b and b.get("mpy_arch") != chip["mpy_arch"]:
            self.err(
                "mpy_arch", None, f"{chip_name} needs {chip['mpy_arch']!r}, not {b['mpy_arch']!r}"
            )
        heap = _pin_int(b.get("heap_bytes"))
        max_heap = int(chip["ram_bytes"] * MAX_HEAP_FRACTION_OF_RAM)
        if "heap_bytes" in b and (heap is None or not MIN_HEAP_BYTES <= heap <= max_heap):
            self.err(
                "heap_bytes",
                None,
                f"{b['heap_bytes']!r} outside {MIN_HEAP_BYTES}..{max_heap} for {chip_name}",
            )
        flash = _pin_int(b.get("flash_bytes"))
        sizes = chip["flash_bytes"]
        if "flash_bytes" in b and (flash is None or (sizes is not None and flash not in sizes)):
            self.err("flash_bytes", None, f"{b['flash_bytes']!r} is not a {chip_name} flash size")
        if "wifi" in b and not isinstance(b["wifi"], bool):
            self.err("wifi", None, "must be true or false")
        limit = chip["wdt_max_ms"]
        wdt = b.get("wdt_max_ms")
        if limit is not None and (_pin_int(wdt) is None or not 0 < wdt <= limit):
            self.err("wdt_max_ms", None, f"{chip_name} needs wdt_max_ms in 1..{limit}, got {wdt!r}")
        if "cpu_mhz" in b and b["cpu_mhz"] not in (chip["cpu_mhz"] or ()):  # the chip's clocks
            self.err("cpu_mhz", None, f"{b['cpu_mhz']!r} MHz: {chip_name} has {chip['cpu_mhz']}")
        window = b.get("maintenance_window_ms")
        lo, hi = MAINTENANCE_WINDOW_RANGE_MS
        if "maintenance_window_ms" in b and (_pin_int(window) is None or not lo <= window <= hi):
            self.err("maintenance_window_ms", None, f"{window!r} outside {lo}..{hi} (ms)")

    def claim(self, who: str, pin: Any) -> int | None:
        """Record a pin use; report unknown, reserved and reused pins. None if unusable."""
        p = _pin_int(pin)
        if p is None:
            self.err(who, None, f"pin {pin!r} is not an integer")
            return None
        if p not in self.chip["gpios"]:
            self.err(who, p, f"{self.board.get('chip')} has no such pin")
            return None
        reason = self.chip["reserved"].get(p)
        if reason is not None:
            self.err(who, p, f"reserved pin: {reason}")
        owner = self.owners.get(p)
        if owner is not None:
            self.err(who, p, f"pin already used by {owner}")
        else:
            self.owners[p] = who
        return p

    def check_drive(self, who: str, pin: int) -> None:
        """Rules for a pin that drives a signal (outputs, PWM, UART TX, DE, I2C)."""
        if pin in self.chip["input_only"]:
            self.err(who, pin, "input-only pin cannot drive an output")
        if pin in self.chip["strapping"]:
            self.err(who, pin, "strapping pin must not drive an output (boot mode at reset)")

    def check_buses(self) -> None:
        uarts = self.board.get("uarts", {})
        for name, spec in uarts.items():
            if spec.get("id") not in self.chip["uart_ids"]:
                self.err(name, None, f"UART id {spec.get('id')!r} not in {self.chip['uart_ids']}")
            for key in ("tx", "rx", "de"):
                if key not in spec:
                    self.err(name, None, f"{key} pin missing")
                    continue
                pin = self.claim(f"{name}.{key}", spec[key])
                if pin is None:
                    continue
                if key != "rx":
                    self.check_drive(f"{name}.{key}", pin)
                mux = self.chip["uart_pins"]
                if key in ("tx", "rx") and mux is not None:
                    allowed = mux.get(spec.get("id"), {}).get(key, [])
                    if pin not in allowed:
                        self.err(
                            f"{name}.{key}",
                            pin,
                            f"UART{spec.get('id')} {key} only on {self._names(allowed)}",
                        )
        for name, spec in self.board.get("i2c", {}).items():
            for key in ("sda", "scl"):
                pin = self.claim(f"{name}.{key}", spec.get(key))
                if pin is None:
                    continue
                self.check_drive(f"{name}.{key}", pin)
                mux = self.chip["i2c_pins"]
                if mux is not None:
                    allowed = mux.get(spec.get("id"), {}).get(key, [])
                    if pin not in allowed:
                        self.err(
                            f"{name}.{key}",
                            pin,
                            f"I2C{spec.get('id')} {key} only on {self._names(allowed)}",
                        )
        seen: dict[tuple[Any, Any], str] = {}
        for name, dev in self.board.get("ext", {}).items():
            if dev.get("chip") not in EXT_CHIPS:
                self.err(name, None, f"unknown external chip {dev.get('chip')!r}")
            elif dev.get("addr") not in EXT_CHIPS[dev["chip"]]["addrs"]:
                self.err(name, None, f"{dev['chip']} cannot sit at address {dev.get('addr')!r}")
            if dev.get("bus") not in self.board.get("i2c", {}):
                self.err(name, None, f"I2C bus {dev.get('bus')!r} not defined in 'i2c'")
            key = (dev.get("bus"), dev.get("addr"))
            if key in seen:
                self.err(name, None, f"address {dev.get('addr')} on {key[0]} used by {seen[key]}")
            seen[key] = name

    def _names(self, pins: list[int]) -> str:
        return ", ".join(self.pin_name(p) for p in pins)

    def check_pins(self) -> None:
        pins = self.board.get("pins", {})
        ext_used: dict[tuple[str, int], str] = {}
        pwm_outputs: dict[str, str] = {}
        for role, spec in pins.items():
            mode = spec.get("mode")
            if mode not in MODES:
                self.err(role, None, f"unknown mode {mode!r} (one of {', '.join(MODES)})")
                continue
            pull = spec.get("pull")
            if pull not in PULLS or (pull is not None and mode not in ("in", "counter")):
                self.err(role, None, f"pull {pull!r} not allowed for mode {mode}")
            if role in FAIL_SAFE_INPUTS:
                self.check_fail_safe(role, spec)
            if "ext" in spec:
                if MCU_ONLY_ROLE.fullmatch(role):
                    self.err(role, None, "must stay on an MCU pin, not on an external chip")
                self.check_ext_role(role, spec, mode, ext_used)
                continue
            pin = self.claim(role, spec.get("pin"))
            if pin is None:
                continue
            if mode in OUTPUT_MODES:
                self.check_drive(role, pin)
            if pull is not None and pin in self.chip["input_only"]:
                self.err(role, pin, "input-only pin has no internal pull; use an external one")
            if mode == "adc":
                self.check_adc(role, pin)
            if mode == "pwm" and self.chip["pwm_output"] is not None:
                output = self.chip["pwm_output"](pin)
                if output in pwm_outputs:
                    self.err(role, pin, f"PWM output {output} already drives {pwm_outputs[output]}")
                pwm_outputs[output] = role

    def check_fail_safe(self, role: str, spec: dict[str, Any]) -> None:
        """The passive level of the line (pull, or the expander's released line and failed read),
        seen through "active_low", must be the unsafe logical 0."""
        if "ext" in spec:
            dev = self.board.get("ext", {}).get(spec["ext"], {})
            passive = EXT_CHIPS.get(dev.get("chip"), {}).get("passive_in")
            where = f"a released line or a failed {dev.get('chip')} read"
        else:
            passive = {"up": 1, "down": 0}.get(spec.get("pull"))
            where = "a broken wire"
        if passive is None:
            need = '"pull": "down", or "pull": "up" with "active_low": true'
            self.err(role, None, f"a safety input needs a defined passive level: {need}")
        elif passive ^ bool(spec.get("active_low")):
            fix = 'wire it active low ("active_low": true) or give it a pull-down'
            self.err(role, None, f"{where} would read 1 (closed / OK): {fix}")

    def check_adc(self, role: str, pin: int) -> None:
        channel = self.chip["adc"].get(pin)
        if channel is None:
            self.err(role, pin, f"analog role on a pin without ADC (ADC pins: {self._adc_pins()})")
        elif pin in self.chip["adc_wifi_conflict"] and self.board.get("wifi", True):
            self.err(
                role,
                pin,
                f'{channel} cannot be read while WiFi runs; use ADC1 or set "wifi": false',
            )

    def _adc_pins(self) -> str:
        return self._names(sorted(self.chip["adc"]))

    def check_ext_role(
        self, role: str, spec: dict[str, Any], mode: str, used: dict[tuple[str, int], str]
    ) -> None:
        dev_name = spec["ext"]
        dev = self.board.get("ext", {}).get(dev_name)
        if dev is None:
            self.err(role, None, f"external device {dev_name!r} not defined in 'ext'")
            return
        chip = EXT_CHIPS.get(dev.get("chip"))
        if chip is None:
            return  # reported with the device
        ch = spec.get("ch")
        where = f"{role} on {dev_name}.ch{ch}"
        if mode not in chip["modes"]:
            self.errors.append(f"{self.name}: {where}: {dev['chip']} cannot serve mode {mode}")
        if _pin_int(ch) is None or not 0 <= ch < chip["channels"]:
            self.errors.append(
                f"{self.name}: {where}: channel outside 0..{chip['channels'] - 1} of {dev['chip']}"
            )
        elif (dev_name, ch) in used:
            self.errors.append(
                f"{self.name}: {where}: channel already used by {used[dev_name, ch]}"
            )
        else:
            used[dev_name, ch] = role

    def check_reference(self) -> None:
        if self.reference is None:
            return
        pins = self.board.get("pins", {})
        for role, spec in self.reference.get("pins", {}).items():
            if role not in pins:
                self.err(role, None, f"role missing (the {REFERENCE_BOARD} board has it)")
            elif pins[role].get("mode") != spec.get("mode"):
                self.err(
                    role,
                    None,
                    f"mode {pins[role].get('mode')!r} differs from {REFERENCE_BOARD}'s "
                    f"{spec.get('mode')!r}",
                )
        for name in self.reference.get("uarts", {}):
            if name not in self.board.get("uarts", {}):
                self.err(name, None, f"UART missing (the {REFERENCE_BOARD} board has it)")


def check_board(board: dict[str, Any], reference: dict[str, Any] | None = None) -> list[str]:
    """Every rule the board breaks, one message each; empty when the board is fine.

    reference is the VIRTUAL board dict; it is read from boards/ when not given (and skipped when
    the board is VIRTUAL itself).
    """
    if reference is None and board.get("board") != REFERENCE_BOARD:
        reference = read_board(REFERENCE_BOARD)
    return _Checker(board, reference).run()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "check":
        print("usage: python -m gridpod.boards check [BOARD|PATH ...]", file=sys.stderr)
        return 2
    names = args[1:] or list_boards()
    failed = 0
    for name in names:
        try:
            board = read_board(name)
            errors = check_board(board)
        except BoardError as exc:
            print(f"{name}: FAIL: {exc}")
            failed += 1
            continue
        label = board.get("board", name)
        if errors:
            failed += 1
            print(f"{label}: FAIL ({len(errors)} problem(s))")
            for error in errors:
                print(f"  {error}")
        else:
            direct = sum(1 for spec in board["pins"].values() if "pin" in spec)
            print(
                f"{label}: ok ({board.get('chip')}, {len(board['pins'])} roles, "
                f"{direct} on MCU pins, {len(board['pins']) - direct} on external devices)"
            )
    return 1 if failed else 0
