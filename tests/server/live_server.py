"""Start a live collection server on a free 127.0.0.1 port, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import httpx
import uvicorn

from flywheel.config import Settings
from flywheel.server import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    write_key: str
    settings: Settings
    app: object
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def intake(self):
        return self.app.state.intake

    def load(self) -> None:
        """Rotate the spool and apply it to the warehouse now."""
        self.intake.loader.load_now()

    def post(self, call: str, body, auth: bool = True, **kw) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/{call}", json=body, auth=(self.write_key, "") if auth else None,
                          timeout=10, **kw)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_server(settings: Settings, write_key: str) -> LiveServer:
    port = free_port()
    app = create_app(settings, load_interval=3600)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", write_key, settings, app, server, thread)
