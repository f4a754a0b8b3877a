"""Where a person is in the warehouse: the rows that are theirs, and the rows of others that mention them.

One definition serves the subject-access export (read the rows) and erasure (delete the rows, blank
the mentions), so the two cannot drift apart. Identifiers another remaining account also carries (a
shared office phone, a family device) are that account's data too: they stay on it and are not
suppressed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis

from flywheel.privacy.subjects import Subject
from flywheel.warehouse import Warehouse

SEP = "\x1f"
Predicate = Callable[[ibis.Table], ibis.Value]


def _node(a: ibis.Value, b: ibis.Value) -> ibis.Value:
    return a + ibis.literal(SEP) + b


@dataclass(frozen=True)
class Footprint:
    subject: Subject
    user_ids: tuple[str, ...]
    """Segment user ids of the person (merchant-wide, like the accounts they key)."""
    anonymous_nodes: tuple[str, ...]
    """`source␟anonymousId` of the person's anonymous accounts: a device id means one device per source."""
    order_nodes: tuple[str, ...]
    event_ids: tuple[str, ...]
    """messageIds of the person's own events (touchpoints and reviews derive from them)."""
    mentioning_event_ids: tuple[str, ...]
    """messageIds of other persons' events that carry one of the person's anonymous ids."""
    own_hashes: tuple[str, ...]
    """Identifier hashes only this person carries (a hash another account also carries stays with it)."""

    @property
    def account_nodes(self) -> list[str]:
        return [s + SEP + k for s, k in self.subject.accounts]

    @property
    def anonymous_ids(self) -> tuple[str, ...]:
        return tuple(sorted({n.split(SEP, 1)[1] for n in self.anonymous_nodes}))

    def owned(self) -> dict[str, Predicate]:
        """Per table, which rows are the person's own."""
        accounts = self.account_nodes
        ids = list(self.subject.person_ids)
        users, orders, events = list(self.user_ids), list(self.order_nodes), list(self.event_ids)
        hashes = list(self.own_hashes)

        keys = sorted({k for _, k in self.subject.accounts})

        def by_account(t):
            return t.account_key.isin(keys) & _node(t.source, t.account_key).isin(accounts)

        return {
            "accounts": by_account, "identifiers": by_account, "contact_points": by_account,
            "consents": by_account, "account_keys": by_account,
            "person_accounts": by_account, "orders": by_account,
            "order_items": lambda t: t.order_id.isin(sorted({o.split(SEP, 1)[1] for o in orders}))
            & _node(t.source, t.order_id).isin(orders),
            "events": lambda t: _own_event(t, users, list(self.anonymous_nodes)),
            "touchpoints": lambda t: t.touchpoint_id.isin(events) | t.user_id.isin(users),
            "reviews": lambda t: t.message_id.isin(events) | t.order_id.isin([o.split(SEP, 1)[1] for o in orders]),
            "referrals": lambda t: t.sharer_user_id.isin(users),
            "persons": lambda t: t.person_id.isin(ids),
            "identity_links": lambda t: t.person_id.isin(ids) | t.id_hash.isin(hashes),
            "identity_refusals": lambda t: t.id_hash.isin(hashes),
            "identity_events": lambda t: t.person_id.isin(ids) | t.other_person_id.isin(ids),
            "identity_overrides": lambda t: _node(t.left_source, t.left_account_key).isin(accounts)
            | _node(t.right_source, t.right_account_key).isin(accounts),
            "person_traits": lambda t: t.person_id.isin(ids),
            "person_scores": lambda t: t.person_id.isin(ids),
            "value_alerts": lambda t: t.person_id.isin(ids),
            "segment_members": lambda t: t.person_id.isin(ids),
            "segment_changes": lambda t: t.person_id.isin(ids),
            "journey_episodes": lambda t: t.person_id.isin(ids),
            "journey_actions": lambda t: t.person_id.isin(ids),
            "coupons": lambda t: t.person_id.isin(ids),
            "loyalty_members": lambda t: t.person_id.isin(ids),
            "referral_bindings": lambda t: t.invitee.isin(ids) | t.inviter.isin(ids),
            "metric_person_days": lambda t: t.person_id.isin(ids),
            "metric_persons": lambda t: t.person_id.isin(ids),
            "metric_funnel_events": lambda t: t.person_id.isin(ids),
        }

    def mentioned(self) -> dict[str, dict[str, Predicate]]:
        """Per table and column, rows of other persons that carry one of the person's ids."""
        anons, users = list(self.anonymous_nodes), list(self.user_ids)
        mentioning = list(self.mentioning_event_ids)
        hashes = list(self.own_hashes)
        return {
            "events": {"anonymous_id": lambda t: _node(t.source, t.anonymous_id).isin(anons),
                       "previous_id": lambda t: t.previous_id.isin(users)
                       | _node(t.source, t.previous_id).isin(anons)},
            "touchpoints": {"anonymous_id": lambda t: t.touchpoint_id.isin(mentioning)},
            "reviews": {"anonymous_id": lambda t: t.message_id.isin(mentioning)},
            "referrals": {"invitee_user_id": lambda t: t.invitee_user_id.isin(users + list(self.anonymous_ids))},
            "orders": {"receiver_phone_hash": lambda t: t.receiver_phone_hash.isin(hashes),
                       "receiver_address_hash": lambda t: t.receiver_address_hash.isin(hashes)},
        }


def _own_event(t: ibis.Table, users: list[str], anons: list[str]) -> ibis.Value:
    """The person's own events: by their user ids, or with no user id by their `source␟anonymousId`
    (the plain-column tests first, so the engine builds the node only for the few rows left)."""
    mine = t.user_id.isin(users) if users else ibis.literal(False)
    if anons:
        raw = sorted({a.split(SEP, 1)[1] for a in anons})
        mine |= t.user_id.isnull() & t.anonymous_id.isin(raw) & _node(t.source, t.anonymous_id).isin(anons)
    return mine


def footprint(wh: Warehouse, subject: Subject) -> Footprint:
    nodes = [s + SEP + k for s, k in subject.accounts]
    keys = sorted({k for _, k in subject.accounts})
    accounts = wh.table("accounts")
    mine = accounts.filter(accounts.account_key.isin(keys) & _node(accounts.source, accounts.account_key).isin(nodes))
    typed = wh.fetch(mine.select("source", "account_key", "account_key_type")).to_pylist()
    users = tuple(sorted({a["account_key"] for a in typed if a["account_key_type"] == "user_id"}))
    anons = tuple(sorted({a["source"] + SEP + a["account_key"][5:] for a in typed
                          if a["account_key_type"] == "anonymous_id" and a["account_key"].startswith("anon:")}))
    orders = wh.table("orders")
    order_nodes = wh.fetch(orders.filter(orders.account_key.isin(keys) & _node(orders.source, orders.account_key)
                                         .isin(nodes))
                           .select(k=_node(orders.source, orders.order_id))).column(0).to_pylist()
    events = wh.table("events")
    own = _own_event(events, list(users), list(anons))
    event_ids = wh.fetch(events.filter(own).select("message_id")).column(0).to_pylist()
    mentioning = wh.fetch(events.filter(events.anonymous_id.isin(sorted({a.split(SEP, 1)[1] for a in anons}))
                                        & _node(events.source, events.anonymous_id).isin(list(anons)) & ~own)
                          .select("message_id")).column(0).to_pylist() if anons else []
    ids = wh.table("identifiers")
    is_mine = ids.account_key.isin(keys) & _node(ids.source, ids.account_key).isin(nodes)
    held = set(wh.fetch(ids.filter(is_mine).select("id_hash").distinct()).column(0).to_pylist())
    elsewhere = ids.filter(~is_mine & ids.id_hash.isin(list(held))) if held else None
    shared = set(wh.fetch(elsewhere.select("id_hash").distinct()).column(0).to_pylist()) if held else set()
    return Footprint(subject, users, anons, tuple(sorted(order_nodes)), tuple(sorted(event_ids)),
                     tuple(sorted(mentioning)), tuple(sorted(held - shared)))
