"""Referral fission: bindings and their fraud refusals, two-sided rewards, K per generation on a fixed
tree, structural virality."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pyarrow as pa
from flywheel_cli import cli

from flywheel.loyalty.referral import generations, trees
from flywheel.warehouse import Warehouse

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)


def _world() -> None:
    """A (a member) shares s1–s3; B and C accept and buy (C refunds in full); D accepts and never buys;
    B shares s4 and E accepts and buys; F shares A's device; G was a customer already; A's second
    account accepts A's own invite."""
    users = {"a": "A", "a2": "A", "b": "B", "c": "C", "d": "D", "e": "E", "f": "F", "g": "G"}
    events, referrals = [], []

    def event(mid, user, at, device, name):
        events.append({"message_id": mid, "type": "track", "event": name, "user_id": user, "anonymous_id": device,
                       "source": "web", "timestamp": at, "received_at": at})

    for i, (share, at) in enumerate([("s1", T0 + DAY), ("s2", T0 + DAY), ("s3", T0 + DAY)]):
        event(f"sh{i}", "a", at, "dev-a", "Referral Shared")
        referrals.append({"share_id": share, "sharer_user_id": "a", "channel": "wechat_group", "shared_at": at,
                          "message_id": f"sh{i}"})
    event("sh9", "b", T0 + 5 * DAY, "dev-b", "Referral Shared")
    referrals.append({"share_id": "s4", "sharer_user_id": "b", "channel": "wechat_moments", "shared_at": T0 + 5 * DAY,
                      "message_id": "sh9"})
    for mid, share, user, at, device in [("ac1", "s1", "b", T0 + 2 * DAY, "dev-b"), ("ac2", "s2", "c", T0 + 2 * DAY, "dev-c"),
                                         ("ac3", "s3", "d", T0 + 2 * DAY, "dev-d"), ("ac4", "s4", "e", T0 + 6 * DAY, "dev-e"),
                                         ("ac5", "s1", "f", T0 + 3 * DAY, "dev-a"), ("ac6", "s1", "g", T0 + 3 * DAY, "dev-g"),
                                         ("ac7", "s2", "a2", T0 + 3 * DAY, "dev-a2")]:
        event(mid, user, at, device, "Referral Accepted")
        inviter = "b" if share == "s4" else "a"
        referrals.append({"share_id": share, "sharer_user_id": inviter, "invitee_user_id": user, "accepted_at": at,
                          "message_id": mid})
    orders = [("o-a", "a", T0, 10000, 0, "completed"), ("o-g", "g", T0 + DAY, 5000, 0, "completed"),
              ("o-b", "b", T0 + 4 * DAY, 8000, 0, "completed"), ("o-c", "c", T0 + 4 * DAY, 8000, 8000, "refunded"),
              ("o-e", "e", T0 + 60 * DAY, 9000, 0, "completed")]
    with Warehouse.open() as wh:
        keys = sorted(users)
        wh.append("accounts", pa.table({"source": ["web"] * len(keys), "account_key": keys,
                                        "account_key_type": ["user_id"] * len(keys)}))
        wh.append("person_accounts", pa.table({"source": ["web"] * len(keys), "account_key": keys,
                                               "person_id": [users[k] for k in keys]}))
        people = sorted(set(users.values()))
        wh.append("persons", pa.table({"person_id": people, "status": ["active"] * len(people),
                                       "created_at": [T0] * len(people)}))
        wh.append("events", pa.Table.from_pylist(events))
        names = ("share_id", "sharer_user_id", "invitee_user_id", "channel", "shared_at", "accepted_at", "message_id")
        wh.append("referrals", pa.Table.from_pylist([{n: r.get(n) for n in names} for r in referrals]))
        wh.append("orders", pa.table({"source": ["web"] * len(orders), "order_id": [o[0] for o in orders],
                                      "account_key": [o[1] for o in orders], "paid_at": [o[2] for o in orders],
                                      "created_at": [o[2] for o in orders], "paid_cents": [o[3] for o in orders],
                                      "refund_cents": [o[4] for o in orders], "status": [o[5] for o in orders]}))


def _json(monkeypatch, capsys, *args, role="owner"):
    code, out, err = cli(monkeypatch, capsys, "--role", role, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_bindings_fraud_rewards_and_generations(monkeypatch, capsys):
    _world()
    now = (T0 + 70 * DAY).isoformat()
    outcome = _json(monkeypatch, capsys, "referral", "run", "--now", now)
    assert outcome["bound"] == 4, outcome
    assert outcome["refused"] == {"existing_customer": 1, "same_person": 1, "shared_device": 1}
    assert outcome["rewards"] == {"cancelled": 1, "issued": 1, "pending": 1} and outcome["coupons_issued"] == 2
    again = _json(monkeypatch, capsys, "referral", "run", "--now", now)
    assert again["coupons_issued"] == 0 and again["rewards"] == outcome["rewards"]
    with Warehouse.open() as wh:
        coupons = wh.fetch("coupons").to_pylist()
    assert sorted(c["person_id"] for c in coupons) == ["A", "B"] and {c["value_cents"] for c in coupons} == {5000}
    assert all(c["min_order_cents"] == 3000 for c in coupons)
    stats = _json(monkeypatch, capsys, "referral", "stats", role="analyst")
    assert [(g["generation"], g["members"], g["invites"], g["conversions"]) for g in stats["generations"]] == [
        (0, 2, 3, 2), (1, 2, 1, 1), (2, 1, 0, 0)]
    assert [round(g["k"], 3) for g in stats["generations"]] == [1.0, 0.5, 0.0]
    assert stats["depth"] == 2 and stats["referred_share"] == 3 / 5
    assert stats["trees"] == [{"root": "A", "size": 4, "depth": 2, "structural_virality": 10 / 6}]
    assert stats["visits_per_share"] == 7 / 4
    assert stats["koc_leaderboard"][0] | {} == {"person_id": "A", "conversions": 2, "bound": 3, "refused": 3,
                                                "refused_by_reason": {"existing_customer": 1, "same_person": 1,
                                                                      "shared_device": 1}}
    hidden = _json(monkeypatch, capsys, "referral", "stats", role="auditor")
    assert hidden["trees"][0]["root"] is None and hidden["koc_leaderboard"][0]["person_id"] is None
    assert hidden["generations"] == stats["generations"]


def test_the_first_valid_binding_stays(monkeypatch, capsys):
    _world()
    _json(monkeypatch, capsys, "referral", "run", "--now", (T0 + 70 * DAY).isoformat())
    with Warehouse.open() as wh:  # D later accepts B's invite too: the binding to A stays
        wh.append("events", pa.table({"message_id": ["late"], "type": ["track"], "user_id": ["d"], "source": ["web"],
                                      "anonymous_id": ["dev-d"], "timestamp": [T0 + 8 * DAY]}))
        wh.append("referrals", pa.table({"share_id": ["s4"], "sharer_user_id": ["b"], "invitee_user_id": ["d"],
                                         "accepted_at": [T0 + 8 * DAY], "message_id": ["late"]}))
    outcome = _json(monkeypatch, capsys, "referral", "run", "--now", (T0 + 71 * DAY).isoformat())
    assert outcome["refused"]["already_bound"] == 1 and outcome["bound"] == 4


def test_structural_virality_of_a_chain_and_a_star():
    chain = {"b": "a", "c": "b", "d": "c"}
    star = {"b": "a", "c": "a", "d": "a"}
    (t1,), (t2,) = trees(chain, {}), trees(star, {})
    assert t1["structural_virality"] == (1 + 2 + 3 + 1 + 2 + 1) / 6 and t1["depth"] == 3
    assert t2["structural_virality"] == (3 * 1 + 3 * 2) / 6 and t2["depth"] == 1
    rows, _ = generations({"a", "b", "c", "d"}, chain, Counter({"a": 2, "b": 1, "c": 4}))
    assert [r["k"] for r in rows] == [1.0, 1.0, 1.0, 0.0]
    assert [r["conversion_per_invite"] for r in rows] == [0.5, 1.0, 0.25, 0.0]
