"""Traits on a simulated merchant, checked per true person against answers computed from truth/."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flywheel.value.traits import compute_traits, default_as_of
from value_merchant import copy_merchant, expected_purchases, expected_stage, simulated_merchant  # noqa: F401


@pytest.fixture(scope="module")
def merchant(simulated_merchant, tmp_path_factory):
    return copy_merchant(simulated_merchant, tmp_path_factory.mktemp("traits"))


@pytest.fixture(scope="module")
def traits(merchant):
    with merchant.open() as wh:
        as_of = default_as_of(wh)
        frame = compute_traits(wh, as_of).to_pandas().set_index("person_id")
    return as_of, frame


def _clear(merchant, frame):
    """True persons whose accounts are theirs alone (shared-phone/-device traps excluded)."""
    persons = frame.index[frame.index.str.startswith("P")]
    return persons.difference(pd.Index(sorted(merchant.ambiguous)))


def test_purchase_traits_match_truth_orders_per_person(merchant, traits):
    as_of, frame = traits
    expected = expected_purchases(merchant.data, as_of)
    persons = _clear(merchant, frame).intersection(expected.index)
    assert len(persons) > 150, "too few truth-linked buyers to mean anything"
    got, want = frame.loc[persons], expected.loc[persons]
    for name in ("orders", "purchase_days", "orders_90d", "orders_refunded", "orders_jd"):
        assert (got[name].to_numpy() == want[name].to_numpy()).all(), name
    for name in ("gmv", "refunds", "net_value", "gmv_365d"):
        np.testing.assert_allclose(got[name], want[name], atol=1e-6, err_msg=name)
    for name in ("recency_days", "days_since_first_order"):  # counted in whole seconds
        np.testing.assert_allclose(got[name], want[name], atol=1.01 / 86400, rtol=0, err_msg=name)
    np.testing.assert_allclose(got["mean_interpurchase_days"], want["mean_interpurchase_days"], err_msg="gap")
    assert (got["first_order_at"] == want["first_order_at"]).all()
    assert (got["last_order_at"] == want["last_order_at"]).all()
    assert (got["aov"] - want["gmv"] / want["orders"]).abs().max() < 1e-6
    assert (got["is_repeat_buyer"] == (want["purchase_days"] >= 2)).all()


def test_lifecycle_stage_follows_its_written_rules(merchant, traits):
    as_of, frame = traits
    expected = expected_purchases(merchant.data, as_of)
    persons = _clear(merchant, frame)
    want = expected.reindex(persons).assign(orders=lambda f: f["orders"].fillna(0)).apply(expected_stage, axis=1)
    assert (frame.loc[persons, "lifecycle_stage"] == want).all()
    assert set(frame["lifecycle_stage"]) <= {"prospect", "new", "active", "at-risk", "lapsed", "won-back"}
    assert {"active", "lapsed", "prospect"} <= set(frame["lifecycle_stage"])


def test_persons_who_never_bought_have_zero_counts_and_unknown_averages(traits):
    _, frame = traits
    never = frame[frame["orders"] == 0]
    assert len(never) > 0
    assert (never[["gmv", "orders_30d", "items_bought", "purchase_days"]] == 0).all().all()
    assert never["aov"].isna().all() and never["recency_days"].isna().all()
    assert (never["lifecycle_stage"] == "prospect").all()


def test_events_reviews_and_wecom_match_truth(merchant, traits):
    as_of, frame = traits
    truth_events = pd.read_csv(merchant.data / "truth" / "events.csv")
    with merchant.open() as wh:
        stored = wh.fetch(wh.table("events").select("message_id")).to_pandas()
        reviews = wh.fetch(wh.table("reviews").select("message_id")).to_pandas()
    mine = truth_events.merge(stored, on="message_id")
    persons = _clear(merchant, frame)
    events = mine.groupby("person_id").size().reindex(persons, fill_value=0)
    assert (frame.loc[persons, "events"] == events).all()
    written = mine.merge(reviews, on="message_id").groupby("person_id").size().reindex(persons, fill_value=0)
    assert written.sum() > 0 and (frame.loc[persons, "reviews_written"] == written).all()
    accounts = pd.read_csv(merchant.data / "truth" / "accounts.csv", dtype=str)
    with merchant.open() as wh:
        seen = wh.fetch(wh.table("accounts").select("source", "account_key", "first_seen_at")).to_pandas()
    wecom = accounts[accounts["source"] == "wecom"].merge(
        seen, left_on=["source", "account_ref"], right_on=["source", "account_key"])
    joined = wecom.loc[wecom["first_seen_at"] <= pd.Timestamp(as_of), "person_id"]  # members by the as-of time
    assert len(joined) > 10 and (wecom["first_seen_at"] > pd.Timestamp(as_of)).any()
    assert (frame.loc[persons, "wecom_member"] == frame.loc[persons].index.isin(set(joined))).all()


def test_invites_and_conversions_follow_truth_referrals(merchant, traits):
    as_of, frame = traits
    truth = pd.read_csv(merchant.data / "truth" / "persons.csv", dtype=str)
    bought = expected_purchases(merchant.data, as_of)["gmv"]
    invited = truth.dropna(subset=["referred_by"]).assign(gmv=lambda f: f["person_id"].map(bought).fillna(0.0))
    clean = invited.groupby("referred_by")["person_id"].agg(lambda p: not set(p) & merchant.ambiguous)
    want = invited.groupby("referred_by").agg(invitees=("person_id", "size"),
                                              converted=("gmv", lambda g: int((g > 0).sum())),
                                              gmv=("gmv", "sum"))
    sharers = _clear(merchant, frame).intersection(want.index)
    assert len(sharers) >= 3 and want.loc[sharers, "invitees"].max() > 5, "KOCs with many invites are planted"
    got = frame.loc[sharers]
    assert (got["invitees"] == want.loc[sharers, "invitees"]).all()
    assert (got["invites_converted"] == want.loc[sharers, "converted"]).all()
    exact = sharers.intersection(clean.index[clean])  # no invitee on an account shared with someone else
    assert len(exact) >= 2
    np.testing.assert_allclose(got.loc[exact, "invited_gmv"], want.loc[exact, "gmv"], atol=1e-6)
    assert (got["invites_accepted"] >= got["invitees"]).all() and (got["shares_sent"] >= 1).all()
    was = frame.loc[_clear(merchant, frame), "was_invited"]
    assert set(was.index[was]) <= set(invited["person_id"])


def test_trait_types_and_bounds(traits):
    _, frame = traits
    for name in ("refund_rate", "discounted_order_share", "weekend_order_share", "marketplace_order_share",
                 "preferred_source_share", "top_product_share", "logged_in_event_share"):
        values = frame[name].dropna()
        assert ((values >= 0) & (values <= 1)).all(), name
    assert frame["preferred_weekday"].dropna().between(0, 6).all()
    assert frame["preferred_hour"].dropna().between(0, 23).all()
    assert (frame["net_value"] <= frame["gmv"] + 1e-9).all()
    assert (frame["orders_30d"] <= frame["orders_60d"]).all() and (frame["orders_90d"] <= frame["orders_365d"]).all()
