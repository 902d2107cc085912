"""Measured values against acceptance bands, and plot specs, recorded on the running test.

    measure("REQ-BAT-001", "precharge time", 2.41, "s", high=3.52)
    measure("REQ-ID-001", "firmware hash", unit_hash, equals=expected_hash)
    measure.plot("Precharge and close", panels=[...])        # see plot() below

A measurement is recorded first (the certificate shows it, in band or not), then judged: out of
its band it fails the test with the value and the band. A requirement id must be one the test
names with @pytest.mark.req, so a value is never filed under the wrong requirement.
Records travel as JUnit properties ("measurement", "plot": JSON) to the FAT report.
"""

from __future__ import annotations

import json
import math
from typing import Any

_NOTHING = object()
MAX_POINTS = 1500  # per plotted series (the certificate embeds the PNG, not the data)


class MeasurementError(AssertionError):
    pass


def band_text(low=None, high=None, equals=_NOTHING, unit: str = "") -> str:
    u = f" {unit}" if unit else ""
    if equals is not _NOTHING:
        return f"= {equals}{u}"
    if low is not None and high is not None:
        return f"{_fmt(low)} .. {_fmt(high)}{u}"
    if high is not None:
        return f"<= {_fmt(high)}{u}"
    if low is not None:
        return f">= {_fmt(low)}{u}"
    return "(recorded)"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def in_band(value, low=None, high=None, equals=_NOTHING) -> bool:
    if equals is not _NOTHING:
        return value == equals
    if low is None and high is None:
        return False  # a measurement without a band certifies nothing
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return (low is None or value >= low) and (high is None or value <= high)


class Measurements:
    """The `measure` fixture: one per test."""

    def __init__(self, node, section: str):
        self.node = node
        self.section = section
        self.reqs = {r for m in node.iter_markers("req") for r in m.args}
        self.records: list[dict] = []

    def __call__(
        self,
        req: str,
        quantity: str,
        value,
        unit: str = "",
        low=None,
        high=None,
        equals=_NOTHING,
        note: str = "",
    ):
        if req not in self.reqs:
            raise MeasurementError(f"{req}: not a requirement this test names ({self.reqs})")
        ok = in_band(value, low, high, equals)
        record = {
            "requirement": req,
            "quantity": quantity,
            "value": _plain(value),
            "unit": unit,
            "low": _plain(low),
            "high": _plain(high),
            "equals": None if equals is _NOTHING else _plain(equals),
            "band": band_text(low, high, equals, unit),
            "verdict": "PASS" if ok else "FAIL",
            "note": note,
            "section": self.section,
        }
        self.records.append(record)
        self.node.user_properties.append(("measurement", json.dumps(record)))
        if not ok:
            raise MeasurementError(
                f"{req} {quantity}: {_fmt(_plain(value))} {unit} outside {record['band']}"
                + (f" ({note})" if note else "")
            )
        return value

    def plot(
        self, title: str, panels: list[dict], x_label: str = "simulated time (s)", note: str = ""
    ) -> None:
        """A figure for the certificate. panels: [{"unit": "V", "series": [{"label", "x", "y",
        "style": "line"|"step"|"points"}], "bands": [{"low", "high", "label"}], "events":
        [{"x", "label"}]}]; series are thinned to MAX_POINTS."""
        spec = {
            "title": title,
            "section": self.section,
            "x_label": x_label,
            "note": note,
            "panels": [_thin_panel(p) for p in panels],
        }
        self.node.user_properties.append(("plot", json.dumps(spec)))


def _plain(v):
    if isinstance(v, float):
        return round(v, 6)
    if v is None or isinstance(v, (int, str, bool)):
        return v
    return str(v)


def _thin_panel(panel: dict) -> dict:
    out = dict(panel)
    out["series"] = []
    for s in panel.get("series", []):
        x, y = list(s["x"]), list(s["y"])
        step = max(1, math.ceil(len(x) / MAX_POINTS))
        out["series"].append(
            dict(s, x=[round(v, 4) for v in x[::step]], y=[_num(v) for v in y[::step]])
        )
    return out


def _num(v) -> Any:
    return None if v is None else round(float(v), 5)


def trace_series(trace, column: str, label: str, from_s=None, to_s=None, scale=1.0, style="line"):
    """A plot series of one column of a hil.traces.Trace within [from_s, to_s]."""
    t, y = trace.t_s, trace.column(column)
    pts = [
        (ti, yi * scale)
        for ti, yi in zip(t, y, strict=True)
        if (from_s is None or ti >= from_s) and (to_s is None or ti <= to_s)
    ]
    return {"label": label, "x": [p[0] for p in pts], "y": [p[1] for p in pts], "style": style}


def edge_series(edges, label: str, from_ms: int, to_ms: int, scale=1.0) -> dict:
    """A step series of an output's edges [(ms, level)] over [from_ms, to_ms] (seconds)."""
    level = 0
    for t, v in edges:
        if t <= from_ms:
            level = v
    x, y = [from_ms / 1000], [level * scale]
    for t, v in edges:
        if from_ms < t <= to_ms:
            x.append(t / 1000)
            y.append(v * scale)
    x.append(to_ms / 1000)
    y.append(y[-1])
    return {"label": label, "x": x, "y": y, "style": "step"}


def frozen(recorder):
    """A still copy of a running test's trace (hil.traces.Recorder): on the virtual bench the
    clock runs freely and the recorder keeps adding rows while a test reads them."""
    from ..hil.traces import Trace

    live = recorder.trace
    copy = Trace(list(live.columns))
    copy.rows = list(live.rows)
    return copy
