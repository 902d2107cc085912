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
            if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                message = report.longrepr[2]
            elif report.outcome == "failed":
                message = str(report.longrepr).strip().splitlines()[-1][:300]
            self.results.append(
                {
                    "test": report.nodeid.split("::")[-1],
                    "requirements": reqs,
                    "outcome": report.outcome,
                    "duration_s": round(report.duration, 3),
                    "message": message,
                }
            )


def run_fat(bench: str, report_dir: Path, module_id: str | None = None, extra_args=()) -> dict:
    """Run the FAT suite; write fat-junit.xml, fat.json, fat.html; return the summary dict."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    collector = _Collector()
    started = datetime.datetime.now(datetime.timezone.utc)
    args = [str(FAT_DIR), "-q", "-p", "no:cacheprovider", f"--bench={bench}"]
    args += [f"--junitxml={report_dir / 'fat-junit.xml'}", *extra_args]
    code = pytest.main(args, plugins=[collector])
    if code not in (0, 1) or not collector.results:
        raise FatError(f"FAT suite could not run (pytest exit {int(code)}): see the output above")
    summary = summarize(collector.results, load_requirements())
    summary.update(
        bench=bench,
        module_id=module_id,
        firmware_digest=firmware_digest(),
        gridpod_version=__version__,
        started_utc=started.isoformat(timespec="seconds"),
    )
    (report_dir / "fat.json").write_text(json.dumps(summary, indent=2) + "\n")
    (report_dir / "fat.html").write_text(render_html(summary))
    return summary


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
    return {
        "verdict": "FAIL" if failed or unknown else "PASS",
        "unknown_requirements": unknown,
        "counts": {
            o: sum(1 for r in results if r["outcome"] == o) for o in ("passed", "failed", "skipped")
        },
        "requirements": [
            {"id": k, "requirement": v["requirement"], "verdict": verdicts[k]}
            for k, v in requirements.items()
        ],
        "tests": results,
    }


def render_html(s: dict) -> str:
    e = html.escape
    colour = {"PASS": "#1b7f3b", "FAIL": "#b00020", "skipped": "#8a6d00", "not tested": "#666"}
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
<p>Module <b>{e(str(s["module_id"] or "(not given)"))}</b> on bench <b>{e(s["bench"])}</b>,
firmware {e(s["firmware_digest"])}, gridpod {e(s["gridpod_version"])}, {e(s["started_utc"])}.
Tests: {s["counts"]["passed"]} passed, {s["counts"]["failed"]} failed, {s["counts"]["skipped"]} skipped.</p>
<h2>Requirements</h2><table><tr><th>id</th><th>requirement</th><th>verdict</th></tr>{rows}</table>
<h2>Tests</h2><table><tr><th>test</th><th>requirements</th><th>outcome</th><th>s</th><th>note</th></tr>
{tests}</table></body></html>
"""
