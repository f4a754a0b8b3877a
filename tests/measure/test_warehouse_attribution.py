"""`flywheel attribution run` over the warehouse: paths per person after identity resolution, a
conversion window, stored credits per channel, campaign and day — the same on DuckDB and Spark."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from flywheel.measure import attribute
from flywheel.measure.paths import Paths
from flywheel.measure.runs import run_attribution
from flywheel.measure.touches import Window

T0 = dt.datetime(2025, 6, 10, 4, tzinfo=dt.timezone.utc)  # 12:00 in Shanghai
AS_OF = T0 + dt.timedelta(days=60)
DAY = dt.timedelta(days=1)
# person: (touches as (channel, campaign, offset from T0)), orders as (offset, cents)
PEOPLE = {
    "p1": ([("alimama", "a1", -10 * DAY), ("baidu", "b1", -2 * DAY), ("tencent", "c1", 3 * DAY)],
           [(dt.timedelta(0), 10_000), (5 * DAY, 3_000)]),
    "p2": ([("baidu", "b2", -DAY)], [(dt.timedelta(0), 5_000)]),
    "p3": ([("alimama", "a1", -40 * DAY)], [(dt.timedelta(0), 7_700)]),   # touch outside the window
    "p4": ([("tencent", "c1", -5 * DAY), ("tencent", "c1", -3 * DAY)], []),  # a path that did not convert
    "p5": ([("alimama", "a1", 50 * DAY)], []),                              # too recent to have failed
}


def _world(wh) -> None:
    """Each person has a tracking account and a shop account, linked as identity resolution does."""
    accounts, links, events, tps, orders = [], [], [], [], []
    for person, (touches, buys) in PEOPLE.items():
        for source, key in (("segment", f"u-{person}"), ("shopify", f"h:{person}")):
            accounts.append({"source": source, "account_key": key})
            links.append({"source": source, "account_key": key, "person_id": person})
        for i, (channel, campaign, offset) in enumerate(touches):
            mid = f"m-{person}-{i}"
            events.append({"message_id": mid, "source": "segment", "type": "page", "user_id": f"u-{person}",
                           "timestamp": T0 + offset})
            tps.append({"touchpoint_id": mid, "user_id": f"u-{person}", "channel": channel, "campaign_id": campaign,
                        "occurred_at": T0 + offset})
        for i, (offset, cents) in enumerate(buys):
            orders.append({"source": "shopify", "order_id": f"#{person}-{i}", "account_key": f"h:{person}",
                           "status": "paid", "created_at": T0 + offset, "paid_at": T0 + offset, "paid_cents": cents})
    sent = [{"action_key": "welcome/p2/1/0", "journey": "welcome", "person_id": "p2", "episode": 1, "step": "0",
             "channel": "wecom", "purpose": "wecom_outreach", "scheduled_at": T0 - dt.timedelta(hours=12),
             "status": "sent", "created_at": T0 - dt.timedelta(hours=12), "sent_at": T0 - dt.timedelta(hours=12)},
            {"action_key": "welcome/p4/1/0", "journey": "welcome", "person_id": "p4", "episode": 1, "step": "0",
             "channel": "wecom", "purpose": "wecom_outreach", "scheduled_at": T0, "status": "skipped",
             "created_at": T0}]
    for name, rows in (("accounts", accounts), ("person_accounts", links), ("events", events),
                       ("touchpoints", tps), ("orders", orders), ("journey_actions", sent)):
        wh.append(name, pa.Table.from_pylist(rows))


def _stored(wh, run_id: str) -> list[tuple]:
    c = wh.table("attribution_credits")
    rows = wh.fetch(c.filter(c.run_id == run_id)).to_pylist()
    return sorted((r["model"], r["channel"], r["campaign_id"], r["day"], round(r["conversions"], 9), r["value_cents"],
                   round(r["new_customers"], 9)) for r in rows)


def _comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("run_id", "seconds", "engine")}


def test_paths_windows_and_credits_follow_the_rules(warehouse):
    _world(warehouse)
    r = run_attribution(warehouse, Window(as_of=AS_OF))
    assert r["conversions"] == {"total": 4, "attributed": 3, "unattributed": 1}, "p3's touch is 40 days old"
    assert r["attributed_value"] == 180.0
    m = r["models"]
    assert m["first"]["credits"] == {"alimama": 1.0, "baidu": 1.0, "tencent": 1.0}
    assert m["last"]["credits"] == {"tencent": 1.0, "wecom": 1.0, "baidu": 1.0}
    assert m["linear"]["credits"] == {"alimama": 0.5, "baidu": 1.0, "tencent": 1.0, "wecom": 0.5}
    assert m["linear"]["value_credits"] == {"alimama": 50.0, "baidu": 75.0, "tencent": 30.0, "wecom": 25.0}
    assert m["linear"]["new_customers"] == {"alimama": 0.5, "baidu": 1.0, "tencent": 0.0, "wecom": 0.5}
    decay_a, decay_b = 2 ** (-10 / 7), 2 ** (-2 / 7)
    assert m["time_decay"]["credits"]["alimama"] == pytest.approx(decay_a / (decay_a + decay_b), abs=1e-6)
    # the aggregated paths: what the path models read
    expected = Paths(has_nulls=True, has_values=True)
    for touches, conv, nulls, value in ((("alimama", "baidu"), 1, 0, "100"), (("baidu", "wecom"), 1, 0, "50"),
                                        (("tencent",), 1, 0, "30"), (("alimama",), 0, 1, "0"),
                                        (("tencent", "tencent"), 0, 1, "0")):
        expected.add(touches, conv, nulls, Decimal(value))
    markov = attribute(expected, "markov")
    assert m["markov"]["credits"] == pytest.approx(markov["credits"], abs=1e-6)
    assert m["markov"]["removal_effects"] == pytest.approx(markov["removal_effects"], abs=1e-6)
    assert r["paths"] == {"distinct": 5, "channels": 4, "null": 2}, "p5's touch has not had its window yet"
    rows = _stored(warehouse, r["run_id"])
    for model in m:
        assert sum(x[5] for x in rows if x[0] == model) == 18_000, f"{model}: value credits add up to the cent"
    linear_baidu = [x for x in rows if x[0] == "linear" and x[1] == "baidu"]
    assert [(x[2], x[3], x[4]) for x in linear_baidu] == [("b1", dt.date(2025, 6, 10), 0.5),
                                                          ("b2", dt.date(2025, 6, 10), 0.5)]
    runs = warehouse.table("attribution_runs")
    assert warehouse.count("attribution_runs") == len(m) and set(
        warehouse.fetch(runs.select("model")).column(0).to_pylist()) == set(m)


def test_first_conversions_leave_out_later_orders_and_value_can_be_the_window_and_journeys_optional(warehouse):
    _world(warehouse)
    first = run_attribution(warehouse, Window(as_of=AS_OF, conversions="first", journeys=False))
    assert first["conversions"]["total"] == 3 and first["conversions"]["attributed"] == 2
    assert first["models"]["linear"]["credits"] == {"alimama": 0.5, "baidu": 1.5}
    assert first["models"]["linear"]["credits"] == first["models"]["linear"]["new_customers"]
    short = run_attribution(warehouse, Window(as_of=AS_OF, window_days=1.5, journeys=False))
    assert short["models"]["last"]["credits"] == {"baidu": 1.0}, "only p2's touch is within 1.5 days"
    assert short["conversions"] == {"total": 4, "attributed": 1, "unattributed": 3}


@pytest.mark.spark
@pytest.mark.slow
def test_attribution_economics_and_experiments_agree_on_duckdb_and_spark(warehouse, spark_warehouse):
    from flywheel.measure.economics import channel_report
    from flywheel.measure.registry import analyze_experiment, create_experiment, record_exposures

    seen = []
    for wh in (warehouse, spark_warehouse):
        _world(wh)
        wh.append("campaign_spend", pa.Table.from_pylist([
            {"campaign_id": c, "channel": ch, "day": dt.date(2025, 6, 1), "spend_cents": cents, "clicks": 100}
            for ch, c, cents in (("alimama", "a1", 10_000), ("baidu", "b1", 6_000), ("tencent", "c1", 999))]))
        run = run_attribution(wh, Window(as_of=AS_OF), order=2)
        report = channel_report(wh, run["run_id"], "linear")
        exp = create_experiment(wh, "offer", ["control", "treatment"])
        record_exposures(wh, exp, list(PEOPLE), T0 - DAY)
        test = analyze_experiment(wh, "offer")
        seen.append((run, _stored(wh, run["run_id"]), {k: v for k, v in report.items() if k != "run_id"},
                     {k: v for k, v in test.items() if k != "experiment"}))
    (duck, duck_rows, duck_report, duck_test), (spark, spark_rows, spark_report, spark_test) = seen
    assert _comparable(duck) == _comparable(spark)
    assert duck_rows == spark_rows
    assert duck_report == spark_report
    assert duck_test == spark_test
