"""`score()` on a simulated merchant: every person scored once, runs kept, alerts, KOCs, CLV sense."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from value_merchant import copy_merchant, simulated_merchant  # noqa: F401

from flywheel.value import ScoreOptions, score
from flywheel.value.traits import default_as_of

pytestmark = pytest.mark.slow  # scores a simulated merchant: several seconds


@pytest.fixture(scope="module")
def scored(simulated_merchant, tmp_path_factory):
    """Two runs: 120 days before the end of the data, then at the end."""
    merchant = copy_merchant(simulated_merchant, tmp_path_factory.mktemp("score"))
    with merchant.open() as wh:
        end = default_as_of(wh)
        first = score(wh, ScoreOptions(as_of=end - dt.timedelta(days=120)))
        second = score(wh)
        scores = wh.fetch("person_scores").to_pandas()
        alerts = wh.fetch("value_alerts").to_pandas()
        runs = wh.fetch("value_runs").to_pandas()
        traits = wh.fetch("person_traits").to_pandas().set_index("person_id")
    return merchant, first, second, scores, alerts, runs, traits


def _run(scores, summary):
    return scores[scores["run_id"] == summary["run_id"]].set_index("person_id")


def test_every_person_is_scored_once_per_run_and_runs_are_kept(scored):
    _, first, second, scores, _, runs, traits = scored
    assert list(runs["run_id"]) == [first["run_id"], second["run_id"]]
    now = _run(scores, second)
    assert now.index.is_unique and set(now.index) == set(traits.index) and len(now) == second["persons"]
    assert sum(t["persons"] for t in second["tiers"]) == second["persons"]
    assert set(now["tier"]) <= {t["tier"] for t in second["tiers"]}
    assert sum(second["rfm_segments"].values()) == second["persons"]
    assert sum(c["persons"] for c in second["clusters"]) == second["persons"] and len(second["clusters"]) == 8
    assert all(c["description"] for c in second["clusters"])


def test_rfm_scores_are_quintiles_among_buyers(scored):
    _, _, second, scores, _, _, traits = scored
    now = _run(scores, second).join(traits[["orders", "recency_days"]])
    buyers, never = now[now["orders"] > 0], now[now["orders"] == 0]
    assert (never[["rfm_r", "rfm_f", "rfm_m"]] == 0).all().all() and (never["rfm_segment"] == "prospect").all()
    assert buyers[["rfm_r", "rfm_f", "rfm_m"]].isin(range(1, 6)).all().all()
    # more recent buyers never score a lower R
    ordered = buyers.sort_values("recency_days")
    assert (np.diff(ordered["rfm_r"].to_numpy()) <= 0).all()
    assert buyers.groupby("rfm_r").size().max() < 0.45 * len(buyers)


def test_clv_and_p_alive_make_sense_against_the_true_process(scored):
    merchant, _, second, scores, _, _, traits = scored
    now = _run(scores, second).join(traits[["orders"]])
    buyers = now[now["orders"] > 0]
    assert buyers["potential_value"].notna().all() and (buyers["potential_value"] >= 0).all()
    assert buyers["p_alive"].between(0, 1).all()
    assert np.allclose(buyers["churn_probability"], 1 - buyers["p_alive"])
    truth = pd.read_csv(merchant.data / "truth" / "persons.csv", dtype={"person_id": str}).set_index("person_id")
    joined = buyers.join(truth, how="inner", rsuffix="_true")
    alive = joined.groupby("alive_at_end")["p_alive"].mean()
    assert alive.loc[1] > alive.loc[0] + 0.02, alive
    assert joined["expected_orders"].corr(joined["purchase_rate"], method="spearman") > 0.3
    assert second["clv"]["holdout"]["by_frequency"] and second["clv"]["models"]["purchase_model"] == "mbgnbd"


def test_kocs_are_the_planted_ones(scored):
    merchant, _, second, scores, _, _, _ = scored
    now = _run(scores, second)
    truth = pd.read_csv(merchant.data / "truth" / "persons.csv", dtype={"person_id": str}).set_index("person_id")
    planted = set(truth.index[truth["is_koc"] == 1])
    found = set(now.index[now["is_koc"]])
    assert planted and found == planted
    # k-means has no notion of KOC, but the cluster of at least one of them is named for what they do
    labels = now.loc[sorted(planted), "cluster_label"]
    assert any("high invites brought" in label or "high reviews" in label for label in labels), labels


def test_a_clv_drop_over_20_percent_raises_an_alert_with_churn_probability(scored):
    _, first, second, scores, alerts, _, _ = scored
    before, now = _run(scores, first), _run(scores, second)
    both = now.join(before["potential_value"].rename("previous"), how="inner")
    both = both[(both["previous"] > 0) & both["potential_value"].notna()]
    drop = (both["previous"] - both["potential_value"]) / both["previous"]
    expected = set(both.index[drop > 0.2])
    assert expected and set(alerts["person_id"]) == expected and second["alerts"] == len(expected)
    got = alerts.set_index("person_id")
    assert (got["run_id"] == second["run_id"]).all() and (got["previous_run_id"] == first["run_id"]).all()
    np.testing.assert_allclose(got["churn_probability"], now.loc[got.index, "churn_probability"])
    np.testing.assert_allclose(got["drop_share"], drop.loc[got.index])


def test_value_flags_and_concentration(scored):
    _, _, second, scores, _, _, traits = scored
    now = _run(scores, second).join(traits[["days_since_last_activity", "gmv"]])
    flagged = now[now["high_potential_low_activity"]]
    assert len(flagged) and (flagged["days_since_last_activity"] > 60).all()
    assert flagged["potential_value"].min() >= now["potential_value"].dropna().quantile(0.75)
    assert now["value_score"].between(0, 100).all()
    top = second["concentration"]
    gmv = np.sort(traits["gmv"][traits["gmv"] > 0].to_numpy())[::-1]
    n = int(np.ceil(0.2 * len(gmv)))
    assert next(r for r in top if r["top_share"] == 0.2)["gmv_share"] == pytest.approx(gmv[:n].sum() / gmv.sum())


def test_a_shop_too_small_for_the_models_still_gets_tiers_and_segments(warehouse):
    from test_tiers import AS_OF, EXPECTED, load_hand_built

    load_hand_built(warehouse)
    summary = score(warehouse, ScoreOptions(as_of=AS_OF, k=8))
    assert summary["clv"]["models"] == {"skipped": "fewer than 20 buyers"}
    scores = warehouse.fetch("person_scores").to_pandas()
    assert len(scores) == len(EXPECTED) and scores["potential_value"].isna().all()
    assert sum(c["persons"] for c in summary["clusters"]) == len(EXPECTED)
    assert {t["tier"]: t["persons"] for t in summary["tiers"]}["diamond"] == 2
