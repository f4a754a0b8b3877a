"""Traits with hand-computed answers: products and categories, local weekday/hour, discounts, consent,
WeCom, events and referrals of one small, fully known shop."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from flywheel.config import Settings
from flywheel.value.traits import compute_traits
from flywheel.warehouse import Warehouse, account_persons

UTC = dt.timezone.utc
AS_OF = dt.datetime(2025, 2, 1, tzinfo=UTC)
TS = pa.timestamp("us", "UTC")


def _t(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("hand_built")
    with Warehouse.open(Settings(db_path=root / "w.duckdb", key_file=root / "key")) as wh:
        return _load_and_compute(wh)


def _load_and_compute(wh) -> dict[str, dict]:
    wh.append("accounts", pa.table({
        "source": ["shopify", "wecom", "web", "web", "web"],
        "account_key": ["ann", "wx-ann", "u_ann", "anon:dev-bob", "anon:dev-late"],
        "account_key_type": ["email", "wecom_external_userid", "user_id", "anonymous_id", "anonymous_id"],
        "tags": [None, "vip|会员|复购", None, None, None], "owner": [None, "zhangli", None, None, None],
        "first_seen_at": pa.array([_t(2024, 1, 1), _t(2024, 6, 1), _t(2024, 2, 1), _t(2025, 1, 20),
                                   _t(2025, 2, 5)], TS)}))
    wh.append("person_accounts", pa.table({"source": ["shopify", "wecom", "web"],
                                           "account_key": ["ann", "wx-ann", "u_ann"], "person_id": ["ann"] * 3}))
    # Saturday 2025-01-04 21:30 and Saturday 2025-01-11 21:10 in Shanghai; Wednesday 2024-12-25 09:00
    created = [_t(2025, 1, 4, 13, 30), _t(2025, 1, 11, 13, 10), _t(2024, 12, 25, 1, 0)]
    wh.append("orders", pa.table({
        "source": ["shopify"] * 3, "order_id": ["1", "2", "3"], "account_key": ["ann"] * 3,
        "status": ["completed", "completed", "partially_refunded"], "created_at": pa.array(created, TS),
        "paid_cents": [10000, 30000, 20000], "discount_cents": [0, 5000, 0], "shipping_cents": [0, 800, None],
        "refund_cents": [0, 0, 5000], "channel": ["web", "web", "pos"]}))
    wh.append("order_items", pa.table({
        "source": ["shopify"] * 4, "order_id": ["1", "2", "2", "3"], "item_id": ["a", "b", "c", "d"],
        "product_id": ["SKU-1", "SKU-1", "SKU-2", "SKU-3"], "title": ["Lipstick", "Lipstick", "Comb", "Tea"],
        "quantity": [1, 2, 1, 4], "paid_cents": [10000, 20000, 10000, 20000], "refunded": [False, False, False, True]}))
    wh.append("products", pa.table({"product_id": ["SKU-1", "SKU-2", "SKU-3"],
                                    "title": ["Matte lipstick", "Wooden comb", "Red-bean tea"],
                                    "category": ["beauty", "home", "food"]}))
    wh.append("consents", pa.table({
        "source": ["web", "web", "wecom"], "account_key": ["u_ann", "u_ann", "wx-ann"],
        "purpose": ["marketing_email", "marketing_email", "wecom_outreach"],
        "status": ["granted", "withdrawn", "granted"],
        "recorded_at": pa.array([_t(2024, 3, 1), _t(2024, 9, 1), _t(2024, 6, 1)], TS)}))
    events = {"message_id": ["e1", "e2", "e3", "e4"], "type": ["page", "track", "track", "track"],
              "event": [None, "Product Viewed", "Referral Shared", "Referral Accepted"],
              "user_id": ["u_ann", "u_ann", "u_ann", None], "anonymous_id": ["dev-ann", "dev-ann", "dev-ann2", "dev-bob"],
              "source": ["web"] * 4,
              "timestamp": pa.array([_t(2025, 1, 30), _t(2025, 1, 30, 0, 1), _t(2025, 1, 19), _t(2025, 1, 20)], TS)}
    wh.append("events", pa.table(events))
    wh.append("referrals", pa.table({
        "share_id": ["s1", "s1"], "sharer_user_id": ["u_ann", "u_ann"], "invitee_user_id": [None, "dev-bob"],
        "channel": ["wechat", "wechat"], "shared_at": pa.array([_t(2025, 1, 19), None], TS),
        "accepted_at": pa.array([None, _t(2025, 1, 20)], TS), "message_id": ["e3", "e4"]}))
    traits = compute_traits(wh, AS_OF).to_pylist()
    name = {r["person_id"]: f'{r["source"]}:{r["account_key"]}' for r in wh.fetch(account_persons(wh)).to_pylist()
            if r["person_id"] != "ann"}
    return {name.get(r["person_id"], r["person_id"]): r for r in traits}


def test_products_categories_and_prices(rows):
    ann = rows["ann"]
    assert (ann["items_bought"], ann["order_lines"], ann["distinct_products"]) == (8, 4, 3)
    assert ann["top_product_id"] == "SKU-1" and ann["top_product_title"] == "Matte lipstick"
    assert ann["top_product_share"] == 0.5 and ann["top_category"] == "beauty" and ann["distinct_categories"] == 3
    assert ann["avg_item_price"] == pytest.approx(600 / 8) and ann["refunded_lines"] == 1
    assert ann["items_per_order"] == pytest.approx(8 / 3)


def test_money_discount_and_local_time_preferences(rows):
    ann = rows["ann"]
    assert (ann["gmv"], ann["refunds"], ann["net_value"], ann["aov"]) == (600, 50, 550, 200)
    assert ann["discounted_orders"] == 1 and ann["discounted_order_share"] == pytest.approx(1 / 3)
    assert ann["discount_rate"] == pytest.approx(50 / 650) and ann["shipping_total"] == 8
    assert ann["free_shipping_share"] == 0.5  # one of the two orders whose shipping is known
    assert ann["preferred_weekday"] == 5 and ann["weekend_order_share"] == pytest.approx(2 / 3)
    assert ann["preferred_hour"] == 21 and ann["preferred_daypart"] == "evening"
    assert ann["preferred_channel"] == "web" and ann["preferred_source"] == "shopify"
    assert ann["refund_rate"] == pytest.approx(1 / 3) and ann["orders_refunded"] == 1
    assert (ann["min_interpurchase_days"], ann["max_interpurchase_days"]) == (7, 10)
    assert ann["last_interpurchase_days"] == 7 and ann["mean_interpurchase_days"] == 8.5


def test_profile_consent_wecom_events_and_referrals(rows):
    ann, bob = rows["ann"], rows["web:anon:dev-bob"]
    assert ann["accounts"] == 3 and ann["account_sources"] == 3
    assert ann["wecom_member"] and ann["wecom_owner"] == "zhangli" and ann["wecom_tags"] == 3
    assert ann["consent_marketing_email"] == "withdrawn" and ann["consent_wecom_outreach"] == "granted"
    assert ann["consent_marketing_sms"] is None and ann["consents_granted"] == 1
    assert ann["events"] == 3 and ann["page_views"] == 1 and ann["product_views"] == 1 and ann["devices"] == 2
    assert ann["shares_sent"] == 1 and ann["invites_accepted"] == 1 and ann["invitees"] == 1
    assert ann["invites_converted"] == 0 and ann["share_acceptance_rate"] == 1.0
    assert bob["was_invited"] and bob["orders"] == 0 and bob["lifecycle_stage"] == "prospect"
    assert ann["first_seen_at"] == _t(2024, 1, 1) and ann["last_activity_at"] == _t(2025, 1, 30, 0, 1)
    assert ann["lifecycle_stage"] == "active" and ann["tenure_days"] == (AS_OF - _t(2024, 1, 1)).days
    late = rows["web:anon:dev-late"]  # first seen after the as-of time: known, but not yet there
    assert late["first_seen_at"] is None and late["tenure_days"] is None and late["accounts"] == 1
