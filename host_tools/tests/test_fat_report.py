"""FAT reporting: requirement traceability and verdicts."""

import ast
from pathlib import Path

from gridpod.fat.run import FAT_DIR, load_requirements, render_html, summarize


def result(test, reqs, outcome):
    return {
        "test": test,
        "requirements": reqs,
        "outcome": outcome,
        "duration_s": 0.1,
        "message": "",
    }


def test_every_fat_test_names_a_known_requirement_and_every_requirement_is_tested():
    requirements = load_requirements()
    used = set()
    for path in Path(FAT_DIR).glob("test_*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "req":
                used.update(arg.value for arg in node.args)
    assert used, "no @pytest.mark.req found in the FAT suite"
    assert used <= set(requirements), f"unknown ids: {used - set(requirements)}"
    assert set(requirements) <= used, f"requirements without a test: {set(requirements) - used}"


def test_verdicts():
    reqs = {"R1": {"requirement": "a"}, "R2": {"requirement": "b"}, "R3": {"requirement": "c"}}
    s = summarize([result("t1", ["R1"], "passed"), result("t2", ["R2"], "skipped")], reqs)
    assert s["verdict"] == "PASS"
    assert [r["verdict"] for r in s["requirements"]] == ["PASS", "skipped", "not tested"]
    s = summarize([result("t1", ["R1"], "passed"), result("t3", ["R1"], "failed")], reqs)
    assert s["verdict"] == "FAIL" and s["requirements"][0]["verdict"] == "FAIL"
    s = summarize([result("t1", ["R9"], "passed")], reqs)
    assert s["verdict"] == "FAIL" and s["unknown_requirements"] == ["R9"]


def test_html_escapes_and_shows_verdict():
    reqs = {"R1": {"requirement": "<script>x</script>"}}
    s = summarize([result("t<1>", ["R1"], "passed")], reqs)
    s.update(
        bench="virtual",
        module_id="M&1",
        firmware_digest="abc",
        gridpod_version="0",
        started_utc="now",
    )
    page = render_html(s)
    assert "<script>x" not in page and "&lt;script&gt;" in page and "M&amp;1" in page
    assert ">PASS<" in page
