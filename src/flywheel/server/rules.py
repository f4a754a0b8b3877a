"""The Segment HTTP Tracking API rules: one request body → accepted messages and rejected items.

Limits follow Segment's published ones: 32 KB per event, 500 KB per batch request, at most 2,500
items per batch. A whole-request problem (size, item count, JSON, auth) refuses the request; a bad
item in a batch is reported by index and the good items are still accepted. Unknown fields are kept
as sent; the server adds `messageId` (when missing), `receivedAt`, the batch's
`sentAt`/`context`/`integrations` and the source the write key belongs to.

Times (Segment's clock-skew rule). The client's own time is `originalTimestamp`, or — as Segment's
libraries send it — `timestamp` when `originalTimestamp` is absent. When `sentAt` is also present the
stored `timestamp` is `receivedAt − (sentAt − original)`: the device clock's error cancels out.
Otherwise `timestamp` is the client's time, or `receivedAt` when there is none. Every time is
written as a UTC ISO-8601 string; a time that is not ISO-8601 rejects its item, naming the field.
Naive times (no zone) are read in the warehouse's time zone. Accepted times are exactly those
`TIME_PATTERN` matches: a real calendar date of a year 1900–2999, optionally a time and a zone. The
year bound keeps the correction above inside the calendar for any two times a client sends (a device
clock reset to 1970 is still corrected; year 1 or 9999 is not a clock, it is garbage).

Field types are checked as the OpenAPI document (`openapi.py`) states them: ids are strings or
numbers, `properties`/`traits`/`context`/`integrations` objects, `writeKey` a string; `null` counts
as absent. The contract test runs schemathesis against a live server to keep the two in step.

>>> ok, bad = accept("track", {"userId": "u1", "event": "Order Completed"}, 40, "web", received_now())
>>> ok[0]["type"], bad
('track', [])
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import re
import uuid
import zlib

from flywheel.errors import InputError
from flywheel.jsoncodec import dumps, loads

EVENT_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024
BATCH_ITEMS = 2_500
CALLS = ("track", "identify", "page", "screen", "group", "alias")
INHERITED = ("context", "integrations", "sentAt")
"""Batch-level fields every item receives unless it carries its own."""
UTC = dt.timezone.utc

_YEAR = r"(?:19|2[0-9])[0-9]{2}"
_LEAP_YEAR = r"(?:(?:19|2[0-9])(?:0[48]|[2468][048]|[13579][26])|2[048]00)"
_DATE = (f"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
         f"|02-(?:0[1-9]|1[0-9]|2[0-8]))|{_LEAP_YEAR}-02-29)")
_CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?"
_ZONE = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])"
TIME_PATTERN = f"{_DATE}(?:[T ]{_CLOCK}{_ZONE}?)?"
"""Every time the API accepts, and nothing else: `2024-05-01`, `2024-05-01 20:00`,
`2024-05-01T12:00:00.123Z`, `2024-05-01T20:00:00+08:00` (ASCII digits; no 30 February)."""
_ISO = re.compile(TIME_PATTERN)
SPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
         "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
"""The characters `str.strip()` removes (`str.isspace`): a blank id or event name is only these."""
NON_BLANK = f"[^{SPACE}]"
"""Pattern of a string that is not blank (as a JSON-Schema `pattern`, it searches)."""


class CollectError(InputError):
    """A request or item the collection API refuses; `status`, `code` and `path` become the JSON body."""

    def __init__(self, status: int, code: str, message: str, path: str = "$", rejected: list | None = None):
        super().__init__(message)
        self.status, self.code, self.path, self.rejected = status, code, path, rejected

    def body(self) -> dict:
        body = {"error": self.code, "message": str(self), "path": self.path}
        if self.rejected is not None:
            body["rejected"] = self.rejected
        return body


class Received:
    """The receive instant of one request, as a datetime and as the stored ISO string."""

    __slots__ = ("at", "text", "iso", "zone", "cache")

    def __init__(self, at: dt.datetime, zone: dt.tzinfo = UTC):
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # as stored: milliseconds
        self.at, self.zone = at, zone
        self.text = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.iso = _iso(at)
        self.cache: dict = {}  # time text → parsed, for the request's repeated sentAt


def received_now(zone: dt.tzinfo = UTC) -> Received:
    return Received(dt.datetime.now(UTC), zone)


def decode(body: bytes, encoding: str | None) -> tuple[dict, int]:
    """The JSON object of a request body (gzip/deflate allowed) and its size, bounded by the batch limit."""
    if encoding and encoding.lower() in ("gzip", "deflate"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
        try:
            body = inflater.decompress(body, BATCH_LIMIT + 1)
        except zlib.error:
            raise CollectError(400, "invalid_encoding", f"body is not valid {encoding} data") from None
    elif encoding and encoding.lower() != "identity":
        raise CollectError(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported; use gzip")
    if len(body) > BATCH_LIMIT:
        raise CollectError(413, "request_too_large", f"request body exceeds the 500 KB limit ({BATCH_LIMIT} bytes)")
    try:
        payload = loads(body)
    except ValueError as e:
        raise CollectError(400, "invalid_json", f"body is not valid JSON: {e}") from None
    if payload.__class__ is not dict:
        raise CollectError(400, "invalid_json", "body must be a JSON object")
    return payload, len(body)


def write_key(authorization: str | None, payload: dict) -> str | None:
    """The write key from HTTP Basic auth (`writeKey:` as user name) or the body's `writeKey`."""
    _typed(payload, "writeKey", str, "a string", "")
    if authorization and authorization[:6].lower() == "basic ":
        try:
            user = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8").split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            user = ""
        if user:
            return user
    key = payload.get("writeKey")
    return key if isinstance(key, str) and key else None


def accept(call: str, payload: dict, size: int, source: str, received: Received) -> tuple[list[dict], list[dict]]:
    """The accepted messages of one request to `/v1/<call>` and its rejected items.

    Rejected items are `{"index", "error", "message", "path"}`. Raises `CollectError` when the whole
    request is refused: a single call whose message is bad, a malformed batch, or a batch whose every
    item is bad (400, with the `rejected` list).
    """
    if call != "batch":
        if size > EVENT_LIMIT:
            raise CollectError(413, "event_too_large", f"event exceeds the 32 KB limit ({EVENT_LIMIT} bytes)")
        payload.setdefault("type", call)
        return [_message(payload, call, source, received, "")], []
    items = payload.get("batch")
    if items.__class__ is not list:
        raise CollectError(400, "invalid_batch", "`batch` must be a list of messages", "batch")
    if len(items) > BATCH_ITEMS:
        raise CollectError(400, "batch_too_many_items",
                           f"batch has {len(items)} items; the limit is {BATCH_ITEMS}", "batch")
    for key in ("context", "integrations"):  # a bad batch-level field would otherwise spoil every item
        _typed(payload, key, dict, "an object", "")
    if payload.get("sentAt") is not None:
        _time(payload["sentAt"], received, "sentAt")
    shared = {k: payload[k] for k in INHERITED if k in payload}
    out, rejected = [], []
    for i, item in enumerate(items):
        path = f"batch[{i}]"
        try:
            if item.__class__ is not dict:
                raise CollectError(400, "invalid_message", "each batch item must be a JSON object", path)
            if size > EVENT_LIMIT and len(dumps(item)) > EVENT_LIMIT:  # a smaller body cannot hold one
                raise CollectError(413, "event_too_large", f"event exceeds the 32 KB limit ({EVENT_LIMIT} bytes)", path)
            for k, v in shared.items():
                if k == "sentAt" or item.get(k).__class__ is not dict or v.__class__ is not dict:
                    item.setdefault(k, v)
                else:
                    item[k] = v | item[k]
            out.append(_message(item, item.get("type"), source, received, path + "."))
        except CollectError as e:
            rejected.append({"index": i, "error": e.code, "message": str(e), "path": e.path})
    if rejected and not out:
        first = rejected[0]
        raise CollectError(400, "all_items_rejected", f"every batch item was rejected; first: {first['message']}",
                           first["path"], rejected)
    return out, rejected


def _message(message: dict, call, source: str, received: Received, path: str) -> dict:
    """One message checked against the call's rules and stamped; raises `CollectError` naming the field."""
    get = message.get
    if call not in CALLS:
        raise CollectError(400, "invalid_type", f"type must be one of {', '.join(CALLS)}", path + "type")
    if get("type", call) != call:
        raise CollectError(400, "invalid_type", f"type {get('type')!r} sent to /v1/{call}", path + "type")
    message["type"] = call
    for key in IDS:  # class checks, not isinstance: JSON gives exact types, and a bool is no number
        value = get(key)
        if value is not None and value.__class__ not in _ID_TYPES:
            raise CollectError(400, "invalid_field", f"`{key}` must be a string or a number", path + key)
    if not (_present(get("userId")) or _present(get("anonymousId"))):
        raise CollectError(400, "missing_identity", "userId or anonymousId is required", path + "userId")
    if call == "track":
        event = get("event")
        if event.__class__ is not str or not event.strip():
            raise CollectError(400, "missing_event", "track calls need an `event` name", path + "event")
    elif call == "group" and not _present(get("groupId")):
        raise CollectError(400, "missing_group_id", "group calls need a `groupId`", path + "groupId")
    elif call == "alias" and not _present(get("previousId")):
        raise CollectError(400, "missing_previous_id", "alias calls need a `previousId`", path + "previousId")
    for key in OBJECTS:
        value = get(key)
        if value is not None and value.__class__ is not dict:
            raise CollectError(400, "invalid_field", f"`{key}` must be an object", path + key)
    value = get("writeKey")
    if value is not None and value.__class__ is not str:
        raise CollectError(400, "invalid_field", "`writeKey` must be a string", path + "writeKey")
    _times(message, received, path)
    message_id = get("messageId")
    if message_id.__class__ is not str or not message_id.strip():
        message["messageId"] = str(message_id) if _present(message_id) else next_message_id()
    if "writeKey" in message:
        del message["writeKey"]
    context = get("context")
    message["context"] = context | {"source": source} if context else {"source": source}
    return message


OBJECTS = ("properties", "traits", "context", "integrations")
IDS = ("userId", "anonymousId", "messageId")
_ID_TYPES = frozenset((str, int, float))


def _typed(message: dict, key: str, types, expected: str, path: str) -> None:
    """Refuse a field of the wrong JSON type (`null` is absent; a boolean is not a number)."""
    value = message.get(key)
    if value is not None and (not isinstance(value, types) or value.__class__ is bool):
        raise CollectError(400, "invalid_field", f"`{key}` must be {expected}", path + key)


_ids = itertools.count()
_id_prefix = str(uuid.uuid4())[:23]


def next_message_id() -> str:
    """A messageId for a message that has none: a per-process random UUID prefix and a counter."""
    return f"{_id_prefix}-{next(_ids):012x}"


def _times(message: dict, received: Received, path: str) -> None:
    """Check the message's times and apply the clock-skew rule (module docstring), in place."""
    get = message.get
    original = sent = timestamp = None
    value = get("timestamp")
    if value is not None:
        timestamp = _time(value, received, path + "timestamp")
    value = get("originalTimestamp")
    if value is not None:
        original = _time(value, received, path + "originalTimestamp")
    value = get("sentAt")
    if value is not None:
        sent = _time(value, received, path + "sentAt")
    original = original or timestamp
    message["receivedAt"] = received.text
    if original is None:
        message["timestamp"] = timestamp[1] if timestamp else received.iso
    else:
        message["originalTimestamp"] = original[1]
        if sent is None:
            message["timestamp"] = timestamp[1] if timestamp else original[1]
        else:  # both in 1900–2999 (TIME_PATTERN): the correction stays inside the calendar
            message["timestamp"] = _iso(received.at - (sent[0] - original[0]))
    if sent is not None:
        message["sentAt"] = sent[1]


def _time(value, received: Received, path: str) -> tuple[dt.datetime, str]:
    if value.__class__ is str:
        found = received.cache.get(value)
        if found is not None:
            return found
    return _instant(value, received, path)


def _instant(value, received: Received, path: str) -> tuple[dt.datetime, str]:
    """A time field as (UTC datetime, canonical ISO text), remembered for the rest of the request."""
    if value.__class__ is str and _ISO.fullmatch(value):
        text = value[:-1] + "+00:00" if value.endswith("Z") else value
        dot = text.find(".")
        if dot > 0:  # more than microseconds: keep six digits
            end = dot + 1
            while end < len(text) and text[end].isdigit():
                end += 1
            text = text[:dot + 1] + text[dot + 1:end][:6].ljust(3, "0") + text[end:]
        try:
            at = dt.datetime.fromisoformat(text)
            at = (at if at.tzinfo else at.replace(tzinfo=received.zone)).astimezone(UTC)
            found = received.cache[value] = (at, _iso(at))
            return found
        except (ValueError, OverflowError):
            pass
    raise CollectError(400, "invalid_timestamp", f"{path.rsplit('.', 1)[-1]} must be an ISO-8601 date-time of a "
                       f"year 1900–2999, e.g. 2024-05-01T12:00:00.000Z; got {str(value)[:40]!r}", path)


def _iso(at: dt.datetime) -> str:
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _present(value) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, (int, float)) and not isinstance(value, bool)
