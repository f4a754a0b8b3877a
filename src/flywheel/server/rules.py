"""The Segment HTTP Tracking API rules: one request body → accepted messages, or a `CollectError`.

Limits follow Segment's published ones: 32 KB per event, 500 KB per batch request, at most 2,500
items per batch. Unknown fields are kept as sent; the server only adds `messageId` (when missing),
`receivedAt`, the batch's `sentAt`/`context`/`integrations` and the source the write key belongs to.

>>> accept("track", {"userId": "u1", "event": "Order Completed"}, 40, "web", "2024-01-01T00:00:00.000Z")[0]["type"]
'track'
"""

from __future__ import annotations

import base64
import datetime as dt
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


class CollectError(InputError):
    """A request the collection API refuses; `status`, `code` and `path` become the JSON error body."""

    def __init__(self, status: int, code: str, message: str, path: str = "$"):
        super().__init__(message)
        self.status, self.code, self.path = status, code, path

    def body(self) -> dict:
        return {"error": self.code, "message": str(self), "path": self.path}


def received_now() -> str:
    """The receive time stamped on every message, ISO-8601 UTC with milliseconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    if not isinstance(payload, dict):
        raise CollectError(400, "invalid_json", "body must be a JSON object")
    return payload, len(body)


def write_key(authorization: str | None, payload: dict) -> str | None:
    """The write key from HTTP Basic auth (`writeKey:` as user name) or the body's `writeKey`."""
    if authorization and authorization[:6].lower() == "basic ":
        try:
            user = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8").split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            user = ""
        if user:
            return user
    key = payload.get("writeKey")
    return key if isinstance(key, str) and key else None


def accept(call: str, payload: dict, size: int, source: str, received_at: str) -> list[dict]:
    """The messages of one request to `/v1/<call>` (`size`: its decoded bytes), checked and completed."""
    if call != "batch":
        if size > EVENT_LIMIT:
            raise CollectError(413, "event_too_large", f"event exceeds the 32 KB limit ({EVENT_LIMIT} bytes)")
        payload.setdefault("type", call)
        return [_message(payload, call, source, received_at, "$")]
    items = payload.get("batch")
    if not isinstance(items, list):
        raise CollectError(400, "invalid_batch", "`batch` must be a list of messages", "$.batch")
    if len(items) > BATCH_ITEMS:
        raise CollectError(400, "batch_too_many_items",
                           f"batch has {len(items)} items; the limit is {BATCH_ITEMS}", "$.batch")
    shared = {k: payload[k] for k in INHERITED if k in payload}
    out = []
    for i, item in enumerate(items):
        path = f"$.batch[{i}]"
        if not isinstance(item, dict):
            raise CollectError(400, "invalid_message", "each batch item must be a JSON object", path)
        if len(dumps(item)) > EVENT_LIMIT:
            raise CollectError(413, "event_too_large", f"event exceeds the 32 KB limit ({EVENT_LIMIT} bytes)", path)
        for k, v in shared.items():
            if k == "sentAt" or not isinstance(item.get(k), dict) or not isinstance(v, dict):
                item.setdefault(k, v)
            else:
                item[k] = v | item[k]
        out.append(_message(item, item.get("type"), source, received_at, path))
    return out


def _message(message: dict, call, source: str, received_at: str, path: str) -> dict:
    """One message checked against the call's rules and stamped; raises `CollectError` naming the field."""
    if call not in CALLS:
        raise CollectError(400, "invalid_type", f"type must be one of {', '.join(CALLS)}", path + ".type")
    if message.get("type", call) != call:
        raise CollectError(400, "invalid_type", f"type {message.get('type')!r} sent to /v1/{call}", path + ".type")
    message["type"] = call
    if not (_present(message.get("userId")) or _present(message.get("anonymousId"))):
        raise CollectError(400, "missing_identity", "userId or anonymousId is required", path + ".userId")
    if call == "track" and not (isinstance(message.get("event"), str) and message["event"].strip()):
        raise CollectError(400, "missing_event", "track calls need an `event` name", path + ".event")
    if call == "group" and not _present(message.get("groupId")):
        raise CollectError(400, "missing_group_id", "group calls need a `groupId`", path + ".groupId")
    if call == "alias" and not _present(message.get("previousId")):
        raise CollectError(400, "missing_previous_id", "alias calls need a `previousId`", path + ".previousId")
    for key in ("properties", "traits", "context", "integrations"):
        if key in message and message[key] is not None and not isinstance(message[key], dict):
            raise CollectError(400, "invalid_field", f"`{key}` must be an object", f"{path}.{key}")
    for key in ("timestamp", "sentAt", "originalTimestamp"):
        if key in message and message[key] is not None and not isinstance(message[key], str):
            raise CollectError(400, "invalid_field", f"`{key}` must be an ISO-8601 string", f"{path}.{key}")
    message_id = message.get("messageId")
    if not _present(message_id):
        message["messageId"] = str(uuid.uuid4())
    elif not isinstance(message_id, str):
        message["messageId"] = str(message_id)
    message.pop("writeKey", None)
    message["receivedAt"] = received_at
    context = message.get("context") or {}
    message["context"] = context | {"source": source}
    return message


def _present(value) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, (int, float)) and not isinstance(value, bool)
