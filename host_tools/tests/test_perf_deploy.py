"""gridpod.perf.deploy runs end to end on virtual boards and its figures are consistent with what the
deploys did: full sends every file, no-op sends none, one changed module sends exactly one, and
every time is a positive measured number (no target is asserted: that is make bench's report)."""

from gridpod.perf.deploy import deploy_benchmark


def test_deploy_benchmark_measures_full_noop_one_file_and_plain_copy():
    r = deploy_benchmark()
    assert r["files"] > 10 and r["tree_bytes"] > 10_000
    assert r["deploy_full_sent"] == r["files"]
    assert r["deploy_noop_sent"] == 0
    assert r["deploy_one_file_sent"] == 1
    for key in (
        "deploy_full_s",
        "deploy_noop_s",
        "deploy_noop_cli_s",
        "deploy_one_file_s",
        "mpremote_cp_full_s",
        "mpremote_cp_again_s",
    ):
        assert 0 < r[key] < 120, (key, r[key])
    # decided on the running application's service channel: the decision is the whole no-op
    assert 0 < r["deploy_noop_check_s"] <= r["deploy_noop_s"] and not r["deploy_noop_restarted"]
    assert r["speedup_noop_vs_cp_full"] == round(r["mpremote_cp_full_s"] / r["deploy_noop_s"], 1)
