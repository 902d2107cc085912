"""FAT reporting: requirement traceability, measured values against bands, verdicts and exit
statuses, the certificate's fields. Small pieces only: the full FAT runs once, in
test_fat_module.py."""

import ast
from pathlib import Path

import pytest
from gridpod.fat.measure import MeasurementError, Measurements, band_text, in_band
from gridpod.fat.run import (
    EXIT_CODES,
    FAT_DIR,
    exit_code,
    load_requirements,
    render_html,
    summarize,
)


def result(test, reqs, outcome, values=True):
    measured = [
        {"requirement": r, "verdict": "PASS" if outcome != "failed" else "FAIL", "quantity": "q",
         "value": 1, "unit": "", "band": "<= 2", "low": None, "high": 2}
        for r in reqs
    ] if values and outcome in ("passed", "failed") else []  # fmt: skip
    return {"test": test, "requirements": reqs, "outcome": outcome, "duration_s": 0.1,
            "message": "", "measurements": measured, "section": "s"}  # fmt: skip


def _marked_requirements() -> set[str]:
    used = set()
    for path in Path(FAT_DIR).glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "req":
                used.update(arg.value for arg in node.args if isinstance(arg, ast.Constant))
    return used


def test_every_fat_test_names_a_known_requirement_and_every_requirement_is_tested():
    requirements = load_requirements()
    used = _marked_requirements()
    assert len(requirements) >= 40, len(requirements)
    assert all(None not in row for row in requirements.values()), "a row with an unquoted comma"
    assert used <= set(requirements), f"unknown ids: {used - set(requirements)}"
    assert set(requirements) <= used, f"requirements without a test: {set(requirements) - used}"


def test_the_io_checkout_names_every_requirement_its_roles_verify():
    from gridpod.fat.io_checkout import ROLE_CHECKS
    from gridpod.vboard.board_file import load_board_file

    tree = ast.parse((Path(FAT_DIR) / "test_fat_02_io.py").read_text())
    fn = next(n for n in ast.walk(tree) if getattr(n, "name", "") == "test_io_checkout")
    marked = {a.value for d in fn.decorator_list if isinstance(d, ast.Call)
              for a in d.args if isinstance(a, ast.Constant) and str(a.value).startswith("REQ-")}  # fmt: skip
    assert marked == {req for req, _kind in ROLE_CHECKS.values()}
    for board in ("VIRTUAL", "ESP32_DEVKITC", "RPI_PICO"):  # every role of a module's board
        missing = set(load_board_file(board)["pins"]) - set(ROLE_CHECKS)
        assert not missing, (board, missing)


def test_verdicts():
    reqs = {"R1": {"requirement": "a"}, "R2": {"requirement": "b"}}
    s = summarize([result("t1", ["R1"], "passed"), result("t2", ["R2"], "passed")], reqs)
    assert s["verdict"] == "PASS" and s["requirement_counts"]["PASS"] == 2
    # a skipped test, a requirement with no test, a test with no value, a partial run
    s = summarize([result("t1", ["R1"], "passed"), result("t2", ["R2"], "skipped")], reqs)
    assert s["verdict"] == "INCOMPLETE" and [r["verdict"] for r in s["requirements"]] == [
        "PASS", "skipped"]  # fmt: skip
    s = summarize([result("t1", ["R1"], "passed")], reqs)
    assert s["verdict"] == "INCOMPLETE" and s["requirements"][1]["verdict"] == "not tested"
    s = summarize([result("t1", ["R1"], "passed"), result("t2", ["R2"], "passed", False)], reqs)
    assert s["verdict"] == "INCOMPLETE" and s["requirements"][1]["verdict"] == "no value"
    both = [result("t1", ["R1"], "passed"), result("t2", ["R2"], "passed")]
    assert summarize(both, reqs, partial=True)["verdict"] == "INCOMPLETE"
    # a failure, an unknown id; a bench error outranks everything (the firmware was not judged)
    s = summarize([result("t1", ["R1"], "failed"), result("t2", ["R2"], "skipped")], reqs)
    assert s["verdict"] == "FAIL" and s["requirements"][0]["verdict"] == "FAIL"
    s = summarize([result("t1", ["R9"], "passed")], reqs)
    assert s["verdict"] == "FAIL" and s["unknown_requirements"] == ["R9"]
    s = summarize([result("t1", ["R1"], "failed"), result("t2", ["R2"], "bench error")], reqs)
    assert s["verdict"] == "BENCH ERROR"


def test_exit_statuses():
    assert EXIT_CODES == {"PASS": 0, "FAIL": 1, "BENCH ERROR": 2, "INCOMPLETE": 4}
    assert exit_code(["PASS", "INCOMPLETE"]) == 4
    assert exit_code(["INCOMPLETE", "FAIL"]) == 1
    assert exit_code(["FAIL", "BENCH ERROR"]) == 2
    assert exit_code(["PASS", "PASS"]) == 0 and exit_code([]) == 2


class _Node:
    def __init__(self, reqs):
        self.user_properties = []
        self._reqs = reqs

    def iter_markers(self, name):
        return [type("M", (), {"args": self._reqs})()]


def test_a_measurement_is_recorded_then_judged_against_its_band():
    node = _Node(("R1",))
    measure = Measurements(node, "sec")
    measure("R1", "in band", 3.0, "V", low=2.0, high=4.0)
    with pytest.raises(MeasurementError, match="outside 2 .. 4 V"):
        measure("R1", "out of band", 5.0, "V", low=2.0, high=4.0)
    with pytest.raises(MeasurementError, match="not a requirement this test names"):
        measure("R2", "wrong requirement", 1, equals=1)
    assert [r["verdict"] for r in measure.records] == ["PASS", "FAIL"]  # recorded, then failed
    assert [k for k, _ in node.user_properties] == ["measurement", "measurement"]
    assert not in_band(1.0)  # a value with no band certifies nothing
    assert not in_band(float("nan"), high=1) and in_band("a", equals="a")
    assert band_text(high=5, unit="ms") == "<= 5 ms" and band_text(equals="x") == "= x"


def test_certificate_escapes_and_shows_identity_people_and_values():
    reqs = {"R1": {"requirement": "<script>x</script>"}}
    s = summarize([result("t<1>", ["R1"], "passed")], reqs)
    s.update(
        bench="virtual", module_id="M&1", firmware_digest="abc", gridpod_version="0",
        started_utc="now", people={"operator": "Ann O.", "witness": "Wit <W>"},
        identity={"firmware_hash": "abc123", "config_crc": "0badcafe", "unique_id": "feed",
                  "micropython": "1.29.0", "board": "VIRTUAL", "module_id": "M&1",
                  "sources": {"firmware_hash": "console"}},
    )  # fmt: skip
    page = render_html(s)
    assert "<script>x" not in page and "&lt;script&gt;" in page and "M&amp;1" in page
    assert ">PASS<" in page
    for text in ("abc123", "0badcafe", "feed", "Ann O.", "Wit &lt;W&gt;", "signature", "&lt;= 2"):
        assert text in page, text
