"""Segment-spec events, one JSON object per line (`.jsonl` / `.ndjson`).

Every line is decoded once in Python and spread into plain lists; everything after that (validation,
times, identifiers, hashing) is columnar, so a million-line file stays in seconds. Contact fields
(e-mail, phone, name, address) never reach the `events` table: e-mail and phone become hashed
identifiers, and all four are removed from the stored `traits` and `context`.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.collect.adapters.base import Adapter, Batch, ReadContext, identifier_rows
from flywheel.collect.adapters.orders import landed
from flywheel.collect.reading import RawTable, RejectedLine
from flywheel.collect.values import UTC_US, Problems, parse_time
from flywheel.errors import InputError
from flywheel.identifiers import map_distinct, mask_value

try:
    import orjson

    loads = orjson.loads

    dumps = orjson.dumps
except ImportError:  # pragma: no cover - orjson is a declared dependency; json is the slower fallback
    loads = json.loads

    def dumps(value) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()

CONTACT_FIELDS = frozenset(("email", "phone", "address", "name", "firstName", "lastName"))
"""Removed from stored traits and context; e-mail and phone become hashed identifiers instead."""
PROPERTY_CONTACT = frozenset(("email", "phone"))
"""Removed from stored properties without becoming identifiers (they may be someone else's)."""
ID_TYPES = {"unionid": "wechat_unionid", "openid": "wechat_openid", "ouid": "taobao_ouid", "mobile": "phone",
            "userid": "user_id", "anonymousid": "anonymous_id", "external_userid": "wecom_external_userid"}
"""Other spellings of glossary identifier types in externalIds / identities; unknown types are kept."""
CONSENT = {"granted": "granted", "denied": "denied", "withdrawn": "withdrawn", True: "granted", False: "denied"}
TYPES = ("track", "identify", "page", "screen", "group", "alias")
_ISO = r"^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?(?:Z|[+-]\d\d:?\d\d)?$"
_ZONED = r"^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?(?:Z|[+-]\d\d:?\d\d)$"


@dataclass
class EventLines(RawTable):
    """A `.jsonl` file as decoded messages with their line numbers (no string columns)."""

    messages: list[dict] = field(default_factory=list)


class SegmentEvents(Adapter):
    name = "segment"
    source = "web"
    description = "Segment-spec events, one JSON object per line"
    extensions = (".jsonl", ".ndjson")
    sniff_by_extension = True

    def parse(self, path: Path, data: bytes) -> EventLines:
        """Decoded JSON objects with their line numbers; blank lines skipped, broken ones rejected."""
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
        messages, lines, rejected = [], [], []
        with paused_gc():
            for number, text in enumerate(data.split(b"\n"), 1):
                try:
                    message = loads(text)
                except ValueError as e:
                    if text.strip():
                        why = re.sub(r"line 1 column (\d+) \(char \d+\)", r"column \1", str(e))
                        rejected.append(RejectedLine(number, f"not valid JSON: {why}", text[:200].decode("utf-8", "replace")))
                    continue
                if message.__class__ is dict:
                    messages.append(message)
                    lines.append(number)
                else:
                    rejected.append(RejectedLine(number, "not a JSON object", text[:200].decode("utf-8", "replace")))
        if not messages and not rejected:
            raise InputError("file is empty")
        return EventLines(Path(path), "utf-8", ["json"], {}, np.array(lines, np.int64), rejected, messages)

    def read(self, raw: RawTable, ctx: ReadContext) -> Batch:
        if not isinstance(raw, EventLines):
            raise InputError("the segment adapter reads JSON lines (.jsonl), not CSV")
        default_source = ctx.source or self.source
        with paused_gc():
            cols = collect(raw.messages, default_source)
            s = text_columns(raw.messages)
        s |= {k: v.array() for k, v in cols.json.items()} | {"source": pa.array(cols.sources, pa.string())}
        lines = pa.array(raw.lines, pa.int64())
        p = Problems(raw.num_rows)
        p.require(s["message_id"], "messageId", "messageId is missing (needed to de-duplicate events)")
        p.require(s["type"], "type", "type is missing")
        p.reject(np.asarray(pc.invert(pc.is_in(s["type"], value_set=pa.array(TYPES))).fill_null(False)), "type",
                 s["type"], "unknown type; expected " + ", ".join(TYPES))
        p.reject(np.asarray(pc.and_(pc.is_null(s["user_id"]), pc.is_null(s["anonymous_id"]))), "userId",
                 None, "neither userId nor anonymousId")
        p.reject(np.asarray(pc.and_(pc.equal(s["type"], "track"), pc.is_null(s["event"])).fill_null(False)),
                 "event", None, "track call without event name")
        times = {}
        for key, label in (("timestamp", "timestamp"), ("original_timestamp", "originalTimestamp"),
                           ("sent_at", "sentAt"), ("received_at", "receivedAt")):
            times[key], bad = instants(s[key], ctx.timezone)
            p.reject(bad, label, s[key], "not an ISO-8601 timestamp")
        skew_known = pc.and_(pc.and_(pc.is_valid(times["original_timestamp"]), pc.is_valid(times["sent_at"])),
                             pc.is_valid(times["received_at"]))
        corrected = pc.subtract(times["received_at"], pc.subtract(times["sent_at"], times["original_timestamp"]))
        happened = pc.if_else(skew_known, corrected,
                              pc.coalesce(times["timestamp"], times["original_timestamp"], times["received_at"]))
        undated = [pc.is_null(s[k]) for k in ("timestamp", "original_timestamp", "received_at")]
        p.reject(np.asarray(pc.and_(pc.and_(*undated[:2]), undated[2])), "timestamp", None,
                 "no timestamp, originalTimestamp or receivedAt")

        source = s["source"]
        account_key = pc.coalesce(s["user_id"], pc.binary_join_element_wise(pa.scalar("anon:"), s["anonymous_id"], ""))
        batch = Batch(problems=p, source=default_source)
        batch.add("events", landed({
            "message_id": s["message_id"], "type": s["type"], "event": s["event"], "name": s["name"],
            "user_id": s["user_id"], "anonymous_id": s["anonymous_id"], "group_id": s["group_id"],
            "previous_id": s["previous_id"], "source": source, "timestamp": happened,
            "original_timestamp": times["original_timestamp"], "sent_at": times["sent_at"],
            "received_at": times["received_at"], "properties": s["properties"], "traits": s["traits"],
            "context": s["context"],
        }, p, lines))
        batch.add("accounts", landed({
            "source": source, "account_key": account_key,
            "account_key_type": pc.if_else(pc.is_valid(s["user_id"]), pa.scalar("user_id"), pa.scalar("anonymous_id")),
            "display_key": map_distinct(account_key, mask_value), "first_seen_at": happened,
        }, p, lines))
        common = dict(source=source, account_key=account_key, seen_at=happened, lines=lines)
        for id_type, label in (("user_id", "userId"), ("anonymous_id", "anonymousId")):
            batch.add("identifiers", identifier_rows(ctx, p, id_type=id_type, values=s[id_type],
                                                     field_name=label, **common))
        for (id_type, label, _), values in sorted(cols.identifiers.items()):
            batch.add("identifiers", identifier_rows(ctx, p, id_type=id_type, values=pa.array(values, pa.string()),
                                                     field_name=label, **common))
        self._sparse_tables(batch, cols, s, happened, account_key, lines, p)
        return batch

    @staticmethod
    def _sparse_tables(batch: Batch, cols: EventColumns, s: dict[str, pa.Array], happened: pa.Array,
                       account_key: pa.Array, lines: pa.Array, p: Problems) -> None:
        """Touchpoints, consents, referrals and reviews: the few lines that carry them."""
        for (label, reason), found in cols.dropped.items():
            values = [None] * p.num_rows
            for r, v in found:
                values[r] = v
            p.drop(np.isin(np.arange(p.num_rows), [r for r, _ in found]), label, pa.array(values, pa.string()), reason)
        for name, sparse in cols.sparse.items():
            if not sparse["row"]:
                continue
            rows = np.array(sparse.pop("row"), np.int64)
            ok = ~p.rejected[rows]
            idx = pa.array(rows[ok])
            table = {k: pa.array(v).filter(pa.array(ok)) for k, v in sparse.items()}
            at = happened.take(idx)
            if name == "touchpoints":
                table |= {"touchpoint_id": s["message_id"].take(idx), "user_id": s["user_id"].take(idx),
                          "anonymous_id": s["anonymous_id"].take(idx), "occurred_at": at}
            elif name == "consents":
                table |= {"source": s["source"].take(idx), "account_key": account_key.take(idx),
                          "legal_basis": pa.array(["consent"] * len(idx), pa.string()), "recorded_at": at,
                          "evidence": pc.binary_join_element_wise(pa.scalar("event "), s["message_id"].take(idx), "")}
            elif name == "referrals":
                shared = table.pop("shared")
                table |= {"message_id": s["message_id"].take(idx),
                          "shared_at": pc.if_else(shared, at, pa.scalar(None, UTC_US)),
                          "accepted_at": pc.if_else(shared, pa.scalar(None, UTC_US), at)}
            elif name == "reviews":
                table |= {"message_id": s["message_id"].take(idx), "user_id": s["user_id"].take(idx),
                          "anonymous_id": s["anonymous_id"].take(idx), "created_at": at}
            table["__line"] = lines.take(idx)
            batch.add(name, pa.table(table))


@contextlib.contextmanager
def paused_gc():
    """Python's cyclic GC rescans every live object as a million new dicts appear; JSON makes no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def instants(values: pa.Array, tz: str) -> tuple[pa.Array, np.ndarray]:
    """UTC instants from ISO-8601 text (naive ones in `tz`); the bad mask flags other forms.

    Zoned forms with up to microseconds go through Arrow's own ISO cast (fast, keeps milliseconds);
    the rest, or a column the cast refuses (e.g. 30 February), falls back to `parse_time`.
    """
    iso = pc.if_else(pc.match_substring_regex(values, _ISO).fill_null(False), values, pa.scalar(None, pa.string()))
    zoned = pc.if_else(pc.match_substring_regex(iso, _ZONED).fill_null(False), iso, pa.scalar(None, pa.string()))
    try:
        parsed = pc.cast(zoned, UTC_US)
    except pa.ArrowInvalid:
        parsed = pa.nulls(len(values), UTC_US)
    rest = pc.if_else(pc.is_null(parsed), iso, pa.scalar(None, pa.string()))
    if pc.any(pc.is_valid(rest)).as_py():
        parsed = pc.coalesce(parsed, parse_time(rest, tz)[0])
    return parsed, np.asarray(pc.and_(pc.is_valid(values), pc.is_null(parsed)))


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
    json: dict[str, JsonColumn] = field(default_factory=lambda: {k: JsonColumn() for k in ("properties", "traits", "context")})
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
            found.append((id_type, f"{label}.{id_type}", traits[id_type]))
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
    for purpose, choice in choices.items():
        status = CONSENT.get(choice.lower() if choice.__class__ is str else choice)
        if status is None:
            cols.drop(f"context.consent.{purpose}", row, choice, "consent must be granted, denied or withdrawn")
        else:
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
