"""The collection API's OpenAPI document: every call, its request body and every answer it can give.

Written from the rules it describes rather than derived from FastAPI routes: the `/v1/*` calls are
answered by the bare ASGI edge (`edge.py`), which FastAPI never sees. Patterns and limits are the
ones `rules.py` enforces; `tests/server/test_openapi_contract.py` runs schemathesis against a live
`flywheel serve` (no 5xx, no undocumented status, no schema-valid request refused, no invalid one
accepted) so that the document and the server cannot drift apart.
"""

from __future__ import annotations

from functools import cache

from flywheel.server.rules import BATCH_ITEMS, CALLS, EVENT_LIMIT, NON_BLANK, TIME_PATTERN

ERRORS: dict[str, tuple[int, str]] = {
    "invalid_json": (400, "the body is not JSON, or not a JSON object"),
    "invalid_encoding": (400, "the body is not valid data of its Content-Encoding"),
    "invalid_batch": (400, "`batch` is missing or not a list"),
    "batch_too_many_items": (400, f"`batch` has more than {BATCH_ITEMS:,} items"),
    "invalid_message": (400, "a batch item is not a JSON object"),
    "invalid_type": (400, "`type` is not one of the calls, or not the call of the path"),
    "missing_identity": (400, "neither `userId` nor `anonymousId` is a non-blank string or a number"),
    "missing_event": (400, "a track call without a non-blank `event` name"),
    "missing_group_id": (400, "a group call without `groupId`"),
    "missing_previous_id": (400, "an alias call without `previousId`"),
    "invalid_field": (400, "a field of the wrong JSON type (the message names the field and the type)"),
    "invalid_timestamp": (400, "a time that is not an ISO-8601 date-time of a year 1900–2999"),
    "all_items_rejected": (400, "every batch item was rejected (`rejected` lists each)"),
    "invalid_write_key": (401, "missing or unknown write key"),
    "unknown_call": (404, "`/v1/<call>` with a call that does not exist"),
    "not_found": (404, "no such path"),
    "method_not_allowed": (405, "a method other than the one the path takes (`Allow` names it)"),
    "request_too_large": (413, "the request body exceeds 500 KB"),
    "event_too_large": (413, f"a single event exceeds 32 KB ({EVENT_LIMIT:,} bytes)"),
    "unsupported_encoding": (415, "a Content-Encoding other than gzip, deflate or identity"),
    "not_running": (503, "the collector is starting or stopping"),
    "unavailable": (503, "the spool cannot take the request (e.g. its disk failed); retry later"),
}
"""Every `error` code of the JSON error body: the status it comes with and what it means."""

ITEM_ERRORS = ("invalid_message", "invalid_type", "missing_identity", "missing_event", "missing_group_id",
               "missing_previous_id", "invalid_field", "invalid_timestamp", "event_too_large")
"""Codes a rejected batch item can carry in a 200 answer."""

CALL_STATUSES = (400, 401, 413, 415, 503)
"""What `POST /v1/<call>` answers besides 200; 404 and 405 only come from paths and methods that
are not operations of this document."""

SUMMARIES = {
    "track": "Record an action a user performed (`event`, with `properties`)",
    "identify": "Tie a user to their `traits`",
    "page": "Record a page view (`name`, `properties`)",
    "screen": "Record an app screen view (`name`, `properties`)",
    "group": "Associate a user with a group (`groupId`, `traits`)",
    "alias": "Merge two user identities (`previousId` becomes `userId`)",
}

_REF = "#/components/schemas/"


def ref(name: str) -> dict:
    return {"$ref": _REF + name}


def _time(description: str) -> dict:
    return ref("Time") | {"description": description}


_PRESENT = {"anyOf": [{"type": "string", "pattern": NON_BLANK}, {"type": "number"}]}
_ID = {"type": ["string", "number", "null"]}
_OBJECT = {"type": ["object", "null"]}


def message_schema(call: str) -> dict:
    """One Segment message sent to `/v1/<call>` (or as a batch item of that `type`)."""
    properties = {
        "type": {"const": call, "description": f"`{call}`; optional on `/v1/{call}`, required in a batch."},
        "userId": _ID | {"description": "the user's id in the merchant's system"},
        "anonymousId": _ID | {"description": "a device or cookie id, for users not yet known"},
        "messageId": _ID | {"description": "the client's id of this message; a repeat within 7 days is "
                                           "counted as a duplicate and not stored again. Assigned when missing."},
        "timestamp": _time("when the event happened, by the client's clock (Segment libraries send this)."),
        "originalTimestamp": _time("the client's own time; wins over `timestamp`."),
        "sentAt": _time("when the client sent the request; with it the stored time is corrected for the "
                        "client clock's error (receivedAt − (sentAt − client time))."),
        "context": _OBJECT | {"description": "library, device, page, campaign, ip, …; the server adds `source`"},
        "integrations": _OBJECT,
        "properties": _OBJECT,
        "traits": _OBJECT,
        "writeKey": {"type": ["string", "null"],
                     "description": "the write key, when not sent as the HTTP Basic user name"},
    }
    required = []
    if call == "track":
        properties["event"] = {"type": "string", "pattern": NON_BLANK, "description": "the action's name"}
        required.append("event")
    elif call in ("page", "screen"):
        properties["name"] = {"description": "the page or screen name (any JSON value, stored as sent)"}
    elif call == "group":
        properties["groupId"] = _PRESENT | {"description": "the group's id"}
        required.append("groupId")
    elif call == "alias":
        properties["previousId"] = _PRESENT | {"description": "the id the user had before"}
        required.append("previousId")
    schema = {
        "type": "object",
        "description": SUMMARIES[call] + ". `userId` or `anonymousId` is required (a non-blank string or a "
                       "number); unknown fields are kept as sent.",
        "properties": properties,
        "anyOf": [{"required": [key], "properties": {key: _PRESENT}} for key in ("userId", "anonymousId")],
        "additionalProperties": True,
    }
    if required:
        schema["required"] = required
    return schema


def _batch_schema() -> dict:
    return {
        "type": "object",
        "required": ["batch"],
        "properties": {
            "batch": {
                "type": "array",
                "maxItems": BATCH_ITEMS,
                "description": "Messages of any call, each with its `type`. Each item is checked on its "
                               "own: bad ones are reported by index in the answer's `rejected` and the "
                               "others stored. A non-empty batch needs at least one valid item.",
                "anyOf": [{"maxItems": 0}, {"contains": ref("BatchItem")}],
            },
            "context": _OBJECT | {"description": "merged into every item's `context` (the item's keys win)"},
            "integrations": _OBJECT | {"description": "merged into every item's `integrations`"},
            "sentAt": _time("given to every item that has none."),
            "writeKey": {"type": ["string", "null"],
                         "description": "the write key, when not sent as the HTTP Basic user name"},
        },
        "additionalProperties": True,
    }


def _schemas() -> dict:
    rejected_item = {
        "type": "object",
        "required": ["index", "error", "message", "path"],
        "additionalProperties": False,
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "error": {"enum": list(ITEM_ERRORS)},
            "message": {"type": "string"},
            "path": {"type": "string", "description": "the field at fault, e.g. `batch[3].timestamp`"},
        },
    }
    schemas = {name.capitalize(): message_schema(name) for name in CALLS}
    schemas |= {
        "Time": {"type": ["string", "null"], "pattern": f"^{TIME_PATTERN}$",
                 "description": "ISO-8601, year 1900–2999: `2024-05-01T12:00:00.123Z`, `2024-05-01T20:00:00+08:00`, "
                                "`2024-05-01 20:00` or `2024-05-01`; a time without a zone is read in the "
                                "warehouse's time zone. `null` is absent."},
        "BatchItem": {"type": "object", "required": ["type"],
                      "oneOf": [ref(name.capitalize()) for name in CALLS]},
        "Batch": _batch_schema(),
        "RejectedItem": rejected_item,
        "Accepted": {
            "type": "object",
            "required": ["success", "accepted", "duplicates"],
            "additionalProperties": False,
            "properties": {
                "success": {"const": True},
                "accepted": {"type": "integer", "minimum": 0, "description": "messages stored (fsync'd)"},
                "duplicates": {"type": "integer", "minimum": 0,
                               "description": "messages whose messageId was already stored"},
                "rejected": {"type": "array", "minItems": 1, "items": ref("RejectedItem"),
                             "description": "batch items refused, by index; absent when none"},
            },
        },
        "Error": {
            "type": "object",
            "required": ["error", "message", "path"],
            "additionalProperties": False,
            "description": "Every refusal: a code, one readable sentence and where in the body.",
            "properties": {
                "error": {"enum": list(ERRORS),
                          "description": "; ".join(f"`{c}` ({s}): {m}" for c, (s, m) in ERRORS.items())},
                "message": {"type": "string"},
                "path": {"type": "string",
                         "description": "`$` the whole request; else the field, e.g. `event` or `batch[2].type`"},
                "rejected": {"type": "array", "items": ref("RejectedItem"),
                             "description": "with `all_items_rejected`: why each item was refused"},
            },
        },
        "Health": {
            "type": "object",
            "required": ["ok", "loaded", "load_failures", "lock_waits", "quarantined", "fsyncs"],
            "additionalProperties": False,
            "properties": {
                "ok": {"type": "boolean", "description": "the spool is open"},
                "loaded": {"type": "integer", "minimum": 0, "description": "events loaded into the warehouse"},
                "load_failures": {"type": "integer", "minimum": 0},
                "lock_waits": {"type": "integer", "minimum": 0,
                               "description": "load cycles that waited for another process's warehouse lock"},
                "quarantined": {"type": "integer", "minimum": 0,
                                "description": "spooled lines the warehouse refused (expected: 0)"},
                "fsyncs": {"type": "integer", "minimum": 0},
            },
        },
    }
    return schemas


def _error_response(status: int) -> dict:
    codes = [code for code, (s, _) in ERRORS.items() if s == status]
    schema = {"allOf": [ref("Error"), {"properties": {"error": {"enum": codes}}}]}
    return {"description": ", ".join(f"`{c}`: {ERRORS[c][1]}" for c in codes),
            "content": {"application/json": {"schema": schema}}}


def _operation(call: str, body: str, summary: str) -> dict:
    description = (
        "Segment HTTP Tracking API. 200 means every accepted message is on disk (fsync'd); each is stored "
        "once. A body may be gzip- or deflate-compressed (`Content-Encoding`); other encodings answer 415. "
        "Limits: 32 KB per event, 500 KB per request, 2,500 items per batch.")
    return {
        "operationId": call,
        "summary": summary,
        "description": description,
        "tags": ["collection"],
        "security": [{"writeKey": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref(body)}}},
        "responses": {
            "200": {"description": "accepted", "content": {"application/json": {"schema": ref("Accepted")}}},
            **{str(status): {"$ref": f"#/components/responses/Refused{status}"} for status in CALL_STATUSES},
        },
    }


@cache
def document() -> dict:
    """The OpenAPI 3.1 document served at `/openapi.json` (and read by `/docs`)."""
    paths = {f"/v1/{call}": {"post": _operation(call, call.capitalize(), SUMMARIES[call])} for call in CALLS}
    paths["/v1/batch"] = {"post": _operation("batch", "Batch", "Send many messages of any call at once")}
    paths["/health"] = {"get": {
        "operationId": "health",
        "summary": "Liveness and spool/loader counters",
        "tags": ["operations"],
        "responses": {"200": {"description": "the server is up",
                              "content": {"application/json": {"schema": ref("Health")}}}},
    }}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flywheel collection API",
            "version": "1",
            "description": (
                "Segment-compatible event intake: durable (fsync before 200), exactly once. Point a Segment "
                "library's `host` at this server. Every refusal is the JSON `Error` body with one of the "
                "documented codes. Outside the operations below: a call that does not exist "
                "(`/v1/nosuch`) answers 404 `unknown_call`, any other path 404 `not_found`, and another "
                "method than the path's 405 `method_not_allowed` with `Allow`."),
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "responses": {f"Refused{status}": _error_response(status) for status in CALL_STATUSES},
            "securitySchemes": {"writeKey": {
                "type": "http", "scheme": "basic",
                "description": "the source's write key as the user name, empty password "
                               "(`flywheel sources add NAME` prints one); or `writeKey` in the body"}},
        },
    }
