"""The FAT certificate as one self-contained HTML page (plots embedded as PNG data: URIs).

Top to bottom: the verdict; the unit as it identified itself (firmware hash = its deploy id,
config CRC, MicroPython, board, unique id, module id) and the run (bench, production config,
date); operator and witness with signature fields; every requirement with its measured values,
bands and verdict; the figures, per section; the guided steps and their answers; every test.
"""

from __future__ import annotations

import html
from pathlib import Path

from .plots import SECTION_COLOURS, bullet_chart_png, data_uri, plot_spec_png

VERDICT_COLOURS = {
    "PASS": "#1b7f3b",
    "FAIL": "#b00020",
    "INCOMPLETE": "#8a6d00",
    "BENCH ERROR": "#8a6d00",
    "skipped": "#8a6d00",
    "not tested": "#666",
    "no value": "#8a6d00",
    "bench error": "#8a6d00",
}
BULLET_ROWS = 40  # measurements per bullet chart (a long section gets several)
IDENTITY_ROWS = (
    ("firmware hash (deploy id, read from the unit)", "firmware_hash"),
    ("firmware version", "firmware_version"),
    ("config CRC (read from the unit)", "config_crc"),
    ("MicroPython", "micropython"),
    ("board", "board"),
    ("unique id", "unique_id"),
    ("module id", "module_id"),
)


def sections(summary: dict) -> list[str]:
    """Section names in the order the suite ran them."""
    seen: list[str] = []
    for t in summary["tests"]:
        if t.get("section") and t["section"] not in seen:
            seen.append(t["section"])
    return seen


def render_plots(summary: dict) -> list[tuple[str, str, str]]:
    """(section, title, data URI) of every figure: per section its measurements against their
    bands, then the figures its tests asked for. Needs matplotlib; without it, none."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return []
    out = []
    for i, section in enumerate(sections(summary)):
        accent = SECTION_COLOURS[i % len(SECTION_COLOURS)]
        tests = [t for t in summary["tests"] if t.get("section") == section]
        rows = [m for t in tests for m in t.get("measurements", [])]
        parts = [rows[k : k + BULLET_ROWS] for k in range(0, len(rows), BULLET_ROWS)] or [[]]
        for n, part in enumerate(parts, 1):
            title = f"{section}: measured values" + (
                f" ({n} of {len(parts)})" if len(parts) > 1 else ""
            )
            png = bullet_chart_png(title, part, accent)
            if png:
                out.append((section, title, data_uri(png)))
        for t in tests:
            for spec in t.get("plots", []):
                out.append((section, spec["title"], data_uri(plot_spec_png(spec, accent))))
    return out


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _verdict(v: str) -> str:
    return f"<b style='color:{VERDICT_COLOURS.get(v, '#000')}'>{_e(v)}</b>"


def _identity(s: dict) -> str:
    ident = s.get("identity") or {}
    src = ident.get("sources", {})
    rows = []
    for label, key in IDENTITY_ROWS:
        value = ident.get(key)
        if key == "firmware_hash" and value is None:
            value = s.get("firmware_digest")
        if key == "module_id" and value is None:
            value = s.get("module_id")
        via = f" <small>({_e(src[key])})</small>" if key in src else ""
        rows.append(f"<tr><th>{_e(label)}</th><td>{_e(value or 'not read')}{via}</td></tr>")
    push = s.get("production_config") or {}
    if push:
        rows.append(
            f"<tr><th>production config pushed first</th><td>{_e(Path(push.get('file', '')).name)} "
            f"crc32 {_e(push.get('crc'))}</td></tr>"
        )
    rows.append(f"<tr><th>bench</th><td>{_e(s.get('bench'))}</td></tr>")
    model = s.get("plant_model_version") or "none (real plant)"
    rows.append(f"<tr><th>plant model</th><td>{_e(model)}</td></tr>")
    rows.append(f"<tr><th>date (UTC)</th><td>{_e(s.get('started_utc'))}</td></tr>")
    rows.append(f"<tr><th>gridpod</th><td>{_e(s.get('gridpod_version'))}</td></tr>")
    rows.append(f"<tr><th>tests run</th><td>{_e(s.get('selection', 'all tests'))}</td></tr>")
    return "<table class='ident'>" + "".join(rows) + "</table>"


def _people(s: dict) -> str:
    people = s.get("people") or {}
    cells = "".join(
        f"<td><b>{role}</b><br>{_e(people.get(role) or '')}<div class='sign'>signature</div>"
        "<div class='sign'>date</div></td>"
        for role in ("operator", "witness")
    )
    return f"<table class='people'><tr>{cells}</tr></table>"


def _requirements(s: dict) -> str:
    rows = []
    for r in s["requirements"]:
        values = "<br>".join(
            f"{_e(m['quantity'])}: <b>{_e(m['value'])}</b> {_e(m['unit'])} "
            f"<small>[{_e(m['band'])}]</small> {_verdict(m['verdict'])}"
            for m in r.get("measurements", [])
        )
        rows.append(
            f"<tr><td>{_e(r['id'])}</td><td>{_e(r['requirement'])}"
            f"{'<br><small>safety: ' + _e(r['safety']) + '</small>' if r.get('safety') else ''}"
            f"</td><td>{values or '-'}</td><td>{_verdict(r['verdict'])}</td></tr>"
        )
    return (
        "<table><tr><th>id</th><th>requirement</th><th>measured value [acceptance band]</th>"
        "<th>verdict</th></tr>" + "".join(rows) + "</table>"
    )


def _figures(plots) -> str:
    if not plots:
        return "<p>no figure (matplotlib missing or nothing measured)</p>"
    out, current = [], None
    for section, title, uri in plots:
        if section != current:
            out.append(f"<h3>{_e(section)}</h3>")
            current = section
        out.append(
            f"<figure><img alt='{_e(title)}' src='{uri}'>"
            f"<figcaption>{_e(title)}</figcaption></figure>"
        )
    return "".join(out)


def _guided(s: dict) -> str:
    answers = [a for t in s["tests"] for a in t.get("guided", [])]
    if not answers:
        return "<p>no guided step in this run</p>"
    rows = "".join(
        f"<tr><td>{_e(a['step'])}</td><td>{_e(a['prompt'])}</td><td>{_e(a['by'])}</td>"
        f"<td><b>{_e(a['answer'])}</b> {_e(a.get('note', ''))}</td><td>{_e(a['asked_utc'])}</td>"
        f"<td>{_e(a['seconds'])}</td></tr>"
        for a in answers
    )
    return (
        "<table><tr><th>step</th><th>prompt</th><th>answered by</th><th>answer</th>"
        "<th>asked (UTC)</th><th>s</th></tr>" + rows + "</table>"
    )


def _tests(s: dict) -> str:
    rows = "".join(
        f"<tr><td>{_e(t['section'] if 'section' in t else '')}</td><td>{_e(t['test'])}</td>"
        f"<td>{_e(', '.join(t['requirements']))}</td><td>{_e(t['outcome'])}</td>"
        f"<td>{t['duration_s']}</td><td>{_e(t['message'])}</td></tr>"
        for t in s["tests"]
    )
    return (
        "<table><tr><th>section</th><th>test</th><th>requirements</th><th>outcome</th><th>s</th>"
        "<th>note</th></tr>" + rows + "</table>"
    )


def render_html(s: dict, plots=()) -> str:
    verdict = s["verdict"]
    c = s["counts"]
    rc = s.get("requirement_counts", {})
    plots = [p if len(p) == 3 else ("figures", p[0], p[1]) for p in plots]
    module = s.get("module_id") or "(not given)"
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Gridpod FAT certificate {_e(module)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;
margin-bottom:1em}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
table.ident th{{width:22em}}table.people td{{width:28em;height:6em}}.sign{{border-top:1px solid
#999;margin-top:2.2em;font-size:small;color:#666}}figure{{margin:1em 0}}img{{max-width:100%}}
</style></head><body>
<h1>Gridpod factory acceptance test: <span style="color:{VERDICT_COLOURS.get(verdict, "#000")}">{_e(verdict)}</span></h1>
<p>Module <b>{_e(module)}</b>. Tests: {c.get("passed", 0)} passed, {c.get("failed", 0)} failed,
{c.get("skipped", 0)} skipped, {c.get("bench error", 0)} bench errors. Requirements:
{rc.get("PASS", 0)} of {rc.get("total", len(s["requirements"]))} passed
({rc.get("FAIL", 0)} failed, {rc.get("skipped", 0)} skipped, {rc.get("not tested", 0)} not tested,
{rc.get("no value", 0)} without a value). PASS needs every requirement measured in its band and
nothing skipped; otherwise INCOMPLETE.</p>
<h2>Unit under test</h2>{_identity(s)}
<h2>Operator and witness</h2>{_people(s)}
<h2>Requirements</h2>{_requirements(s)}
<h2>Figures</h2>{_figures(plots)}
<h2>Guided steps</h2>{_guided(s)}
<h2>Tests</h2>{_tests(s)}
</body></html>
"""
