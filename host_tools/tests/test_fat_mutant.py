"""The FAT catches a firmware with one safety function removed, on the requirement that function
serves: curated mutant M33 (the pack over-voltage trip removed, gridpod.hil.mutants) applied to a
copy of firmware/, as `make mutate` does, deployed to a virtual module by `gridpod fat
--firmware-dir`. The trips section runs (two of its steps, -k): over-voltage FAILs, the sibling
over-current step still PASSes, so the certificate points at the broken function. The unit's
firmware hash on the certificate is the mutant's, not the released firmware's.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from gridpod.build.tree import FIRMWARE_DIR
from gridpod.hil.mutants import MUTANTS

HOST_TOOLS = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=f"{HOST_TOOLS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
SELECT = "trip_opens_the_battery and (pack_over_voltage or pack_over_current)"


def mutated_firmware(dst: Path, mutant_id: str) -> Path:
    _id, _what, path, original, replacement, _tests = next(m for m in MUTANTS if m[0] == mutant_id)
    tree = dst / "firmware"
    shutil.copytree(FIRMWARE_DIR, tree, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    target = tree / Path(path).relative_to("firmware")
    text = target.read_text()
    assert text.count(original) == 1, (mutant_id, path)
    target.write_text(text.replace(original, replacement))
    return tree


def test_the_fat_fails_a_firmware_without_its_over_voltage_trip_on_that_requirement(tmp_path):
    tree = mutated_firmware(tmp_path, "M33")
    report = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "gridpod.cli", "fat", "--virtual", "--firmware-dir", str(tree),
         "--report", str(report), "-k", SELECT],
        capture_output=True, text=True, timeout=600, env=ENV,
    )  # fmt: skip
    s = json.loads((report / "fat.json").read_text())
    assert proc.returncode == 1, (proc.stdout[-1500:], proc.stderr[-800:])
    assert s["verdict"] == "FAIL"
    verdicts = {r["id"]: r["verdict"] for r in s["requirements"]}
    assert verdicts["REQ-TRIP-004"] == "FAIL", verdicts  # pack over-voltage
    assert verdicts["REQ-TRIP-005"] == "PASS", verdicts  # its sibling still trips
    assert [r for r, v in verdicts.items() if v == "FAIL"] == ["REQ-TRIP-004"]
    failed = [t for t in s["tests"] if t["outcome"] == "failed"]
    assert len(failed) == 1 and "pack_over_voltage" in failed[0]["test"], failed
    ov = next(r for r in s["requirements"] if r["id"] == "REQ-TRIP-004")["measurements"]
    assert ov[-1]["verdict"] == "FAIL" and ov[-1]["value"] is None, ov  # never detected
    assert "no trip" in ov[-1]["note"] and "outside" in failed[0]["message"]
    from gridpod.fat.identity import expected_firmware_hash

    assert s["firmware_digest"] == expected_firmware_hash("VIRTUAL", "x64", tree)
    assert s["firmware_digest"] != expected_firmware_hash("VIRTUAL", "x64")
