"""The HTTP edge of collection: parse the request, call `Intake.collect`, answer. No rules here.

Routes follow the Segment HTTP Tracking API (`POST /v1/track|identify|page|screen|group|alias|batch`)
so Segment's own client libraries work when pointed at this server with their `host` option.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response

from flywheel.config import Settings
from flywheel.errors import FlywheelError
from flywheel.jsoncodec import dumps
from flywheel.server.intake import Intake
from flywheel.server.rules import BATCH_LIMIT, CALLS, CollectError

log = logging.getLogger(__name__)

ROUTES = (*CALLS, "batch")
OK = dumps({"success": True})


def _json(status: int, body: dict) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json")


async def read_body(request: Request) -> bytes:
    """The request body, refused as soon as it passes the batch limit (before it is all read)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > BATCH_LIMIT:
        raise CollectError(413, "request_too_large", f"request body exceeds the 500 KB limit ({BATCH_LIMIT} bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BATCH_LIMIT:
            raise CollectError(413, "request_too_large",
                               f"request body exceeds the 500 KB limit ({BATCH_LIMIT} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: Settings, load_interval: float = 1.0, commit_window: float = 0.001) -> FastAPI:
    """The collection app; its lifespan starts the intake (spool, loader) and drains it on shutdown."""
    intake = Intake(settings, load_interval=load_interval, commit_window=commit_window)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        intake.start()
        try:
            yield
        finally:
            intake.stop()

    app = FastAPI(title="Flywheel collection API", version="1", lifespan=lifespan,
                  description="Segment-compatible event intake: durable (fsync before 200), exactly once.")
    app.state.intake = intake

    @app.exception_handler(CollectError)
    async def refused(request: Request, e: CollectError) -> Response:
        return _json(e.status, e.body())

    @app.exception_handler(FlywheelError)
    async def unavailable(request: Request, e: FlywheelError) -> Response:
        return _json(503, {"error": "unavailable", "message": str(e), "path": "$"})

    @app.post("/v1/{call}", summary="Segment Tracking API call (track, identify, page, screen, group, alias, batch)",
              responses={400: {"description": "invalid message"}, 401: {"description": "bad write key"},
                         413: {"description": "over the 32 KB event or 500 KB batch limit"}})
    async def collect(call: str, request: Request) -> Response:
        if call not in ROUTES:
            raise CollectError(404, "unknown_call", f"no such call; use one of {', '.join(ROUTES)}", "$")
        body = await read_body(request)
        await intake.collect(call, body, request.headers.get("authorization"),
                             request.headers.get("content-encoding"))
        return Response(OK, media_type="application/json")

    @app.get("/health", summary="Liveness and spool/loader counters")
    async def health() -> Response:
        loader = intake.loader
        return _json(200, {"ok": intake.spool is not None, "loaded": loader.loaded if loader else 0,
                           "load_failures": loader.failures if loader else 0,
                           "fsyncs": intake.spool.commits if intake.spool else 0})

    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080, load_interval: float = 1.0) -> None:
    """Run the collection server until SIGINT/SIGTERM; shutdown drains the spool into the warehouse."""
    import uvicorn

    uvicorn.run(create_app(settings, load_interval=load_interval), host=host, port=port,
                log_level="warning", access_log=False, server_header=False)
