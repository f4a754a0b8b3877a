"""The hot path: every `/v1/*` request answered by a bare ASGI handler in front of FastAPI.

FastAPI's request objects, routing and dependency machinery cost more than the rest of a request
(parse, check, spool) on a small machine; this handler reads the body, calls `Intake.collect` and
writes the JSON answer itself: `POST /v1/<call>` is collected, another method on a call is 405 (with
`Allow: POST`), an unknown call is 404, every refusal in the one JSON error body. SMS replies
(`POST /v1/inbound/sms`) are answered by `inbound.py`. `/health`, `/docs` and `/openapi.json` go to
FastAPI (`openapi.py` documents what this module answers); every other path is the console's
(`flywheel.console`: pages and /api/v1).
"""

from __future__ import annotations

import logging

from flywheel.errors import FlywheelError
from flywheel.jsoncodec import dumps
from flywheel.server.inbound import PATHS as INBOUND
from flywheel.server.inbound import respond_inbound
from flywheel.server.rules import BATCH_LIMIT, CALLS, CollectError

log = logging.getLogger(__name__)

ROUTES = frozenset((*CALLS, "batch"))
JSON_HEADERS = [(b"content-type", b"application/json")]
TOO_LARGE = CollectError(413, "request_too_large", f"request body exceeds the 500 KB limit ({BATCH_LIMIT} bytes)")
NOT_POST = CollectError(405, "method_not_allowed", "collection calls take POST only")
UNKNOWN_CALL = CollectError(404, "unknown_call", f"no such call; use one of {', '.join(sorted(ROUTES))}")


async def respond(intake, call: str, body: bytes, authorization: str | None, encoding: str | None) -> tuple[int, bytes]:
    """Status and JSON body for one `/v1/<call>` request; never raises for bad input."""
    try:
        if call not in ROUTES:
            return UNKNOWN_CALL.status, dumps(UNKNOWN_CALL.body())
        outcome = await intake.collect(call, body, authorization, encoding)
    except CollectError as e:
        return e.status, dumps(e.body())
    except FlywheelError as e:
        return 503, dumps(CollectError(503, "unavailable", str(e)).body())
    reply = {"success": True, "accepted": outcome.accepted, "duplicates": outcome.duplicates}
    if outcome.rejected:
        reply["rejected"] = outcome.rejected
    return 200, dumps(reply)


COLLECTION_PATHS = frozenset(("/health", "/openapi.json", "/docs", "/docs/oauth2-redirect"))
"""What the collection's FastAPI serves; with a console every other path is the console's."""


class Edge:
    """ASGI app: /v1/* handled here, the collection's own paths (and the lifespan) passed to
    `fallback` (FastAPI), every other path to `console` when there is one."""

    def __init__(self, intake, fallback, console=None):
        self.intake, self.fallback, self.console = intake, fallback, console
        self.state = fallback.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            if self.console is not None and scope["type"] == "http" and scope["path"] not in COLLECTION_PATHS:
                await self.console(scope, receive, send)
            else:
                await self.fallback(scope, receive, send)
            return
        if scope["method"] != "POST":
            await self.refuse(scope, send)
            return
        authorization = encoding = None
        declared = -1
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else -1
            elif name == b"content-encoding":
                encoding = value.decode("latin-1")
        if declared > BATCH_LIMIT:
            status, body = TOO_LARGE.status, dumps(TOO_LARGE.body())
        else:
            data = await read_body(receive)
            if data is None:
                status, body = TOO_LARGE.status, dumps(TOO_LARGE.body())
            elif scope["path"] in INBOUND:
                status, body = await respond_inbound(self.intake, data, authorization, encoding)
            else:
                status, body = await respond(self.intake, scope["path"][4:], data, authorization, encoding)
        await answer(send, status, body)

    async def refuse(self, scope, send) -> None:
        """Another method than POST: 405 on a call (without reading the body), 404 on anything else."""
        if scope["path"][4:] in ROUTES or scope["path"] in INBOUND:
            await answer(send, NOT_POST.status, dumps(NOT_POST.body()), [(b"allow", b"POST")])
        else:
            await answer(send, UNKNOWN_CALL.status, dumps(UNKNOWN_CALL.body()))


async def answer(send, status: int, body: bytes, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": JSON_HEADERS + (headers or []) + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive) -> bytes | None:
    """The whole request body, or None as soon as it passes the batch limit."""
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks, size = [body], len(body)
    while message.get("more_body"):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > BATCH_LIMIT:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
