"""RFM quintiles and segments, value percentiles and weights, concentration: small known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flywheel.errors import InputError
from flywheel.value.clusters import cluster_persons, describe
from flywheel.value.rfm import quintile, rfm_scores, segment
from flywheel.value.worth import ValueSettings, concentration, concentration_curve, percentile, value_scores


def test_quintiles_split_evenly_and_ties_share_a_score():
    assert list(quintile(pd.Series(range(1, 11)))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert list(quintile(pd.Series(range(1, 11)), higher_is_better=False)) == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    tied = quintile(pd.Series([1, 1, 1, 1, 1, 1, 2, 3, 4, 5]))
    assert len(set(tied[:6])) == 1 and list(tied[6:]) == [4, 4, 5, 5]
    assert list(quintile(pd.Series([np.nan, 3.0]))) == [0, 5]


def test_named_segments():
    assert segment(5, 5, 5) == "champions"
    assert segment(5, 1, 1) == "new"
    assert segment(1, 5, 5) == "cant_lose"
    assert segment(2, 3, 4) == "at_risk"
    assert segment(1, 1, 1) == "lost"
    assert segment(2, 1, 2) == "hibernating"
    assert segment(3, 1, 2) == "about_to_sleep"
    assert segment(0, 0, 0) == "prospect"


def test_rfm_scores_on_a_frame():
    traits = pd.DataFrame({"orders": [0, 1, 3, 8], "recency_days": [np.nan, 300, 40, 2],
                           "purchase_days": [0, 1, 3, 8], "net_value": [0, 50, 400, 3000]})
    out = rfm_scores(traits)
    assert list(out["rfm_r"]) == [0, 2, 4, 5] and list(out["rfm_segment"])[0] == "prospect"
    assert out.loc[3, "rfm_segment"] == "champions"


def test_percentile_and_weighted_score():
    assert list(percentile(pd.Series([0.0, np.nan, 5.0, 10.0]))) == [0.0, 0.0, 0.75, 1.0]
    traits = pd.DataFrame({"net_value_365d": [0, 100, 200, 300], "invited_gmv": [0, 0, 0, 500],
                           "reviews_written": [0, 0, 1, 2], "reviews_with_media": [0, 0, 0, 2],
                           "days_since_last_activity": [400, 10, 90, 5], "invites_accepted": [0, 0, 0, 9],
                           "invites_converted": [0, 0, 0, 1]})
    potential = pd.Series([np.nan, 50.0, 400.0, 300.0])
    out = value_scores(traits, potential, ValueSettings(weights=(1, 0, 0, 0)))
    assert list(out["value_score"]) == [0, 50, 75, 100]
    assert list(out["content_value"]) == [0, 0, 1, 6]
    assert list(out["high_potential_low_activity"]) == [False, False, True, False]
    assert list(out["is_koc"]) == [False, False, False, True]


def test_weights_parse_and_reject_bad_input():
    assert ValueSettings.parse_weights("") == (0.4, 0.4, 0.1, 0.1)
    assert ValueSettings.parse_weights("social=1, content=0") == (0.4, 0.4, 1.0, 0.0)
    for bad, message in (("loyalty=1", "unknown value 'loyalty'"), ("current=x", "needs a number"),
                         ("current=-1", "≥ 0"), ("current=0,potential=0,social=0,content=0", "positive")):
        with pytest.raises(InputError, match=message):
            ValueSettings.parse_weights(bad)


def test_concentration_table_and_curve():
    gmv = pd.Series([50.0, 20, 10, 10, 5, 5, 0, 0])
    rows = {r["top_share"]: r for r in concentration(gmv, shares=(0.2, 0.5, 1.0))}
    assert rows[0.2]["persons"] == 2 and rows[0.2]["gmv_share"] == pytest.approx(0.7)
    assert rows[0.5]["persons"] == 3 and rows[0.5]["gmv_share"] == pytest.approx(0.8)
    assert rows[1.0]["gmv_share"] == pytest.approx(1.0)
    curve = concentration_curve(gmv, points=6)
    assert curve[0] == (0.0, 0.0) and curve[-1] == (1.0, 1.0) and curve[1][1] == pytest.approx(0.5)


def test_clusters_are_numbered_by_size_and_described_by_what_sets_them_apart():
    rng = np.random.default_rng(0)
    n = 300
    traits = pd.DataFrame({name: rng.random(n) for name in (
        "purchase_days", "net_value", "aov", "recency_days", "tenure_days", "refund_rate",
        "discounted_order_share", "marketplace_order_share", "events", "campaign_touches",
        "invites_accepted", "reviews_written")})
    traits["wecom_member"] = False
    traits.loc[:59, ["net_value", "purchase_days", "aov"]] = [5000, 40, 900]  # a clear big-spender group
    result = cluster_persons(traits, k=2)
    assert result.sizes == {0: 240, 1: 60}
    assert set(result.descriptions[1].split(", ")) == {"high net spend", "high purchase days", "high order value"}
    assert (result.labels[:60] == 1).all()
    assert describe(pd.Series({"net_value": 0.1, "aov": -0.1})) == "close to the average person"
    with pytest.raises(InputError):
        cluster_persons(traits, k=0)


def test_cluster_descriptions_are_distinct():
    from flywheel.value.clusters import distinct_descriptions

    centres = pd.DataFrame({"net_value": [2.0, 1.5, 0.0], "aov": [1.0, 0.9, 0.0], "events": [0.5, -0.6, 0.0],
                            "purchase_days": [0.4, 0.4, 0.0]})
    got = distinct_descriptions(centres, top=2)
    assert got[0] == "high net spend, high order value"
    assert got[1] == "high net spend, high order value, low site activity"
    assert got[2] == "close to the average person"
