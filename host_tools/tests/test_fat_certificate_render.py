"""The FAT certificate with its embedded PNG plots renders in headless Chromium.

Builds a certificate from a real plant trace (L0 bench, no VM), screenshots it with
chromium-headless-shell and counts pixels of the plots' line colour; a certificate whose image
data is broken must show none (the check can fail)."""

import shutil
import subprocess

import pytest
from gridpod.fat.plots import LINE_COLOUR, data_uri, plot_trace_png
from gridpod.fat.run import render_html, summarize
from gridpod.hil.benches.plant import PlantBench
from gridpod.hil.traces import Recorder

CHROMIUM = next(
    (
        p
        for p in map(shutil.which, ("chromium-headless-shell", "chromium", "chromium-browser"))
        if p
    ),
    None,
)


def certificate(tmp_path, broken=False):
    pytest.importorskip("matplotlib", reason="matplotlib renders the certificate's plots")
    b = PlantBench()
    rec = Recorder(period_ms=5000)
    b.plant.recorders.append(rec)
    b.run_for(1900, step_ms=100)
    csv = rec.trace.save_csv(tmp_path / "trace.csv")
    uri = data_uri(plot_trace_png(csv, "soak"))
    if broken:
        uri = uri[:40] + "!!!!" + uri[60:]
    s = summarize([], {"R1": {"requirement": "x"}})
    s.update(bench="plant", module_id="M1", firmware_digest="f", gridpod_version="0",
             started_utc="now", board="VIRTUAL", config_hash="c", plant_model_version="1")  # fmt: skip
    page = tmp_path / ("broken.html" if broken else "fat.html")
    page.write_text(render_html(s, [("soak", uri)]))
    return page


def plot_pixels(tmp_path, page):
    from PIL import Image

    shot = tmp_path / (page.stem + ".png")
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=1000,1400", page.as_uri()],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    rgb = tuple(int(LINE_COLOUR[i : i + 2], 16) for i in (1, 3, 5))
    data = Image.open(shot).convert("RGB").tobytes()
    pixels = zip(data[0::3], data[1::3], data[2::3], strict=True)
    return sum(1 for px in pixels if all(abs(a - b) < 12 for a, b in zip(px, rgb, strict=True)))


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not installed (apt-get install chromium-headless-shell)",
)
def test_certificate_renders_with_plots_in_headless_chromium(tmp_path):
    good = plot_pixels(tmp_path, certificate(tmp_path))
    bad = plot_pixels(tmp_path, certificate(tmp_path, broken=True))
    assert good > 500, good
    assert bad < 50, bad
