"""Factory acceptance run: the hil_tests/fat suite on a bench -> JUnit XML, JSON and HTML.

run_fat() drives pytest in-process with a small collector plugin, so a test's requirement ids
(pytest.mark.req) travel into every report, and the result is one verdict per requirement.
"""

import csv
import datetime
import hashlib
import html
import json
from pathlib import Path

import pytest

from . import GridpodError, __version__
from .firmware_tree import REPO_ROOT, firmware_files
from .plant import PLANT_MODEL_VERSION

FAT_DIR = REPO_ROOT / "hil_tests" / "fat"
REQUIREMENTS = REPO_ROOT / "hil_tests" / "requirements.csv"


class FatError(GridpodError):
    pass


def load_requirements(path: Path = REQUIREMENTS) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def firmware_digest(board: str = "VIRTUAL") -> str:
    h = hashlib.sha256()
    for name, data in firmware_files(board).items():
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:16]


class _Collector:
    def __init__(self):
        self.results: list[dict] = []

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            reqs = [v for k, v in report.user_properties if k == "requirement"]
            message = ""
            outcome = report.outcome
            if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                message = report.longrepr[2]
            elif report.outcome == "failed":
                text = str(report.longrepr)
                message = text.strip().splitlines()[-1][:300]
                if report.when == "setup" and "BenchError" in text:
                    outcome = "bench error"  # the bench broke, the firmware was never judged
            self.results.append(
                {
                    "test": report.nodeid.split("::")[-1],
                    "requirements": reqs,
                    "outcome": outcome,
                    "duration_s": round(report.duration, 3),
                    "message": message,
                    "trace": None,
                }
            )
        if report.when == "teardown" and self.results:
            traces = [v for k, v in report.user_properties if k == "trace"]
            if traces and self.results[-1]["test"] == report.nodeid.split("::")[-1]:
                self.results[-1]["trace"] = traces[-1]


def run_fat(bench: str, report_dir: Path, module_id: str | None = None, extra_args=()) -> dict:
    """Run the FAT suite; write fat-junit.xml, fat.json, fat.html; return the summary dict."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    collector = _Collector()
    started = datetime.datetime.now(datetime.timezone.utc)
    args = [str(FAT_DIR), "-q", "-p", "no:cacheprovider", f"--bench={bench}"]
    args += [f"--junitxml={report_dir / 'fat-junit.xml'}", f"--trace-dir={report_dir / 'traces'}"]
    args += list(extra_args)
    code = pytest.main(args, plugins=[collector])
    if code not in (0, 1) or not collector.results:
        raise FatError(f"FAT suite could not run (pytest exit {int(code)}): see the output above")
    summary = summarize(collector.results, load_requirements())
    summary.update(
        bench=bench,
        module_id=module_id,
        board="VIRTUAL" if bench == "virtual" else "(from the device)",
        firmware_digest=firmware_digest(),
        config_hash=config_hash(bench),
        plant_model_version=PLANT_MODEL_VERSION if bench == "virtual" else None,
        gridpod_version=__version__,
        started_utc=started.isoformat(timespec="seconds"),
    )
    plots = render_plots(summary)
    (report_dir / "fat.json").write_text(json.dumps(summary, indent=2) + "\n")
    (report_dir / "fat.html").write_text(render_html(summary, plots))
    return summary


def config_hash(bench: str) -> str:
    """The virtual FAT deploys no /config.json: the firmware runs on its defaults, whose CRC is
    computed with the firmware's own code. A real board's config is not read yet."""
    if bench != "virtual":
        return "not read (real board)"
    from .configtool import firmware_config

    cfg = firmware_config()
    return "defaults crc32 %08x" % cfg.config_crc(cfg.CONFIG_DEFAULTS)


PLOTTED_TESTS = ("test_thirty_minutes_without_reset_or_overrun",)


def render_plots(summary: dict) -> list[tuple[str, str]]:
    """(title, data URI) for the key traces; an unavailable plotter is said, not hidden."""
    from .fat_plots import data_uri, plot_trace_png

    plots = []
    for t in summary["tests"]:
        if t["test"] in PLOTTED_TESTS and t.get("trace"):
            plots.append((t["test"], data_uri(plot_trace_png(Path(t["trace"]), t["test"]))))
    return plots


def summarize(results: list[dict], requirements: dict[str, dict]) -> dict:
    """Verdict per requirement (PASS only if all its tests passed) and overall."""
    verdicts = {}
    for req_id in requirements:
        outcomes = [r["outcome"] for r in results if req_id in r["requirements"]]
        if not outcomes:
            verdicts[req_id] = "not tested"
        elif "failed" in outcomes:
            verdicts[req_id] = "FAIL"
        elif all(o == "passed" for o in outcomes):
            verdicts[req_id] = "PASS"
        else:
            verdicts[req_id] = "skipped"
    unknown = sorted({q for r in results for q in r["requirements"]} - set(requirements))
    failed = any(r["outcome"] == "failed" for r in results)
    bench_error = any(r["outcome"] == "bench error" for r in results)
    verdict = "BENCH ERROR" if bench_error else "FAIL" if failed or unknown else "PASS"
    return {
        "verdict": verdict,
        "unknown_requirements": unknown,
        "counts": {
            o: sum(1 for r in results if r["outcome"] == o)
            for o in ("passed", "failed", "skipped", "bench error")
        },
        "requirements": [
            {"id": k, "requirement": v["requirement"], "verdict": verdicts[k]}
            for k, v in requirements.items()
        ],
        "tests": results,
    }


def render_html(s: dict, plots=()) -> str:
    e = html.escape
    colour = {"PASS": "#1b7f3b", "FAIL": "#b00020", "skipped": "#8a6d00", "not tested": "#666"}
    colour["BENCH ERROR"] = "#8a6d00"
    figures = "".join(
        f"<figure><img alt='{e(title)}' src='{uri}'><figcaption>{e(title)}</figcaption></figure>"
        for title, uri in plots
    )
    rows = "".join(
        f"<tr><td>{e(r['id'])}</td><td>{e(r['requirement'])}</td>"
        f"<td style='color:{colour.get(r['verdict'], '#000')}'><b>{e(r['verdict'])}</b></td></tr>"
        for r in s["requirements"]
    )
    tests = "".join(
        f"<tr><td>{e(t['test'])}</td><td>{e(', '.join(t['requirements']))}</td>"
        f"<td>{e(t['outcome'])}</td><td>{t['duration_s']}</td><td>{e(t['message'])}</td></tr>"
        for t in s["tests"]
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Gridpod FAT certificate</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head><body>
<h1>Gridpod factory acceptance test: <span style="color:{colour[s["verdict"]]}">{s["verdict"]}</span></h1>
<table>
<tr><th>module id</th><td>{e(str(s["module_id"] or "(not given)"))}</td></tr>
<tr><th>board</th><td>{e(str(s.get("board", "?")))} on bench {e(s["bench"])}</td></tr>
<tr><th>firmware hash</th><td>{e(s["firmware_digest"])}</td></tr>
<tr><th>config hash</th><td>{e(str(s.get("config_hash", "?")))}</td></tr>
<tr><th>plant model</th><td>{e(str(s.get("plant_model_version") or "none (real plant)"))}</td></tr>
<tr><th>date (UTC)</th><td>{e(s["started_utc"])}</td></tr>
<tr><th>gridpod</th><td>{e(s["gridpod_version"])}</td></tr>
</table>
<p>
Tests: {s["counts"]["passed"]} passed, {s["counts"]["failed"]} failed, {s["counts"]["skipped"]} skipped.</p>
<h2>Requirements</h2><table><tr><th>id</th><th>requirement</th><th>verdict</th></tr>{rows}</table>
<h2>Key traces</h2>{figures or "<p>no trace plotted</p>"}
<h2>Tests</h2><table><tr><th>test</th><th>requirements</th><th>outcome</th><th>s</th><th>note</th></tr>
{tests}</table></body></html>
"""
