"""`flywheel demo` closes the loop: the shipped segments and the example journey run on the simulated
merchant, the simulator answers the sends, and the report shows the funnel for treatment and holdout."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_the_example_journey_and_reports_treatment_against_holdout(demo_run):
    out, payload = demo_run
    loop = payload["activation"]
    groups = loop["groups"]
    treated, held = groups["treatment"], groups["holdout"]
    entered = treated["entered"] + held["entered"]
    assert entered > 50, groups
    assert held["sent"] == 0 and held["redeemed"] == 0, "the holdout receives nothing"
    assert 0 < treated["sent"] <= treated["entered"]
    assert loop["sent"].get("wecom", 0) >= treated["sent"], "the first send is the WeCom care message"
    share, sd = held["entered"] / entered, math.sqrt(0.2 * 0.8 / entered)
    assert abs(share - 0.2) < 4 * sd, (share, entered)
    assert 0 < loop["true_lift"] < 0.28, "the simulator's truth is a few points, not the reports' 28%"
    low, high = groups["lift"]["ci95"]
    assert low <= loop["true_lift"] <= high, ("the measured interval covers the truth over the same windows",
                                              groups["lift"], loop["true_lift"])
    assert loop["response_orders"] > 0
    report = (out / "demo" / "report.html").read_text(encoding="utf-8")
    for text in ("Activation segments", "Journey: community_winback", "True effect (simulator)", "channel / reason",
                 "lapsed_vips", "redeemed a coupon", "Attribution: credit per channel and model", "true incremental orders",
                 "Channel economics", "Experiment: journey:community_winback", "Budget recommendation"):
        assert text in report, text
    m = payload["measurement"]
    test = m["experiments"]["journey:community_winback"]
    assert test["ci"][0] <= loop["true_lift"] <= test["ci"][1], ("the journey's experiment covers the truth", test)
    assert m["true_incremental_orders"]["baidu_brand"] == 0 and m["markov_credits"].get("baidu_brand", 0) > 0
    assert "baidu_brand" in m["flagged"], "credit without incrementality is flagged"
    assert m["conversions"]["attributed"] < m["conversions"]["total"]
