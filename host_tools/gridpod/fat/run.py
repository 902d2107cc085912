"""Factory acceptance run: the hil_tests/fat suite on a bench -> JUnit XML, JSON and HTML.

run_fat() drives pytest in-process with a small collector plugin, so a test's requirement ids
(pytest.mark.req) travel into every report, and the result is one verdict per requirement.

run_fat_boards() runs the FAT on several boards at once. pytest in-process is not thread-safe,
so each board is a `gridpod fat` child process (environment GRIDPOD_FAT_BOARD=<label>) with its
own report folder DIR/<label>/ and log DIR/<label>.log; multi.run_many runs them in parallel.
"""

import csv
import datetime
import hashlib
import html
import json
import os
import platform
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .. import GridpodError, __version__
from ..build.tree import REPO_ROOT, firmware_files
from ..plant import PLANT_MODEL_VERSION

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


def run_fat(
    bench: str,
    report_dir: Path,
    module_id: str | None = None,
    extra_args=(),
    suite: Path = FAT_DIR,
    select: str | None = None,
) -> dict:
    """Run the FAT suite; write fat-junit.xml, fat.json, fat.html; return the summary dict.

    select: a pytest -k expression; the report then says it is a partial run."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    collector = _Collector()
    started = datetime.datetime.now(datetime.timezone.utc)
    args = [str(suite), "-q", "-p", "no:cacheprovider", f"--bench={bench}"]
    # labgrid's pytest plugin only where it is used (pyproject's addopts turn it off; it costs
    # ~1 s of imports per FAT process and its global state breaks nested sessions)
    args += ["-p", "labgrid" if bench.startswith("labgrid") else "no:labgrid"]
    if select:
        args += ["-k", select]
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
        selection=f"partial run: -k {select!r}" if select else "all tests",
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
    from ..device.config import firmware_config

    cfg = firmware_config()
    return "defaults crc32 %08x" % cfg.config_crc(cfg.CONFIG_DEFAULTS)


PLOTTED_TESTS = ("test_thirty_minutes_without_reset_or_overrun",)


def render_plots(summary: dict) -> list[tuple[str, str]]:
    """(title, data URI) for the key traces; an unavailable plotter is said, not hidden."""
    from .plots import data_uri, plot_trace_png

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
<tr><th>tests run</th><td>{e(str(s.get("selection", "all tests")))}</td></tr>
</table>
<p>
Tests: {s["counts"]["passed"]} passed, {s["counts"]["failed"]} failed, {s["counts"]["skipped"]} skipped.</p>
<h2>Requirements</h2><table><tr><th>id</th><th>requirement</th><th>verdict</th></tr>{rows}</table>
<h2>Key traces</h2>{figures or "<p>no trace plotted</p>"}
<h2>Tests</h2><table><tr><th>test</th><th>requirements</th><th>outcome</th><th>s</th><th>note</th></tr>
{tests}</table></body></html>
"""


# ---- several boards at once -------------------------------------------------------------------

EXIT_CODES = {"PASS": 0, "FAIL": 1}  # anything else (BENCH ERROR, no report) is 2


def exit_code(verdicts: list[str]) -> int:
    """One exit status for many boards: 2 if any bench error (some firmware was not judged),
    else 1 if any board failed, else 0."""
    codes = [EXIT_CODES.get(v, 2) for v in verdicts]
    return 2 if 2 in codes else max(codes, default=2)


def _board_job(bench_args: list[str], report_dir: Path, common: list[str], timeout_s: float):
    def job(label: str, log) -> dict:
        out = report_dir / label
        out.mkdir(parents=True, exist_ok=True)
        (out / "fat.json").unlink(missing_ok=True)  # a stale verdict must never be read back
        cmd = [sys.executable, "-m", "gridpod.cli", "fat", *bench_args, "--report", str(out)]
        cmd += common
        env = dict(os.environ, GRIDPOD_FAT_BOARD=label, PYTHONUNBUFFERED="1")
        log("$ " + " ".join(cmd))
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        killed = threading.Event()

        def kill() -> None:  # the child's VM dies with it (PR_SET_PDEATHSIG)
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        last = ""
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                last = line.rstrip() or last
                log(line.rstrip())
            code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        report = out / "fat.json"
        if code in (0, 1, 2) and report.exists():
            s = json.loads(report.read_text())
            c = s["counts"]
            verdict = s["verdict"]
            detail = (
                f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped, "
                f"{c['bench error']} bench errors; {out / 'fat.html'}"
            )
        else:
            verdict = "BENCH ERROR"
            why = f"killed after {timeout_s:g} s" if killed.is_set() else f"exit {code}"
            detail = f"no report ({why}): {last[:160]}"
        return {"ok": verdict == "PASS", "verdict": verdict, "summary": f"{verdict}: {detail}"}

    return job


def warm_compile_cache(board: str = "VIRTUAL") -> None:
    """Compile the firmware once before the children deploy it, so they do not race to write
    the same mpy-cache entries. Only for the unix port on this host (its arch is known)."""
    arch = {"x86_64": "x64", "AMD64": "x64", "i686": "x86"}.get(platform.machine())
    if arch:
        from ..device.deploy import build

        build(board, arch)


def run_fat_boards(
    boards: dict[str, list[str]],
    report_dir: Path,
    common: tuple[str, ...] | list[str] = (),
    timeout_s: float = 900.0,
    echo=print,
) -> tuple[list[dict], int]:
    """boards: label -> `gridpod fat` bench arguments (["--virtual"] or ["--port", P]).

    Runs every board's FAT in parallel, each in its own process; returns (run_many results with
    "verdict" per board, exit status). One board's failure or crash never stops the others."""
    from ..multi import run_many

    report_dir = Path(report_dir)
    jobs = {
        label: _board_job(args, report_dir, list(common), timeout_s)
        for label, args in boards.items()
    }

    def job(label, log):
        return jobs[label](label, log)

    def progress(line: str) -> None:  # the children's full output is in their logs
        text = line.split("] ", 1)[-1]
        if text.startswith(("FAT ", "FAILED: ", "gridpod fat: error")):
            echo(line)

    results = run_many(list(boards), job, report_dir, echo=progress if echo else None)
    verdicts = []
    for r in results:
        if r["value"] is None:  # the runner itself broke for this board: not a firmware verdict
            r["value"] = {"verdict": "BENCH ERROR"}
            r["summary"] = "BENCH ERROR: " + r["summary"]
        verdicts.append(r["value"]["verdict"])
    return results, exit_code(verdicts)
