"""docs/safety.md against the code: every implementation file, L0 and L1 test, invariant monitor
and mutant the safety case names exists (a renamed test or a dropped mutant fails here)."""

import re
from pathlib import Path

from gridpod.hil import monitors
from gridpod.hil.mutants import MUTANTS

REPO = Path(__file__).resolve().parents[2]
TABLE = (REPO / "docs" / "safety.md").read_text()
ROWS = [
    [c.strip() for c in line.strip().strip("|").split("|")]
    for line in TABLE.splitlines()
    if line.startswith("| SF-")
]


def _tests_exist(cell: str) -> list[str]:
    missing = []
    for path, name in re.findall(r"`([^`:]+)::(\w+)`", cell):
        f = REPO / path
        if not f.exists() or not re.search(rf"^def {name}\(", f.read_text(), re.M):
            missing.append(f"{path}::{name}")
    return missing


def test_the_safety_case_has_rows():
    assert len(ROWS) >= 15 and all(len(r) == 8 for r in ROWS), ROWS[:1]


def test_every_named_file_and_test_exists():
    missing = []
    for row in ROWS:
        for path in re.findall(r"`([^`:]+\.py)`", row[3]):
            if not (REPO / path).exists():
                missing.append(path)
        missing += _tests_exist(row[4]) + _tests_exist(row[5])
    assert not missing, missing


def test_every_monitor_and_mutant_exists_and_every_mutant_is_in_the_case():
    names = set(re.findall(r"^  (\w+)\s", monitors.__doc__, re.M))
    ids = {m[0] for m in MUTANTS}
    cited = set()
    for row in ROWS:
        if row[6] != "-":
            for name in row[6].split(", "):
                assert name in names, (row[0], name)
        cited |= set(re.findall(r"M\d\d", row[7]))
    assert cited <= ids, cited - ids
    assert ids <= cited, f"mutants no safety function cites: {sorted(ids - cited)}"


def test_every_safety_function_has_a_fat_step():
    """The module FAT (issue 14): every safety function is named in the `safety` column of a
    requirement of hil_tests/requirements.csv that a FAT test verifies (@pytest.mark.req), or is
    listed under "Without a FAT step" with its reason."""
    import ast
    import csv

    ids = {row[0] for row in ROWS}
    with open(REPO / "hil_tests" / "requirements.csv", newline="") as f:
        safety = {
            r["id"]: {x.strip() for x in r["safety"].split(",") if x.strip()}
            for r in csv.DictReader(f)
        }
    tested = set()
    for path in (REPO / "hil_tests" / "fat").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "req":
                tested |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    covered = {sf for req, sfs in safety.items() if req in tested for sf in sfs}
    section = TABLE.split("## Without a FAT step", 1)[1].split("\n## ", 1)[0]
    exempt = set(re.findall(r"^- (SF-\w+):", section, re.M))
    assert covered <= ids, f"FAT requirements name unknown safety functions: {covered - ids}"
    assert not covered & exempt, f"listed without a FAT step but covered: {covered & exempt}"
    assert ids <= covered | exempt, (
        f"safety functions without a FAT step: {sorted(ids - covered - exempt)}"
    )
