"""Overview, retention and funnel on a hand-made merchant whose answers are worked out by hand."""

from __future__ import annotations

import datetime as dt

import insight_world as world
import pytest

from flywheel.errors import InputError
from flywheel.insight import Period, build_rollups, funnel, overview, retention

MARCH = Period(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
STEPS = ["Product Viewed", "Product Added", "Order Completed"]


@pytest.fixture
def wh(warehouse):
    world.build(warehouse)
    build_rollups(warehouse, now=world.at("2026-06-01T00:00"))
    return warehouse


def test_overview_of_march_counts_gmv_orders_and_buyers_on_the_merchants_calendar(wh):
    f = overview(wh, MARCH)["figures"]
    assert f["gmv_cents"] == 10000 + 5000 + 3000, "the cancelled order and the 1 April (Shanghai) order are out"
    assert f["refund_cents"] == 5000 and f["net_cents"] == 13000
    assert f["orders"] == 3 and f["buyers"] == 2
    assert f["aov_cents"] == 6000 and f["gmv_per_buyer_cents"] == 9000
    assert f["repeat_buyers"] == 1 and f["repeat_rate"] == 0.5
    assert (f["new_buyers"], f["returning_buyers"]) == (2, 0)
    assert f["persons"] == 6 and f["linked_persons"] == 1 and f["link_rate"] == pytest.approx(1 / 6)


def test_overview_of_april_sees_both_buyers_return_and_filters_by_source(wh):
    april = Period(dt.date(2026, 4, 1), dt.date(2026, 4, 30))
    f = overview(wh, april)["figures"]
    assert (f["orders"], f["buyers"], f["new_buyers"], f["returning_buyers"]) == (2, 2, 0, 2)
    assert f["gmv_cents"] == 24000 and f["net_cents"] == 23000
    jd = overview(wh, april, sources=["jd"])["figures"]
    assert (jd["orders"], jd["buyers"], jd["gmv_cents"]) == (1, 1, 20000)
    empty = overview(wh, Period(dt.date(2025, 1, 1), dt.date(2025, 1, 31)))["figures"]
    assert empty["buyers"] == 0 and empty["repeat_rate"] is None and empty["aov_cents"] is None


def test_overview_series_follows_the_grain(wh):
    o = overview(wh, Period(dt.date(2026, 3, 1), dt.date(2026, 5, 31)), grain="month")
    assert [(s["period"], s["orders"], s["gmv_cents"]) for s in o["series"]] == [
        ("2026-03", 3, 18000), ("2026-04", 2, 24000), ("2026-05", 1, 2500)]
    assert overview(wh, MARCH)["grain"] == "day"


def test_monthly_purchase_retention_starts_at_100_and_leaves_unfinished_months_blank(wh):
    r = retention(wh, grain="month", basis="purchase")
    assert r["as_of"] == "2026-05-10"
    (march,) = r["cohorts"]
    assert (march["cohort"], march["size"]) == ("2026-03", 2)
    cells = march["cells"]
    assert cells[0] == {"persons": 2, "rate": 1.0}
    assert cells[1] == {"persons": 2, "rate": 1.0}, "P2's order at 01:30 on 1 April (Shanghai) is an April order"
    assert cells[2] is None, "May has not ended on the last day of data: blank, not 0%"


def test_event_retention_uses_first_activity(wh):
    r = retention(wh, grain="month", basis="event")
    by = {c["cohort"]: c for c in r["cohorts"]}
    assert by["2026-02"]["size"] == 1, "P5 was first active in February"
    assert by["2026-03"]["size"] == 5
    assert by["2026-02"]["cells"][1] == {"persons": 1, "rate": 1.0}


def test_weekly_retention_weeks_start_on_monday(wh):
    r = retention(wh, grain="week", basis="purchase")
    assert r["cohorts"][0]["start"] == "2026-02-23" and r["cohorts"][0]["cohort"] == "2026-W09"


def test_funnel_window_order_and_range_edge_cases(wh):
    res = funnel(wh, STEPS, MARCH, window_days=14)
    persons = [s["persons"] for s in res["steps"]]
    assert persons == [4, 2, 1], res  # P1 P3 P4 P6 start; P3 is a day late, P4 out of order; P5 starts in February
    s2, s3 = res["steps"][1], res["steps"][2]
    assert s2["conversion"] == 0.5 and s2["dropped"] == 2 and s2["median_seconds_from_start"] == 86400
    assert s3["step_conversion"] == 0.5 and s3["median_seconds_from_start"] == 3 * 86400
    assert s3["median_seconds_from_previous"] == 2 * 86400
    wider = funnel(wh, STEPS, MARCH, window_days=15)
    assert [s["persons"] for s in wider["steps"]] == [4, 3, 1], "at 15 days P3's add is inside the window"
    everything = funnel(wh, STEPS, Period(), window_days=14)
    assert everything["steps"][0]["persons"] == 5 and everything["converted"] == 2, "with no range P5 counts"


def test_funnel_repeating_a_step_needs_a_later_event(wh):
    res = funnel(wh, ["Product Viewed", "Product Viewed"], MARCH, window_days=14)
    assert [s["persons"] for s in res["steps"]] == [4, 1], "only P6 viewed twice"


def test_funnel_refuses_unknown_events_and_bad_windows(wh):
    with pytest.raises(InputError, match="step 2: no track event named 'Nope'"):
        funnel(wh, ["Product Viewed", "Nope"], MARCH)
    with pytest.raises(InputError, match="window_days"):
        funnel(wh, STEPS, MARCH, window_days=0)
    with pytest.raises(InputError, match="2 to 8"):
        funnel(wh, ["Product Viewed"], MARCH)
