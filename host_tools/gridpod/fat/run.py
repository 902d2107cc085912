"""Factory acceptance run: the hil_tests/fat suite on a bench -> JUnit XML, JSON and HTML.

run_fat() drives pytest in-process with a collector plugin (FatSession), so a test's requirement
ids (pytest.mark.req), its measured values against their bands, its plots and the answers of any
guided step travel into every report; the unit's identity, read from the unit by the suite
(fat/identity.py), heads the certificate (fat/certificate.py).

Verdicts (one per requirement, then one for the run):
  PASS         every requirement has passing tests and a measured value in its band, nothing was
               skipped, the whole suite ran
  INCOMPLETE   something was not judged: a test skipped (the bench lacks what it needs, an
               operator did not confirm a step), a requirement with no test or no value, a
               partial run (-k)
  FAIL         the firmware failed a requirement (a value out of its band, a wrong reaction)
  BENCH ERROR  the bench or its options broke the run (VM, port, a mistyped option): the
               firmware was not judged; never reported as FAIL
Exit statuses: EXIT_CODES.

run_fat_boards() runs the FAT on several boards at once. pytest in-process is not thread-safe,
so each board is a `gridpod fat` child process (environment GRIDPOD_FAT_BOARD=<label>) with its
own report folder DIR/<label>/ and log DIR/<label>.log; multi.run_many runs them in parallel.
"""

import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .. import GridpodError, __version__
from ..build.tree import REPO_ROOT
from ..plant import PLANT_MODEL_VERSION

FAT_DIR = REPO_ROOT / "hil_tests" / "fat"
REQUIREMENTS = REPO_ROOT / "hil_tests" / "requirements.csv"
EXIT_CODES = {"PASS": 0, "FAIL": 1, "BENCH ERROR": 2, "INCOMPLETE": 4}
OUTCOMES = ("passed", "failed", "skipped", "bench error")


class FatError(GridpodError):
    pass


def load_requirements(path: Path = REQUIREMENTS) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


class FatSession:
    """The collector plugin of one FAT run, and what the suite hands the certificate: the unit's
    identity, the production config, the operator who answers guided steps."""

    def __init__(self, production=None, pin=None, operator=None, people=None):
        self.results: list[dict] = []
        self.production = production  # values pushed first (None: the suite's built-in)
        self.pin = pin
        self.operator = operator  # guided.TerminalOperator / ScriptedOperator / None
        self.people = people or {}  # {"operator": name, "witness": name}
        self.identity: dict | None = None
        self.push: dict | None = None
        self.report_dir: Path | None = None  # the pushed production config is kept there

    def pytest_runtest_logreport(self, report):
        name = report.nodeid.split("::")[-1]
        props = report.user_properties
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            outcome = report.outcome
            message = ""
            if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                message = report.longrepr[2]
            elif report.outcome == "failed":
                crash = getattr(report.longrepr, "reprcrash", None)
                lines = str(report.longrepr).strip().splitlines()
                message = (crash.message if crash else lines[-1] if lines else "")[:400]
                if getattr(report, "bench_error", False):
                    outcome = "bench error"  # the bench broke, the firmware was never judged
            self.results.append(
                {
                    "test": name,
                    "nodeid": report.nodeid,
                    "section": next((v for k, v in props if k == "section"), "tests"),
                    "requirements": [v for k, v in props if k == "requirement"],
                    "outcome": outcome,
                    "duration_s": round(report.duration, 3),
                    "message": message,
                    "measurements": [json.loads(v) for k, v in props if k == "measurement"],
                    "plots": [json.loads(v) for k, v in props if k == "plot"],
                    "guided": [json.loads(v) for k, v in props if k == "guided"],
                    "trace": None,
                }
            )
        if report.when == "teardown" and self.results:
            traces = [v for k, v in props if k == "trace"]
            if traces and self.results[-1]["nodeid"] == report.nodeid:
                self.results[-1]["trace"] = traces[-1]


# kept under its old name for callers of the collector alone
_Collector = FatSession


def run_fat(
    bench: str,
    report_dir: Path,
    module_id: str | None = None,
    extra_args=(),
    suite: Path = FAT_DIR,
    select: str | None = None,
    session: FatSession | None = None,
) -> dict:
    """Run the FAT suite; write fat-junit.xml, fat.json, fat.html; return the summary dict.

    select: a pytest -k expression; the run is then INCOMPLETE (a partial run)."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    session = session or FatSession()
    session.report_dir = report_dir
    started = datetime.datetime.now(datetime.timezone.utc)
    args = [str(suite), "-q", "-p", "no:cacheprovider", f"--bench={bench}"]
    # labgrid's pytest plugin only where it is used (pyproject's addopts turn it off; it costs
    # ~1 s of imports per FAT process and its global state breaks nested sessions)
    args += ["-p", "labgrid" if bench.startswith("labgrid") else "no:labgrid"]
    if select:
        args += ["-k", select]
    args += [f"--junitxml={report_dir / 'fat-junit.xml'}", f"--trace-dir={report_dir / 'traces'}"]
    args += list(extra_args)
    code = pytest.main(args, plugins=[session])
    if code not in (0, 1) or not session.results:
        raise FatError(f"FAT suite could not run (pytest exit {int(code)}): see the output above")
    summary = summarize(session.results, load_requirements(), partial=bool(select))
    ident = session.identity or {}
    summary.update(
        bench=bench,
        module_id=ident.get("module_id") or module_id,
        module_id_given=module_id,
        board=ident.get("board") or ("VIRTUAL" if bench == "virtual" else None),
        identity=ident,
        production_config=session.push,
        people=session.people,
        selection=f"partial run: -k {select!r}" if select else "all tests",
        firmware_digest=ident.get("firmware_hash") or "not read from the unit",
        config_hash=ident.get("config_crc") or "not read from the unit",
        plant_model_version=PLANT_MODEL_VERSION if bench == "virtual" else None,
        gridpod_version=__version__,
        started_utc=started.isoformat(timespec="seconds"),
        wall_s=round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1),
    )
    write_reports(summary, report_dir)
    return summary


def write_reports(summary: dict, report_dir: Path) -> None:
    """fat.json and fat.html (plots rendered here) in report_dir."""
    from .certificate import render_html, render_plots

    plots = render_plots(summary)
    summary["plot_count"] = len(plots)
    (report_dir / "fat.json").write_text(json.dumps(summary, indent=2) + "\n")
    (report_dir / "fat.html").write_text(render_html(summary, plots))


def requirement_verdict(outcomes: list[str], measured: list[dict]) -> str:
    """One requirement from its tests' outcomes and its measurements."""
    if not outcomes:
        return "not tested"
    if "failed" in outcomes or any(m["verdict"] == "FAIL" for m in measured):
        return "FAIL"
    if "bench error" in outcomes:
        return "bench error"
    if any(o != "passed" for o in outcomes):
        return "skipped"
    if not any(m["verdict"] == "PASS" for m in measured):
        return "no value"
    return "PASS"


def summarize(results: list[dict], requirements: dict[str, dict], partial: bool = False) -> dict:
    """Verdict per requirement and overall (see the module docstring)."""
    rows = []
    for req_id, row in requirements.items():
        tests = [r for r in results if req_id in r["requirements"]]
        measured = [
            m for r in tests for m in r.get("measurements", []) if m["requirement"] == req_id
        ]
        rows.append(
            {
                "id": req_id,
                "section": row.get("section", ""),
                "requirement": row["requirement"],
                "safety": row.get("safety", ""),
                "verdict": requirement_verdict([r["outcome"] for r in tests], measured),
                "measurements": measured,
            }
        )
    unknown = sorted({q for r in results for q in r["requirements"]} - set(requirements))
    outcomes = [r["outcome"] for r in results]
    if "bench error" in outcomes:
        verdict = "BENCH ERROR"
    elif "failed" in outcomes or unknown or any(x["verdict"] == "FAIL" for x in rows):
        verdict = "FAIL"
    elif partial or any(x["verdict"] != "PASS" for x in rows):
        verdict = "INCOMPLETE"
    else:
        verdict = "PASS"
    not_pass = {
        v: sum(1 for x in rows if x["verdict"] == v) for v in ("skipped", "not tested", "no value")
    }
    return {
        "verdict": verdict,
        "unknown_requirements": unknown,
        "counts": {o: outcomes.count(o) for o in OUTCOMES},
        "requirement_counts": {
            "total": len(rows),
            "PASS": sum(1 for x in rows if x["verdict"] == "PASS"),
            "FAIL": sum(1 for x in rows if x["verdict"] == "FAIL"),
            **not_pass,
        },
        "measurement_count": sum(len(r.get("measurements", [])) for r in results),
        "requirements": rows,
        "tests": results,
    }


def render_html(s: dict, plots=()) -> str:
    """The certificate page (kept here for callers; fat/certificate.py renders it)."""
    from .certificate import render_html as render

    return render(s, plots)


# ---- several boards at once -------------------------------------------------------------------


def exit_code(verdicts: list[str]) -> int:
    """One exit status for many boards: 2 if any bench error (some firmware was not judged; a
    board with no report counts as one), else 1 if any board failed, else 4 if any run was
    INCOMPLETE, else 0."""
    codes = [EXIT_CODES.get(v, 2) for v in verdicts]
    for code in (2, 1, 4):
        if code in codes:
            return code
    return 0 if codes else 2


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
        if code in EXIT_CODES.values() and report.exists():
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
