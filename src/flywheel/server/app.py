"""The collection app: a bare ASGI edge for `POST /v1/*` (see `edge`) in front of FastAPI.

Routes follow the Segment HTTP Tracking API (`POST /v1/track|identify|page|screen|group|alias|batch`)
so Segment's own client libraries work when pointed at this server with their `host` option. FastAPI
serves `/health` and the OpenAPI document (`/openapi.json`, `/docs`; built in `openapi.py`), and
answers its own 404/405 in the same JSON error body as the edge.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from flywheel.config import Settings
from flywheel.jsoncodec import dumps
from flywheel.server.edge import Edge
from flywheel.server.intake import Intake
from flywheel.server.openapi import document
from flywheel.server.scheduler import TickScheduler

log = logging.getLogger(__name__)


FASTAPI_ERRORS = {404: "not_found", 405: "method_not_allowed"}
"""Codes of the refusals FastAPI itself makes (paths other than /v1/*), in the edge's error body."""

SWITCH_INTERVAL = 0.0005
"""Seconds a thread may hold the GIL while another waits (Python's default: 0.005). The spool writer
wakes from each fsync wanting the GIL back to acknowledge the requests; with the default it could wait
5 ms behind the event loop on every commit, which is most of a single event's latency."""


def create_app(settings: Settings, load_interval: float = 1.0, commit_window: float = 0.0,
               loader_process: bool = False, tick_every: float | None = None, console: bool = True) -> Edge:
    """The collection ASGI app; its lifespan starts the intake (spool, loader) and drains it on shutdown.

    `app.state.intake` is the running `Intake`. `loader_process`: load the spool in a separate
    process (`loadworker`) instead of a thread of this one — what `serve` does. `tick_every`: also
    run one journey tick every that many seconds (`app.state.scheduler`, see `scheduler`). `console`:
    serve the console's pages and /api/v1 (`flywheel.console`) at every other path."""
    intake = Intake(settings, load_interval=load_interval, commit_window=commit_window,
                    loader_process=loader_process)
    scheduler = TickScheduler(settings, tick_every) if tick_every else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        intake.start()
        try:
            if scheduler is not None:
                scheduler.start()
            yield
        finally:
            try:
                if scheduler is not None:
                    scheduler.stop()  # a tick in progress ends first
            finally:
                intake.stop()

    api = FastAPI(title="Flywheel collection API", version="1", lifespan=lifespan)
    api.openapi = document  # the /v1/* calls never reach FastAPI's router; the document says what the edge does
    api.state.intake = intake
    api.state.scheduler = scheduler

    @api.exception_handler(HTTPException)
    async def refused(request: Request, e: HTTPException) -> Response:
        code = FASTAPI_ERRORS.get(e.status_code)
        if code is None:
            return await http_exception_handler(request, e)
        return Response(dumps({"error": code, "message": str(e.detail), "path": "$"}), status_code=e.status_code,
                        headers=e.headers, media_type="application/json")

    @api.get("/health", summary="Liveness and spool/loader counters")
    async def health() -> Response:
        loader = intake.loader
        return Response(status_code=200, media_type="application/json", content=dumps(
            {"ok": intake.spool is not None, "loaded": loader.loaded if loader else 0,
             "load_failures": loader.failures if loader else 0, "lock_waits": loader.lock_waits if loader else 0,
             "quarantined": loader.quarantined if loader else 0,
             "fsyncs": intake.spool.commits if intake.spool else 0}))

    pages = None
    if console:
        from flywheel.console import create_console

        pages = create_console(settings)
    return Edge(intake, api, pages)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080, load_interval: float = 1.0,
          tick_every: float | None = None) -> None:
    """Run the collection server until SIGINT/SIGTERM; shutdown drains the spool into the warehouse
    (after a journey tick in progress, with `tick_every`, has ended).

    uvloop and httptools (uvicorn's fast event loop and HTTP parser) are used when installed."""
    import sys

    import uvicorn

    sys.setswitchinterval(SWITCH_INTERVAL)
    app = create_app(settings, load_interval=load_interval, loader_process=True, tick_every=tick_every)
    uvicorn.run(app, host=host, port=port, log_level="warning",
                access_log=False, server_header=False, date_header=False, proxy_headers=False)
