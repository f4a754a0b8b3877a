"""Contact points for delivery: a person's address on a channel, opened only through a gate that may.

**The rule.** A person's address on a channel is the most recently seen contact point of the
channel's type (`schema/contacts.py`: email → e-mail, sms → phone, wecom → external_userid,
wechat → openid) on any of their accounts: the latest `last_seen_at`; on a tie, the later first
sighting, then the smaller hash, so the answer never depends on storage order.

**Who opens them.** Roles allowed L4 that hold `contacts.open` (owner, service, privacy_officer), and
the delivery step. The delivery step acts through `delivery_gate(gate)`: a system actor that may do
nothing but open contact points, acting for the role that started the run (which needs
`contacts.deliver`). A marketer can thus run a journey that texts people without ever being able to
read a phone number: the addresses go from `contact_points` to the channel's sender, in memory.

    with delivery_gate(gate) as sender:
        to = contact_points(sender, due_person_ids, "sms", purpose="marketing_sms")   # {person_id: "+86…"}

**The audit trail.** Each call appends one `contacts.open` entry: channel, persons asked, addresses
opened, purpose, and on whose behalf. A call about one person is sealed with that person's data key
and found by their token, as `read.unmasked` is; a call about many names counts only. One entry per
batch keeps a tick of 100,000 sends within its budget (an append is an fsync, ~0.4 ms), and entries
naming thousands of persons in clear would outlive their erasure. The per-person record of who was
sent what is the delivery outbox's, which lives in the warehouse, where the access copy and erasure
reach it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import ibis

from flywheel.errors import InputError
from flywheel.privacy.gate import Gate
from flywheel.privacy.masking import level_of
from flywheel.privacy.roles import Actor, NotPermitted, Role
from flywheel.schema.contacts import CHANNELS
from flywheel.warehouse import Warehouse, account_persons
from flywheel.warehouse.sealing import SEP

DELIVERY = Role("delivery", level_of("contact_points", "value"), frozenset({"contacts.open"}),
                "the delivery step: opens contact points to hand them to a channel, shows nothing")
"""The system role of the delivery step; not in roles.yaml, so no one can declare it with --role."""


@dataclass(frozen=True)
class SystemActor(Actor):
    """A step of Flywheel acting for the actor who started it (audited as both)."""
    on_behalf_of: Actor | None = None


def delivery_gate(gate: Gate, command: str = "") -> Gate:
    """The gate the delivery step opens contact points through, for the run `gate`'s actor started.
    Needs `contacts.deliver` of that actor. Close it (or use `with`) to checkpoint the audit log."""
    gate.require("contacts.deliver")
    actor = SystemActor("flywheel-delivery", DELIVERY, on_behalf_of=gate.actor)
    return Gate(gate.settings, gate.warehouse, actor, command or gate.command or "delivery")


def contact_type(channel: str) -> str:
    """The contact point type a channel sends to (`sms` → `phone`); the type itself is accepted too."""
    if channel in CHANNELS:
        return CHANNELS[channel]
    if channel in CHANNELS.values():
        return channel
    raise InputError(f"Unknown channel {channel!r}. Known: {', '.join(CHANNELS)} "
                     f"(or a contact type: {', '.join(CHANNELS.values())}).")


def latest_contacts(wh: Warehouse, channel: str) -> ibis.Table:
    """Per person, the contact point of the channel that the rule picks: `person_id, source, account_key,
    id_type, id_hash, value` (still sealed), `value_masked, first_seen_at, last_seen_at`. For planning
    (who is reachable, the masked address); opening takes `contact_points`."""
    id_type = contact_type(channel)
    points = wh.table("contact_points")
    points = points.filter(points.id_type == id_type)
    joined = points.join(account_persons(wh), ["source", "account_key"])
    order = [ibis.desc(joined.last_seen_at), ibis.desc(joined.first_seen_at), joined.id_hash, joined.source,
             joined.account_key]
    ranked = joined.mutate(pick_rank=ibis.row_number().over(group_by=joined.person_id, order_by=order))
    return ranked.filter(ranked.pick_rank == 0).select(
        "person_id", "source", "account_key", "id_type", "id_hash", "value", "value_masked", "first_seen_at",
        "last_seen_at")


def contact_points(gate: Gate, person_ids: Iterable[str], channel: str, *, purpose: str | None = None) -> dict[str, str]:
    """`{person_id: address}` on the channel for the persons that have one (current person ids; others
    are simply absent). Needs `contacts.open` and a role allowed L4; writes one `contacts.open` entry.
    The addresses are for a channel's sender, never for output."""
    gate.require("contacts.open")
    needed = level_of("contact_points", "value")
    if gate.actor.role.level < needed:
        raise NotPermitted(f"role {gate.actor.role.name!r} sees up to L{gate.actor.role.level}; contact points "
                           f"are L{needed}")
    id_type = contact_type(channel)
    asked = sorted(set(person_ids))
    if not asked:
        return {}
    wh = gate.warehouse
    latest = latest_contacts(wh, id_type)
    wanted = ibis.memtable({"person_id": asked}, schema={"person_id": "string"})
    rows = wh.fetch(latest.semi_join(wanted, "person_id").select("person_id", "source", "account_key", "value")
                    .order_by("person_id")).to_pylist()
    opened = wh.sealer.open_nodes([r["source"] + SEP + r["account_key"] for r in rows], [r["value"] for r in rows])
    addresses = {r["person_id"]: v for r, v in zip(rows, opened) if v is not None}
    detail = {"channel": channel, "contact_type": id_type, "asked": len(asked), "opened": len(addresses)}
    behalf = getattr(gate.actor, "on_behalf_of", None)
    if behalf is not None:
        detail["on_behalf_of"] = {"actor": behalf.name, "role": behalf.role.name}
    target = f"{channel} contact points"
    if len(asked) == 1:
        gate.audit("contacts.open", target, person=asked[0], purpose=purpose, detail=detail)
    else:
        gate.audit("contacts.open", target, purpose=purpose, detail=detail)
    return addresses
