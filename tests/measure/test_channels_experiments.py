"""Channel economics and the advisor, experiments in the warehouse, and the budget from campaigns."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from flywheel_cli import cli
from test_warehouse_attribution import AS_OF, T0, _world

from flywheel.errors import InputError
from flywheel.measure.economics import AdvisorRules, advise, channel_report, warehouse_arms
from flywheel.measure.registry import (
    analyze_experiment,
    create_experiment,
    experiment,
    list_experiments,
    record_exposures,
)
from flywheel.measure.runs import run_attribution
from flywheel.measure.touches import Window


def _spend(wh, rows: list[tuple[str, str, dt.date, int, int]]) -> None:
    wh.append("campaign_spend", pa.Table.from_pylist([
        {"campaign_id": c, "channel": ch, "day": d, "spend_cents": cents, "clicks": clicks}
        for ch, c, d, cents, clicks in rows]))


def _scores(wh, clv: dict[str, float]) -> None:
    wh.append("value_runs", pa.Table.from_pylist([{"run_id": "v1", "as_of": AS_OF, "settings": json.dumps(
        {"horizon_weeks": 52})}]))
    wh.append("person_scores", pa.Table.from_pylist([{"run_id": "v1", "person_id": p, "potential_value": v}
                                                     for p, v in clv.items()]))


def test_economics_price_the_credit_and_the_advisor_names_its_numbers(warehouse):
    _world(warehouse)
    _scores(warehouse, {"p1": 900.0, "p2": 150.0})
    day = dt.date(2025, 6, 1)
    _spend(warehouse, [("alimama", "a1", day, 10_000, 500), ("baidu", "b1", day, 6_000, 300),
                       ("baidu", "b2", day, 4_000, 200), ("tencent", "c1", day, 2_000, 100)])
    run = run_attribution(warehouse, Window(as_of=AS_OF, journeys=False))
    report = channel_report(warehouse, run["run_id"], "linear")
    by = {c["channel"]: c for c in report["channels"]}
    # linear new customers: p1's first order (alimama ½, baidu ½), p2's (baidu 1)
    assert by["alimama"]["new_customers"] == 0.5 and by["baidu"]["new_customers"] == 1.5
    assert by["alimama"]["cac_yuan"] == pytest.approx(100 / 0.5)
    assert by["baidu"]["cac_yuan"] == pytest.approx(100 / 1.5)
    assert by["alimama"]["avg_clv_yuan"] == pytest.approx(900.0)
    assert by["baidu"]["avg_clv_yuan"] == pytest.approx((0.5 * 900 + 150) / 1.5)
    assert by["alimama"]["ltv_cac"] == pytest.approx(900 / 200, abs=1e-4)
    assert by["alimama"]["roi"] == pytest.approx((50 - 100) / 100)
    assert by["tencent"]["new_customers"] == 0 and by["tencent"]["cac_yuan"] is None, "no first order: no CAC"
    assert by["alimama"]["payback_months"] == pytest.approx(report["clv_horizon_months"] * 200 / 900, abs=1e-3)
    campaigns = {(c["channel"], c["campaign_id"]): c for c in report["campaigns"]}
    assert campaigns[("baidu", "b2")]["cost_yuan"] == 40 and campaigns[("baidu", "b2")]["new_customers"] == 1.0
    rules = {n["rule"]: n for n in by["alimama"]["notes"]}
    assert "healthy" in rules and rules["healthy"]["numbers"]["cac_yuan"] == pytest.approx(200)
    assert "high_cac" not in rules and "low_cac" not in rules, "¥200 is between ¥140 and ¥350"
    assert "low_cac" in {n["rule"] for n in by["baidu"]["notes"]}
    months = {(m["month"], m["channel"]): m for m in report["months"]}
    assert months[("2025-06", "alimama")]["cost_yuan"] == 100 and months[("2025-06", "alimama")]["new_customers"] == 0.5
    assert months[("2025-06", "tencent")]["conversions"] == 1.0, "p1's second order, on 2025-06-15"
    assert sum(m["cost_yuan"] for m in report["months"]) == sum(c["cost_yuan"] for c in report["channels"])


def test_a_customer_the_scoring_run_has_not_seen_does_not_count_as_worth_nothing(warehouse):
    _world(warehouse)
    _scores(warehouse, {"p1": 900.0})  # p2 first ordered after the scoring run
    run = run_attribution(warehouse, Window(as_of=AS_OF, journeys=False))
    by = {c["channel"]: c for c in channel_report(warehouse, run["run_id"], "linear")["channels"]}
    assert by["baidu"]["new_customers"] == 1.5 and by["baidu"]["avg_clv_yuan"] == pytest.approx(900.0)
    assert by["alimama"]["avg_clv_yuan"] == pytest.approx(900.0)


def _channel(**kw) -> dict:
    base = {"channel": "x", "ltv_cac": None, "cac_yuan": None, "avg_clv_yuan": None, "cost_basis": "ad spend",
            "credit_share": 0.3, "conversions": 30.0, "revenue_yuan": 0.0, "cost_yuan": 0.0, "roi": None,
            "evidence": {"touches": 100, "converted": 40, "within_day": 36, "repeat_orders": 20}}
    return base | kw


@pytest.mark.parametrize("ratio, rule", [(3.0, "healthy"), (2.99, "thin"), (1.0, "thin"), (0.99, "losing")])
def test_ltv_cac_thresholds(ratio, rule):
    notes = advise(_channel(ltv_cac=ratio, cac_yuan=200.0, avg_clv_yuan=200.0 * ratio), AdvisorRules(), None, 10, 100)
    assert notes[0]["rule"] == rule


@pytest.mark.parametrize("cac, rule", [(139.0, "low_cac"), (140.0, None), (350.0, None), (351.0, "high_cac")])
def test_cac_thresholds(cac, rule):
    notes = advise(_channel(ltv_cac=1.5, cac_yuan=cac, avg_clv_yuan=1.5 * cac), AdvisorRules(), None, 10, 100)
    assert {n["rule"] for n in notes} & {"low_cac", "high_cac"} == ({rule} if rule else set())


def test_credit_without_incrementality_is_flagged_and_a_test_proposed_but_evidence_or_slow_orders_clear_it():
    rules = AdvisorRules()
    fast = advise(_channel(), rules, None, 10, 100)
    capture = next(n for n in fast if n["rule"] == "capture_suspected")
    assert capture["test"]["persons_per_arm"] > 0 and "To settle it" in capture["text"]
    slow = advise(_channel(evidence={"touches": 100, "converted": 40, "within_day": 10}), rules, None, 10, 100)
    assert [n["rule"] for n in slow] == ["unverified"], "orders that come days later are not the capture signature"
    small = advise(_channel(credit_share=0.01), rules, None, 10, 100)
    assert small == [], "a channel with almost no credit needs no test"
    measured = advise(_channel(), rules, {"experiment": "e", "lift": 0.02, "ci": [0.01, 0.03]}, 10, 100)
    assert [n["rule"] for n in measured] == ["measured"] and "incremental" in measured[0]["text"]


def test_assignment_is_deterministic_and_follows_the_weights(warehouse):
    exp = create_experiment(warehouse, "price-test", ["control", "treatment"], [80, 20])
    again = experiment(warehouse, "price-test")
    ids = [f"p{i}" for i in range(20_000)]
    first = [exp.assign(p) for p in ids]
    assert first == [again.assign(p) for p in ids], "the same person, the same variation"
    share = first.count("treatment") / len(ids)
    assert abs(share - 0.2) < 4 * (0.2 * 0.8 / len(ids)) ** 0.5
    other = create_experiment(warehouse, "other-test", ["a", "b"])
    agree = sum((exp.assign(p) == "treatment") == (other.assign(p) == "b") for p in ids) / len(ids)
    assert abs(agree - (0.2 * 0.5 + 0.8 * 0.5)) < 0.02, "salts make experiments independent"
    with pytest.raises(InputError, match="exists"):
        create_experiment(warehouse, "price-test", ["control", "treatment"])
    for bad in (dict(variations=["only"]), dict(variations=["a", "a"]), dict(variations=["a", "b"], weights=[1, 0]),
                dict(variations=["a", "b"], metric="clicks")):
        with pytest.raises(InputError):
            create_experiment(warehouse, "bad", **bad)


def test_an_experiment_is_analysed_from_recorded_exposures_and_journeys_holdouts_are_experiments(warehouse):
    _world(warehouse)
    exp = create_experiment(warehouse, "welcome-offer", ["control", "treatment"], window_days=7)
    persons = ["p1", "p2", "p3", "p4", "p5"]
    at = T0 - dt.timedelta(days=1)
    assigned = record_exposures(warehouse, exp, persons, at)
    record_exposures(warehouse, exp, persons, at + dt.timedelta(days=30))
    x = warehouse.table("experiment_exposures")
    assert warehouse.count("experiment_exposures") == 5, "a later exposure keeps the first"
    assert set(warehouse.fetch(x.select("exposed_at")).column(0).to_pylist()) == {at}
    groups = {v: [p for p in persons if assigned[p] == v] for v in exp.variations}
    assert groups == {"control": ["p1", "p4", "p5"], "treatment": ["p2", "p3"]}, "fixed by the salt"
    result = analyze_experiment(warehouse, "welcome-offer", cuped=False)
    buyers = {"p1", "p2", "p3"}  # each ordered at T0, a day after exposure
    assert result["results"][0]["effect"] == pytest.approx(1.0 - 1 / 3)
    assert [v["n"] for v in result["variations"]] == [3, 2] and buyers
    lone = create_experiment(warehouse, "lone", ["control", "treatment"], [99, 1])
    record_exposures(warehouse, lone, persons, at)
    with pytest.raises(InputError, match="at least two"):
        analyze_experiment(warehouse, "lone")
    warehouse.append("journeys", pa.Table.from_pylist([{
        "name": "winback", "definition": json.dumps({"holdout": {"percent": 20}, "conversion": {"within_days": 3}}),
        "sha256": "x", "status": "active"}]))
    episodes = [{"journey": "winback", "person_id": f"q{i}", "episode": 1, "grp": "holdout" if i < 4 else "treatment",
                 "entered_at": T0, "state": "completed"} for i in range(12)]
    episodes.append({"journey": "winback", "person_id": "q9", "episode": 2, "grp": "treatment",
                     "entered_at": T0 + dt.timedelta(days=40), "state": "active"})
    episodes.append({"journey": "winback", "person_id": "z", "episode": 1, "grp": "control", "entered_at": T0,
                     "state": "completed"})
    warehouse.append("journey_episodes", pa.Table.from_pylist(episodes))
    assert "journey:winback" in list_experiments(warehouse)
    result = analyze_experiment(warehouse, "journey:winback")
    assert [v["n"] for v in result["variations"]] == [4, 8], "first episodes; the global control is apart"
    assert result["experiment"]["weights"] == [0.2, 0.8]
    with pytest.raises(InputError, match="journey's holdout"):
        record_exposures(warehouse, experiment(warehouse, "journey:winback"), ["q1"], T0)
    with pytest.raises(InputError, match="decided when they enter"):
        experiment(warehouse, "journey:winback").assign("q1")


def test_budget_arms_come_from_campaign_clicks_and_credited_conversions(warehouse):
    _world(warehouse)
    last = dt.date(2025, 6, 12)
    _spend(warehouse, [("alimama", "a1", last, 10_000, 500), ("baidu", "b1", last, 6_000, 300),
                       ("baidu", "b2", last - dt.timedelta(days=9), 4_000, 200),
                       ("tencent", "c1", last - dt.timedelta(days=40), 2_000, 100)])
    run = run_attribution(warehouse, Window(as_of=AS_OF, journeys=False))
    arms, basis = warehouse_arms(warehouse, run["run_id"], "linear", days=30)
    by = {a.name: a for a in arms}
    assert set(by) == {"alimama/a1", "baidu/b1", "baidu/b2"}, "tencent spent 40 days before the last spend day"
    assert by["alimama/a1"].clicks == 500 and by["baidu/b2"].conversions == pytest.approx(1.0)
    assert by["baidu/b2"].share == 0 and by["alimama/a1"].share == pytest.approx(10 / 16)
    assert basis["to"] == last.isoformat()
    roi, basis = warehouse_arms(warehouse, run["run_id"], "linear", days=30, kind="roi")
    by = {a.name: a for a in roi}
    # value credited on the day of spend: nothing converted on 2025-06-12, so each day's ROI is −1
    assert by["alimama/a1"].roi_days == (-1.0,) and basis["posterior"] == "roi"
    with pytest.raises(InputError, match="posterior"):
        warehouse_arms(warehouse, run["run_id"], "linear", kind="clicks")


def _json(monkeypatch, capsys, *args) -> dict:
    code, out, err = cli(monkeypatch, capsys, *args)
    assert code == 0, err
    return json.loads(out)


def test_the_commands_keep_their_contracts(monkeypatch, capsys, warehouse):
    _world(warehouse)
    _spend(warehouse, [("alimama", "a1", dt.date(2025, 6, 1), 10_000, 500), ("baidu", "b1", dt.date(2025, 6, 1),
                                                                              6_000, 300)])
    warehouse.close()
    run = _json(monkeypatch, capsys, "attribution", "run", "--window", "30d", "--as-of", AS_OF.isoformat(), "--json")
    assert {"run_id", "conversions", "models", "paths", "evidence"} <= set(run)
    assert set(run["models"]["markov"]) >= {"credits", "value_credits", "removal_effects"}
    report = _json(monkeypatch, capsys, "channels", "report", "--model", "linear", "--json")
    assert {c["channel"] for c in report["channels"]} >= {"alimama", "baidu"}
    budget = _json(monkeypatch, capsys, "budget", "recommend", "--model", "linear", "--json")
    assert abs(sum(a["share"] for a in budget["arms"]) - 1) < 1e-9 and budget["basis"]["run_id"] == run["run_id"]
    _json(monkeypatch, capsys, "experiment", "create", "t1", "--weights", "50,50", "--json")
    got = _json(monkeypatch, capsys, "experiment", "assign", "t1", "p1", "p2", "--json")
    assert set(got["assignments"]) == {"p1", "p2"}


def test_a_revenue_experiment_caps_its_outliers_only_when_asked(warehouse):
    _world(warehouse)
    exp = create_experiment(warehouse, "revenue-a", ["control", "treatment"], metric="revenue")
    record_exposures(warehouse, exp, ["p1", "p2", "p3", "p4", "p5"], T0 - dt.timedelta(days=1))
    raw = analyze_experiment(warehouse, "revenue-a", cuped=False)
    means = {v["variation"]: v["mean"] for v in raw["variations"]}
    # yuan paid within 7 days of exposure: p1 100 + 30, p3 77, p5 0 (control); p2 50, p4 0 (treatment)
    assert means == pytest.approx({"control": 207 / 3, "treatment": 25})
    capped = analyze_experiment(warehouse, "revenue-a", cuped=False, cap=0.5)
    capped_means = {v["variation"]: v["mean"] for v in capped["variations"]}
    assert capped_means["control"] == pytest.approx(100 / 3), "130 and 77 capped at the median, 50"
    assert capped_means["treatment"] == pytest.approx(25), "values under the cap are left alone"
    with pytest.raises(InputError, match="quantile"):
        analyze_experiment(warehouse, "revenue-a", cap=1.5)
    create_experiment(warehouse, "conv", ["a", "b"])
    with pytest.raises(InputError, match="revenue"):
        analyze_experiment(warehouse, "conv", cap=0.99)


def test_bad_options_are_one_line_and_an_empty_warehouse_is_not_an_error(monkeypatch, capsys, warehouse, tmp_path):
    warehouse.close()
    empty = _json(monkeypatch, capsys, "attribution", "run", "--json")
    assert empty["conversions"] == {"total": 0, "attributed": 0, "unattributed": 0} and empty["models"]["markov"][
        "credits"] == {}
    for args, says in ((("attribution", "run", "--window", "soon"), "--window: 'soon' is not a duration"),
                       (("attribution", "run", "--window", "0d"), "--window: '0d' must be longer than nothing"),
                       (("attribution", "run", "--models", "linear,magic"), "unknown model magic"),
                       (("channels", "report", "--low-cac", "400"), "0 < --low-cac < --high-cac"),
                       (("channels", "report", "--model", "shapley_exact"), "has no 'shapley_exact' credits")):
        code, out, err = cli(monkeypatch, capsys, *args)
        assert code == 1 and says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, (args, err)
    rules = AdvisorRules(healthy_ltv_cac=2, low_cac_yuan=100, high_cac_yuan=101)
    assert rules.low_cac_yuan < rules.high_cac_yuan, "thresholds in order are accepted"


def test_the_report_prices_a_run_without_markov_with_the_models_it_has(warehouse, tmp_path):
    from flywheel.report import build_report

    _world(warehouse)
    run_attribution(warehouse, Window(as_of=AS_OF), models=("first",))
    html = build_report(warehouse, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Channel economics (first credit)" in html and "Attribution: credit per channel and model" in html
