"""Board files: every shipped board passes; each crafted wiring mistake is rejected by name.

The bad boards are copies of shipped boards with one (or a few) deliberate mistakes, so each test
also proves the checker is not simply rejecting everything.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HOST_TOOLS = Path(__file__).resolve().parents[1]
if str(HOST_TOOLS) not in sys.path:  # when gridpod is not pip-installed
    sys.path.insert(0, str(HOST_TOOLS))

from gridpod import GridpodError  # noqa: E402
from gridpod.boards.check import (  # noqa: E402
    BOARDS_DIR,
    BoardError,
    check_board,
    list_boards,
    load_board,
    read_board,
)

REAL_BOARDS = ["ESP32_DEVKITC", "ESP32_S3_DEVKITC", "RPI_PICO"]


def board(name: str) -> dict[str, Any]:
    return copy.deepcopy(read_board(name))


def only_error(b: dict[str, Any]) -> str:
    errors = check_board(b)
    assert len(errors) == 1, errors
    return errors[0]


def test_list_boards_has_every_shipped_board():
    assert set(REAL_BOARDS + ["VIRTUAL"]) <= set(list_boards())


@pytest.mark.parametrize("name", REAL_BOARDS + ["VIRTUAL"])
def test_shipped_board_passes(name):
    b = load_board(name)
    assert b["board"] == name
    assert check_board(b) == []


@pytest.mark.parametrize("name", REAL_BOARDS)
def test_real_board_has_every_virtual_role_with_its_mode(name):
    b, ref = read_board(name), read_board("VIRTUAL")
    assert {r: s["mode"] for r, s in ref["pins"].items()} == {
        r: s["mode"] for r, s in b["pins"].items()
    }
    assert b["hal"] == "mcu"
    assert set(b["uarts"]) >= set(ref["uarts"])


def test_load_board_by_path(tmp_path):
    path = tmp_path / "board.json"
    path.write_text(json.dumps(read_board("RPI_PICO")))
    assert load_board(path)["board"] == "RPI_PICO"
    assert load_board(tmp_path)["chip"] == "rp2040"


def test_unknown_board_is_a_gridpod_error():
    with pytest.raises(GridpodError, match="NO_SUCH_BOARD: no such board"):
        load_board("NO_SUCH_BOARD")


def test_output_on_input_only_pin():
    b = board("ESP32_DEVKITC")
    b["pins"]["PUMP1_TACH"]["pin"] = 12  # free GPIO34 for the coil
    b["reserved"] = {}
    b["pins"]["K_POS_COIL"]["pin"] = 34
    assert only_error(b) == (
        "ESP32_DEVKITC: K_POS_COIL on GPIO34: input-only pin cannot drive an output"
    )


def test_pwm_on_strapping_pin():
    b = board("ESP32_S3_DEVKITC")
    b["pins"]["SAFE_MODE_BUTTON"]["pin"] = 38
    b["reserved"].pop("38")
    b["pins"]["PUMP1_PWM"]["pin"] = 0
    assert only_error(b) == (
        "ESP32_S3_DEVKITC: PUMP1_PWM on GPIO0: strapping pin must not drive an output "
        "(boot mode at reset)"
    )


def test_uart_de_on_strapping_pin():
    b = board("ESP32_DEVKITC")
    b["reserved"] = {}
    b["uarts"]["RS485"]["de"] = 12
    assert only_error(b) == (
        "ESP32_DEVKITC: RS485.de on GPIO12: strapping pin must not drive an output "
        "(boot mode at reset)"
    )


def test_flash_pin_rejected():
    b = board("ESP32_DEVKITC")
    b["pins"]["PCS_ENABLE"]["pin"] = 6
    assert only_error(b) == "ESP32_DEVKITC: PCS_ENABLE on GPIO6: reserved pin: SPI flash pin"


def test_reused_pin_between_roles_and_with_buses():
    b = board("RPI_PICO")
    b["pins"]["HEALTHY_RELAY"]["pin"] = 25  # STATUS_LED's
    b["uarts"]["RS485"]["de"] = 4  # I2C0.sda's
    errors = check_board(b)
    assert "RPI_PICO: STATUS_LED on GP25: pin already used by HEALTHY_RELAY" in errors or (
        "RPI_PICO: HEALTHY_RELAY on GP25: pin already used by STATUS_LED" in errors
    )
    assert "RPI_PICO: I2C0.sda on GP4: pin already used by RS485.de" in errors
    assert len(errors) == 2, errors


def test_analog_on_pin_without_adc():
    b = board("ESP32_S3_DEVKITC")
    b["pins"]["T_RETURN"] = {"pin": 38, "mode": "adc"}
    b["reserved"].pop("38")
    error = only_error(b)
    assert error.startswith(
        "ESP32_S3_DEVKITC: T_RETURN on GPIO38: analog role on a pin without ADC"
    )


def test_rp2040_adc_only_on_gp26_to_29():
    b = board("RPI_PICO")
    b["pins"]["PUMP2_TACH"]["pin"] = 24
    b["reserved"].pop("24")
    b["pins"]["T_RETURN"]["pin"] = 15
    assert only_error(b) == (
        "RPI_PICO: T_RETURN on GP15: analog role on a pin without ADC "
        "(ADC pins: GP26, GP27, GP28, GP29)"
    )


def test_adc2_rejected_while_wifi_may_run_and_allowed_without_wifi():
    b = board("ESP32_DEVKITC")
    b["pins"]["T_RETURN"] = {"pin": 12, "mode": "adc"}
    b["reserved"] = {}
    assert only_error(b) == (
        "ESP32_DEVKITC: T_RETURN on GPIO12: ADC2_CH5 cannot be read while WiFi runs; "
        'use ADC1 or set "wifi": false'
    )
    del b["wifi"]  # absent means WiFi may be used
    assert len(check_board(b)) == 1
    b["wifi"] = False
    assert check_board(b) == []


def test_missing_role_and_wrong_mode_against_virtual():
    b = board("RPI_PICO")
    del b["pins"]["LEAK_ZONE2"]
    b["pins"]["LEAK_ZONE1"]["mode"] = "counter"
    errors = check_board(b)
    assert sorted(errors) == [
        "RPI_PICO: LEAK_ZONE1: mode 'counter' differs from VIRTUAL's 'in'",
        "RPI_PICO: LEAK_ZONE2: role missing (the VIRTUAL board has it)",
    ]


def test_unknown_mode_and_bad_header():
    b = board("RPI_PICO")
    b["pins"]["STATUS_LED"]["mode"] = "blink"
    b["mpy_arch"] = "xtensawin"
    b["heap_bytes"] = 900000
    del b["flash_bytes"]
    errors = check_board(b)
    assert (
        "RPI_PICO: STATUS_LED: unknown mode 'blink' (one of out, in, adc, pwm, counter)" in errors
    )
    assert "RPI_PICO: mpy_arch: rp2040 needs 'armv6m', not 'xtensawin'" in errors
    assert any(e.startswith("RPI_PICO: heap_bytes: 900000 outside") for e in errors)
    assert "RPI_PICO: flash_bytes: required key missing" in errors


def test_maintenance_window_within_a_second_and_an_hour():
    b = board("ESP32_DEVKITC")
    b["maintenance_window_ms"] = 600000
    assert check_board(b) == []
    b["maintenance_window_ms"] = 500
    assert only_error(b) == "ESP32_DEVKITC: maintenance_window_ms: 500 outside 1000..3600000 (ms)"


def test_rp2040_pin_mux_and_pwm_slices():
    b = board("RPI_PICO")
    b["uarts"]["RS485"]["tx"] = 22  # not a UART0 TX pin
    b["pins"]["PCS_ENABLE"]["pin"] = 23  # free GP22 for the wrong TX
    b["reserved"].pop("23")
    b["pins"]["MIX_VALVE_PWM"]["pin"] = 24  # GP24 = PWM4A, same output as PUMP2_PWM on GP8
    b["reserved"].pop("24")
    errors = check_board(b)
    assert "RPI_PICO: RS485.tx on GP22: UART0 tx only on GP0, GP12, GP16, GP28" in errors
    assert "RPI_PICO: MIX_VALVE_PWM on GP24: PWM output PWM4A already drives PUMP2_PWM" in errors
    assert len(errors) == 2, errors


def test_external_channels_checked():
    b = board("ESP32_DEVKITC")
    b["pins"]["V_LINK"]["ch"] = 0  # V_PACK's channel
    b["pins"]["K_PRE_AUX"] = {"ext": "ADC_A", "ch": 3, "mode": "in"}  # ADS1115 is analog only
    b["pins"]["I_PACK"]["ch"] = 4
    errors = check_board(b)
    assert any("V_LINK on ADC_C.ch0: channel already used by" in e for e in errors)
    assert "ESP32_DEVKITC: K_PRE_AUX on ADC_A.ch3: ADS1115 cannot serve mode in" in errors
    assert "ESP32_DEVKITC: I_PACK on ADC_C.ch4: channel outside 0..3 of ADS1115" in errors


def test_pcf8574_serves_in_and_out_ads1115_neither():
    b = board("ESP32_DEVKITC")
    assert b["pins"]["HEALTHY_RELAY"] == {"ext": "DOUT", "ch": 1, "mode": "out"}
    b["pins"]["HEALTHY_RELAY"] = {"ext": "DIN", "ch": 7, "mode": "out"}  # outputs beside inputs
    assert check_board(b) == []
    b["pins"]["HEALTHY_RELAY"] = {"ext": "ADC_B", "ch": 3, "mode": "out"}  # the spare channel
    assert (
        only_error(b) == "ESP32_DEVKITC: HEALTHY_RELAY on ADC_B.ch3: ADS1115 cannot serve mode out"
    )


def test_pwm_and_counters_never_on_an_external_chip():
    b = board("ESP32_DEVKITC")
    b["pins"]["PCS_PWM"] = {"ext": "DOUT", "ch": 2, "mode": "pwm"}
    b["pins"]["FLOW_PULSE"] = {"ext": "DIN", "ch": 7, "mode": "counter"}
    assert sorted(check_board(b)) == [
        "ESP32_DEVKITC: FLOW_PULSE on DIN.ch7: PCF8574 cannot serve mode counter",
        "ESP32_DEVKITC: PCS_PWM on DOUT.ch2: PCF8574 cannot serve mode pwm",
    ]


@pytest.mark.parametrize(
    ("role", "spec"),
    [
        ("K_POS_COIL", {"ext": "DOUT", "ch": 2, "mode": "out"}),
        ("ZONE2_VALVE", {"ext": "DOUT", "ch": 2, "mode": "out"}),
        ("LEAK_ZONE1", {"ext": "DIN", "ch": 7, "mode": "in"}),
        ("SAFE_MODE_BUTTON", {"ext": "DIN", "ch": 7, "mode": "in", "active_low": True}),
    ],
)
def test_coils_valves_leaks_and_button_stay_on_mcu_pins(role, spec):
    b = board("ESP32_DEVKITC")
    b["pins"][role] = spec
    assert only_error(b) == (
        f"ESP32_DEVKITC: {role}: must stay on an MCU pin, not on an external chip"
    )


def test_pull_on_input_only_pin():
    b = board("ESP32_DEVKITC")
    b["pins"]["K_POS_AUX"]["pull"] = "down"
    assert only_error(b) == (
        "ESP32_DEVKITC: K_POS_AUX on GPIO36: input-only pin has no internal pull; "
        "use an external one"
    )


def test_all_problems_reported_at_once(tmp_path):
    b = board("ESP32_DEVKITC")
    b["reserved"] = {}
    b["pins"]["K_POS_COIL"]["pin"] = 35  # input-only, and reused with PUMP2_TACH
    b["pins"]["PCS_ENABLE"]["pin"] = 12  # strapping
    b["pins"]["MIX_VALVE_FB"] = {"pin": 26, "mode": "adc"}  # ADC2 + reused with PUMP2_PWM
    del b["pins"]["LEVEL_OK"]
    (tmp_path / "board.json").write_text(json.dumps(b))
    with pytest.raises(BoardError) as info:
        load_board(tmp_path)
    message = str(info.value)
    for fragment in (
        "K_POS_COIL on GPIO35: input-only pin cannot drive an output",
        "on GPIO35: pin already used by",
        "PCS_ENABLE on GPIO12: strapping pin must not drive an output",
        "MIX_VALVE_FB on GPIO26: ADC2_CH9 cannot be read while WiFi runs",
        "on GPIO26: pin already used by",
        "LEVEL_OK: role missing",
    ):
        assert fragment in message
    assert message.startswith("6 problem(s)")


def test_cli_check_prints_one_line_per_board_and_fails_on_a_bad_one(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(HOST_TOOLS))
    ok = subprocess.run(
        [sys.executable, "-m", "gridpod.boards", "check"], capture_output=True, text=True, env=env
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    assert sorted(line.split(":")[0] for line in lines) == list_boards()
    assert all(": ok (" in line for line in lines)
    bad = board("RPI_PICO")
    bad["pins"]["T_RETURN"]["pin"] = 15
    (tmp_path / "board.json").write_text(json.dumps(bad))
    fail = subprocess.run(
        [sys.executable, "-m", "gridpod.boards", "check", str(tmp_path), "VIRTUAL"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert fail.returncode == 1
    assert fail.stdout.splitlines()[0] == "RPI_PICO: FAIL (2 problem(s))"
    assert "VIRTUAL: ok (" in fail.stdout
    assert "Traceback" not in fail.stdout + fail.stderr


def test_boards_dir_is_the_repo_boards_folder():
    assert (BOARDS_DIR / "VIRTUAL" / "board.json").is_file()


def test_safety_inputs_must_read_unsafe_when_their_wire_breaks():
    """Safety review C1: on a PCF8574 a released line and a failed read read 1, which used to be
    "loop closed / level OK". The checker refuses a safety input whose passive level reads 1."""
    b = board("ESP32_DEVKITC")
    del b["pins"]["INTERLOCK_LOOP"]["active_low"]  # the shipped wiring before the fix
    assert only_error(b) == (
        "ESP32_DEVKITC: INTERLOCK_LOOP: a released line or a failed PCF8574 read would read 1 "
        '(closed / OK): wire it active low ("active_low": true) or give it a pull-down'
    )
    b = board("RPI_PICO")
    b["pins"]["SAFE_MODE_BUTTON"] = {"pin": 21, "mode": "in", "pull": "up"}  # no active_low
    assert "a broken wire would read 1" in only_error(b)
    b["pins"]["SAFE_MODE_BUTTON"] = {"pin": 21, "mode": "in"}  # floating: no passive level
    assert "needs a defined passive level" in only_error(b)
    b["pins"]["SAFE_MODE_BUTTON"] = {"pin": 21, "mode": "in", "pull": "down"}
    assert check_board(b) == []
