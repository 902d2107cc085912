"""PNG figures for the FAT certificate (matplotlib, Agg backend), as data: URIs.

Every line of a figure has its own colour (SERIES_COLOURS, picked explicitly: matplotlib does not
advance its cycle past a line given a colour), acceptance bands are drawn as shaded spans with
dashed limits in BAND_COLOUR (never a series colour), and each section has its own accent colour
(SECTION_COLOURS) on the figure's title bar.

  plot_spec_png(spec, accent)       a test's figure (measure.plot): panels of series + bands
  bullet_chart_png(section, rows)   every measurement of a section against its band, one row
                                    each on its own scale (a bullet graph)
  plot_trace_png(csv, title)        a trace CSV's key signals (hil/traces.py columns)
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

SERIES_COLOURS = (
    "#1f77b4",  # blue
    "#d62728",  # red
    "#2ca02c",  # green
    "#9467bd",  # purple
    "#ff7f0e",  # orange
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#17becf",  # cyan
)
LINE_COLOUR = SERIES_COLOURS[0]  # the first line of every panel (the render test looks for it)
BAND_COLOUR = "#7f7f7f"
SECTION_COLOURS = (
    "#1b4f72",
    "#6c3483",
    "#117864",
    "#b9770e",
    "#943126",
    "#2e4053",
    "#196f3d",
    "#7b241c",
    "#1a5276",
    "#7d6608",
)
PASS_COLOUR, FAIL_COLOUR = "#1b7f3b", "#b00020"

PANELS = (
    (("it_kw", "grid_import_kw"), "kW"),
    (("t_supply_c", "t_return_c"), "degC"),
    (("flow_lpm",), "L/min"),
    (("v_pack_v", "v_link_v"), "V"),
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _pyplot().close(fig)
    return buf.getvalue()


def _title(fig, text: str, accent: str) -> None:
    fig.suptitle(text, fontsize=11, color="white", backgroundcolor=accent, x=0.01, ha="left")


def _draw_band(ax, band: dict, first: bool) -> None:
    low, high = band.get("low"), band.get("high")
    lo_y = low if low is not None else ax.get_ylim()[0]
    hi_y = high if high is not None else ax.get_ylim()[1]
    label = band.get("label") or "acceptance band"
    ax.axhspan(lo_y, hi_y, color=BAND_COLOUR, alpha=0.15, label=label if first else None)
    for y in (low, high):
        if y is not None:
            ax.axhline(y, color=BAND_COLOUR, linestyle="--", linewidth=1.2)


def plot_spec_png(spec: dict, accent: str = SECTION_COLOURS[0]) -> bytes:
    plt = _pyplot()
    panels = spec["panels"]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(9, 1.0 + 2.3 * len(panels)), sharex=True, squeeze=False
    )
    colour = 0
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        for s in panel.get("series", []):
            c = SERIES_COLOURS[colour % len(SERIES_COLOURS)]
            colour += 1
            style = s.get("style", "line")
            if style == "step":
                ax.step(s["x"], s["y"], where="post", color=c, label=s["label"], linewidth=1.6)
            elif style == "points":
                ax.plot(s["x"], s["y"], "o", color=c, label=s["label"], markersize=5)
            else:
                ax.plot(s["x"], s["y"], color=c, label=s["label"], linewidth=1.6)
        for i, band in enumerate(panel.get("bands", [])):
            _draw_band(ax, band, i == 0)
        for ev in panel.get("events", []):
            ax.axvline(ev["x"], color="black", linestyle=":", linewidth=1)
            ax.annotate(
                ev["label"], (ev["x"], 1), xycoords=("data", "axes fraction"), fontsize=8,
                rotation=90, va="top", ha="right",
            )  # fmt: skip
        ax.set_ylabel(panel.get("unit", ""))
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    axes[-1, 0].set_xlabel(spec.get("x_label", "simulated time (s)"))
    _title(fig, f"{spec.get('section', '')}: {spec['title']}", accent)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return _png(fig)


def _row_scale(m: dict) -> tuple[float, float]:
    """The drawn extent of one bullet row: the band and the value with a margin."""
    pts = [v for v in (m["low"], m["high"], m["value"]) if isinstance(v, (int, float))]
    lo, hi = min(pts), max(pts)
    if m["low"] is None and m["high"] is not None:
        lo = min(lo, 0.0)
    span = (hi - lo) or abs(hi) or 1.0
    return lo - 0.15 * span, hi + 0.15 * span


def bullet_chart_png(section: str, rows: list[dict], accent: str) -> bytes | None:
    """Numeric measurements of a section with a band: each row on its own scale, the band as a
    grey bar with its limits, the value as a dot (green in band, red outside)."""
    rows = [
        m
        for m in rows
        if isinstance(m["value"], (int, float))
        and not isinstance(m["value"], bool)
        and (m["low"] is not None or m["high"] is not None)
    ]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.3 * len(rows)))
    for i, m in enumerate(rows):
        y = len(rows) - 1 - i
        lo, hi = _row_scale(m)
        norm = lambda v, lo=lo, hi=hi: (v - lo) / (hi - lo)  # noqa: E731
        b_lo = norm(m["low"]) if m["low"] is not None else 0.0
        b_hi = norm(m["high"]) if m["high"] is not None else 1.0
        ax.barh(y, b_hi - b_lo, left=b_lo, height=0.55, color=BAND_COLOUR, alpha=0.25)
        for edge, given in ((b_lo, m["low"]), (b_hi, m["high"])):
            if given is not None:
                ax.plot([edge, edge], [y - 0.3, y + 0.3], color=BAND_COLOUR, linestyle="--")
        ok = m["verdict"] == "PASS"
        ax.plot(norm(m["value"]), y, "o", color=PASS_COLOUR if ok else FAIL_COLOUR, markersize=7)
        ax.text(-0.02, y, f"{m['requirement']} {m['quantity']}"[:80], ha="right", va="center",
                fontsize=7.5)  # fmt: skip
        ax.text(1.02, y, f"{m['value']:.4g} {m['unit']}  [{m['band']}]"[:46], ha="left",
                va="center", fontsize=7.5)  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.8, len(rows) - 0.2)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ("top", "right", "left"):
        ax.spines[spine].set_visible(False)
    ax.set_xlabel("each row on its own scale: grey = acceptance band, dot = measured value")
    _title(fig, f"{section}: against their bands", accent)
    fig.subplots_adjust(
        left=0.40, right=0.74, top=1 - 0.45 / fig.get_figheight(), bottom=0.5 / fig.get_figheight()
    )
    return _png(fig)


def plot_trace_png(csv_path: Path, title: str, bands: dict | None = None) -> bytes:
    """The key signals of a trace CSV, one panel per unit, each line its own colour; bands:
    {column: (low, high)} drawn on that column's panel."""
    from ..hil.traces import Trace

    trace = Trace.load_csv(csv_path)
    t_min = [t / 60 for t in trace.t_s]
    panels = []
    for names, unit in PANELS:
        series = [
            {"label": n, "x": t_min, "y": trace.column(n)} for n in names if n in trace.columns
        ]
        band = [
            {"low": lo, "high": hi, "label": f"{n} band"}
            for n in names
            for lo, hi in [(bands or {}).get(n, (None, None))]
            if lo is not None or hi is not None
        ]
        panels.append({"unit": unit, "series": series, "bands": band})
    spec = {"title": title, "section": "trace", "x_label": "simulated time (min)", "panels": panels}
    return plot_spec_png(spec)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
