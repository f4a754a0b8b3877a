"""Segment-spec events, one JSON object per line (`.jsonl` / `.ndjson`).

Top-level fields outside the Segment spec (`integrations`, `category`, a sender's own) are kept as
JSON in `extra`. Every line is decoded once in Python and spread into plain lists; everything after that (validation,
times, identifiers, hashing) is columnar, so a million-line file stays in seconds. Contact fields
(e-mail, phone, name, address) never reach the `events` table: e-mail and phone become hashed
identifiers, and all four are removed from the stored `traits` and `context`.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.collect.adapters.base import Adapter, Batch, ReadContext, identifier_rows
from flywheel.collect.adapters.orders import landed
from flywheel.collect.adapters.segment_fields import (
    EventColumns,
    collect,
    text_columns,
)
from flywheel.collect.reading import RawTable, RejectedLine
from flywheel.collect.values import UTC_US, Problems, parse_time
from flywheel.errors import InputError
from flywheel.identifiers import map_distinct, mask_value
from flywheel.jsoncodec import loads

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
            "context": s["context"], "extra": s["extra"],
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
