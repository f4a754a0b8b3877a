"""The per-message pass of the Segment adapter: one decoded message → values in plain columns.

This is the only part of event ingestion that loops in Python; it keeps contact fields out of what is
stored, turns typed identifiers into identifier slots and routes referral and review events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.jsoncodec import dumps
from flywheel.schema.purposes import expand

CONTACT_FIELDS = frozenset(("email", "phone", "address", "name", "firstName", "lastName"))
"""Removed from stored traits and context; e-mail and phone become hashed identifiers instead."""
PROPERTY_CONTACT = frozenset(("email", "phone"))
"""Removed from stored properties without becoming identifiers (they may be someone else's)."""
ID_TYPES = {"unionid": "wechat_unionid", "openid": "wechat_openid", "ouid": "taobao_ouid", "mobile": "phone",
            "userid": "user_id", "anonymousid": "anonymous_id", "external_userid": "wecom_external_userid"}
"""Other spellings of glossary identifier types in externalIds / identities; unknown types are kept."""
CONSENT = {"granted": "granted", "denied": "denied", "withdrawn": "withdrawn", True: "granted", False: "denied"}

class JsonColumn:
    """JSON texts appended to one buffer: a million small bytes objects cost far more to keep."""

    def __init__(self):
        self.buffer = bytearray()
        self.ends = [0]
        self.valid: list[bool] = []

    def add(self, value) -> None:
        if value is None:
            self.valid.append(False)
        else:
            self.buffer += dumps(value)
            self.valid.append(True)
        self.ends.append(len(self.buffer))

    def array(self) -> pa.Array:
        valid = pa.array(self.valid, pa.bool_())
        offsets = pa.py_buffer(np.array(self.ends, np.int64))
        text = pa.LargeStringArray.from_buffers(len(valid), offsets, pa.py_buffer(self.buffer), valid.buffers()[1])
        return text.cast(pa.string())


@dataclass
class EventColumns:
    """What one pass over the messages found: JSON columns, identifiers by slot, sparse tables."""

    sources: list[str] = field(default_factory=list)
    json: dict[str, JsonColumn] = field(default_factory=lambda: {k: JsonColumn() for k in ("properties", "traits", "context",
                                                                                          "extra")})
    identifiers: dict[tuple[str, str, int], list] = field(default_factory=dict)
    sparse: dict[str, dict[str, list]] = field(default_factory=lambda: {
        "touchpoints": {"row": [], "channel": [], "medium": [], "campaign_id": []},
        "consents": {"row": [], "purpose": [], "status": []},
        "referrals": {"row": [], "share_id": [], "sharer_user_id": [], "invitee_user_id": [], "channel": [],
                      "shared": []},
        "reviews": {"row": [], "order_id": [], "rating": [], "has_media": [], "length": []},
    })
    dropped: dict[tuple[str, str], list[tuple[int, str | None]]] = field(default_factory=dict)

    def drop(self, label: str, row: int, value, reason: str) -> None:
        self.dropped.setdefault((label, reason), []).append((row, None if value is None else str(value)))

    def add(self, table: str, row: int, **values) -> None:
        sparse = self.sparse[table]
        sparse["row"].append(row)
        for k, v in values.items():
            sparse[k].append(v)


SPEC = {"message_id": "messageId", "type": "type", "event": "event", "name": "name", "user_id": "userId",
        "anonymous_id": "anonymousId", "group_id": "groupId", "previous_id": "previousId", "timestamp": "timestamp",
        "original_timestamp": "originalTimestamp", "sent_at": "sentAt", "received_at": "receivedAt"}
_SPEC_TYPE = pa.struct([(k, pa.string()) for k in SPEC.values()])
KNOWN = frozenset(SPEC.values()) | {"properties", "traits", "context", "identities", "writeKey"}
"""Top-level fields with a column (or consumed); the rest are kept in `extra`."""


def _text(value) -> str | None:
    if value.__class__ is str:
        return value or None
    return str(value) if value.__class__ in (int, float) else None


def text_columns(messages: list[dict]) -> dict[str, pa.Array]:
    """The top-level spec fields as string columns, converted by Arrow in one call ("" reads as null)."""
    try:
        spec = pa.array(messages, type=_SPEC_TYPE)
        columns = {k: spec.field(v) for k, v in SPEC.items()}
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # a number where the spec has a string: convert one by one
        columns = {k: pa.array([_text(m.get(v)) for m in messages], pa.string()) for k, v in SPEC.items()}
    return {k: pc.if_else(pc.equal(v, ""), pa.scalar(None, pa.string()), v) for k, v in columns.items()}


def collect(messages: list[dict], default_source: str) -> EventColumns:
    """One Python pass for what needs Python: JSON re-serialised without contact fields, nested ids."""
    n = len(messages)
    cols = EventColumns()
    add_source, add_props = cols.sources.append, cols.json["properties"].add
    add_traits, add_context = cols.json["traits"].add, cols.json["context"].add
    add_extra, known = cols.json["extra"].add, KNOWN.issuperset
    for row, m in enumerate(messages):
        get = m.get
        found: list[tuple[str, str, object]] = []
        props = get("properties")
        if props.__class__ is dict:
            add_props({k: v for k, v in props.items() if k not in PROPERTY_CONTACT}
                      if not PROPERTY_CONTACT.isdisjoint(props) else props)
        else:
            props = None
            add_props(None)
        traits = get("traits")
        add_traits(_contacts(traits, "traits", found) if traits.__class__ is dict else None)
        if "identities" in m:
            _identities(get("identities"), "identities", found)
        context, source, campaign = get("context"), default_source, None
        if context.__class__ is dict:
            source = _text(context.get("source")) or default_source
            if "traits" in context or "externalIds" in context or "identities" in context:
                context = dict(context)
                if context.get("traits").__class__ is dict:
                    context["traits"] = _contacts(context["traits"], "context.traits", found)
                for item in context.pop("externalIds", None) or ():
                    if item.__class__ is dict:
                        found.append((_id_type(item.get("type")), "context.externalIds", item.get("id")))
                _identities(context.pop("identities", None), "context.identities", found)
            campaign = context.get("campaign")
            if campaign.__class__ is dict:
                cols.add("touchpoints", row, channel=_text(campaign.get("source")), medium=_text(campaign.get("medium")),
                         campaign_id=_text(campaign.get("id")) or _text(campaign.get("name")))
            else:
                campaign = None
            if "consent" in context and context["consent"].__class__ is dict:
                _consents(cols, row, context["consent"])
            add_context(context)
        else:
            add_context(None)
        add_source(source)
        if known(m):
            add_extra(None)
        else:
            add_extra(_contacts({k: v for k, v in m.items() if k not in KNOWN}, "", found) or None)
        if found:
            _slot_identifiers(cols, row, n, found)
        if props is not None and get("event") in SPECIAL_EVENTS and get("type") == "track":
            _special(cols, row, get("event"), props, m, campaign)
    return cols


def _contacts(traits: dict, label: str, found: list) -> dict:
    """`traits` without contact fields; its e-mail and phone are noted as identifiers."""
    if CONTACT_FIELDS.isdisjoint(traits):
        return traits
    for id_type in ("email", "phone"):
        if id_type in traits:
            found.append((id_type, f"{label}.{id_type}" if label else id_type, traits[id_type]))
    return {k: v for k, v in traits.items() if k not in CONTACT_FIELDS}


def _id_type(raw) -> str:
    name = (_text(raw) or "unknown").strip().lower()
    return ID_TYPES.get(name, name)


def _identities(identities, label: str, found: list) -> None:
    if identities.__class__ is dict:
        found.extend((_id_type(k), label, v) for k, v in identities.items())


def _slot_identifiers(cols: EventColumns, row: int, n: int, found: list) -> None:
    """Place each identifier in a column slot (type, field, k-th of that pair) so arrays stay row-aligned."""
    seen: dict[tuple[str, str], int] = {}
    for id_type, label, value in found:
        value = _text(value)
        if value is None:
            continue
        k = seen.get((id_type, label), 0)
        seen[(id_type, label)] = k + 1
        slot = cols.identifiers.get((id_type, label, k))
        if slot is None:
            slot = cols.identifiers[(id_type, label, k)] = [None] * n
        slot[row] = value


def _consents(cols: EventColumns, row: int, consent: dict) -> None:
    choices = dict(consent)
    preferences = choices.pop("categoryPreferences", None)
    if preferences.__class__ is dict:
        choices.update(preferences)
    for given, choice in choices.items():
        status = CONSENT.get(choice.lower() if choice.__class__ is str else choice)
        if status is None:
            cols.drop(f"context.consent.{given}", row, choice, "consent must be granted, denied or withdrawn")
            continue
        for purpose in expand([given]):
            cols.add("consents", row, purpose=purpose, status=status)


def _special(cols: EventColumns, row: int, event: str, props: dict, m: dict, campaign: dict | None) -> None:
    """Referral and review activity, tracked as events, fills `referrals` and `reviews`."""
    user_id = _text(m.get("userId"))
    if event == "Review Submitted":
        rating, length, media = props.get("rating"), props.get("length"), props.get("has_media")
        if rating is not None and not (rating.__class__ is int and 1 <= rating <= 5):
            cols.drop("properties.rating", row, rating, "rating must be a whole number from 1 to 5")
            rating = None
        return cols.add("reviews", row, order_id=_text(props.get("order_id")), rating=rating,
                        has_media=media if media.__class__ is bool else None,
                        length=length if length.__class__ is int and length >= 0 else None)
    share_id = _text(props.get("share_id"))
    if share_id is None:
        return cols.drop("properties.share_id", row, None, f"{event} without share_id")
    shared = event == "Referral Shared"
    channel = _text(props.get("channel")) or (_text(campaign.get("source")) if campaign else None)
    cols.add("referrals", row, share_id=share_id, channel=channel, shared=shared,
             sharer_user_id=user_id if shared else _text(props.get("inviter_user_id")),
             invitee_user_id=None if shared else user_id or _text(m.get("anonymousId")))


SPECIAL_EVENTS = frozenset(("Referral Shared", "Referral Accepted", "Review Submitted"))
