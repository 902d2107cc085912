"""`make bench` chip-time figure, shortened: the full module on the virtual board with chip time
on, a Modbus master polling, charged to ESP32_DEVKITC and RPI_PICO."""

from gridpod.perf.chip import chip_figures


def test_chip_time_figures_run_end_to_end():
    boards = (("ESP32_DEVKITC", None), ("RPI_PICO", None))
    r = chip_figures(sim_s=12.0, boards=boards, poll_ms=1010, chunks=40)
    assert r["violation"] is None and r["tracebacks"] == 0 and r["resets"] == 0
    assert r["modbus_requests"] == 11
    # every 10 ms frame of the run is charged (a few before the first housekeeping are boot)
    assert 1150 <= r["frames"] <= 1200, r["frames"]
    esp, pico = r["boards"]
    assert esp["board"] == "ESP32_DEVKITC" and pico["board"] == "RPI_PICO"
    assert pico["factor"] > esp["factor"] > 1  # an RP2040 at 125 MHz is the slower chip
    for b in (esp, pico):
        f = b["fast"]
        assert f["frames"] > 950 and b["control"]["frames"] > 100
        assert 11 <= b["housekeeping"]["frames"] <= 12
        assert 0 < f["mean_pct"] <= f["p99_pct"] <= f["max_pct"] + 1
        # the fast tick reads the pack and the grid meter: two ADS1115 serviced every tick
        assert f["mean_parts_us"]["i2c_ads"] > 0 and f["mean_parts_us"]["cpu"] > 0
        # each FC03 reply (25 bytes at 19200 8E1) blocks its frame for 14.3 ms
        replies = sum(
            b[k]["mean_parts_us"].get("uart", 0) * b[k]["frames"]
            for k in b
            if k in ("fast", "control", "housekeeping")
        )
        assert abs(replies - 10 * 25 * 11 * 1e6 / 19200) < 25 * 11 * 1e6 / 19200 * 1.5
        assert f["overruns"] + b["control"]["overruns"] >= 10  # each reply overran its tick
