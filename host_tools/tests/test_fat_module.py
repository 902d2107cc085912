"""`make fat`: the module FAT on the virtual module, run once, in full, through the real CLI.

The certificate must certify a module: PASS, at least 40 test cases and 40 requirement ids, every
requirement with a measured value against its band, every test with a measured value, at least 6
figures, the unit's identity read from the unit. Its wall time (goal: under 2 minutes on 2 cores)
is a figure `make bench` prints, not a check here. This is the one test of
`make test` that runs the whole FAT; the other FAT tests use small pieces of it.
"""

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

HOST_TOOLS = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=f"{HOST_TOOLS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def test_make_fat_certifies_the_virtual_module(tmp_path):
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "gridpod.cli", "fat", "--virtual", "--report", str(tmp_path),
         "--operator", "FAT Operator", "--witness", "FAT Witness"],
        capture_output=True, text=True, timeout=600, env=ENV,
    )  # fmt: skip
    wall_s = time.monotonic() - t0
    s = json.loads((tmp_path / "fat.json").read_text())
    failed = [
        (t["test"], t["outcome"], t["message"]) for t in s["tests"] if t["outcome"] != "passed"
    ]
    assert proc.returncode == 0, (proc.stdout[-2000:], failed)
    assert s["verdict"] == "PASS", failed
    print(proc.stdout.strip().splitlines()[-1], f"(wall {wall_s:.1f} s)")

    tests = s["tests"]
    assert len(tests) >= 40 and s["counts"]["passed"] == len(tests), s["counts"]
    assert all(t["measurements"] for t in tests), [
        t["test"] for t in tests if not t["measurements"]
    ]
    reqs = s["requirements"]
    assert len(reqs) >= 40 and all(r["verdict"] == "PASS" for r in reqs)
    for r in reqs:  # each requirement: a value, its band, its verdict
        assert r["measurements"], r["id"]
        for m in r["measurements"]:
            assert m["value"] is not None and m["band"] != "(recorded)" and m["verdict"] == "PASS"
    assert s["plot_count"] >= 6
    sections = {t["section"] for t in tests}
    assert len(sections) >= 6, sections

    # the unit as it identified itself, and the production config pushed first
    ident = s["identity"]
    assert ident["sources"]["firmware_hash"] == "service channel"  # read while it runs
    assert s["firmware_digest"] == ident["firmware_hash"] and len(ident["firmware_hash"]) == 16
    assert ident["module_id"] == "POD-FAT-0001" and ident["board"] == "VIRTUAL"
    assert s["production_config"]["crc"] == ident["config_crc"]
    assert (tmp_path / "production-config.json").exists()
    assert s["people"] == {"operator": "FAT Operator", "witness": "FAT Witness"}
    page = (tmp_path / "fat.html").read_text()
    assert page.count("<img ") == s["plot_count"] and "FAT Witness" in page
    junit = ET.parse(tmp_path / "fat-junit.xml").getroot()
    assert sum(int(x.get("tests")) for x in junit.iter("testsuite")) == len(tests)
