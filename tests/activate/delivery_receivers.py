"""Real local endpoints for delivery tests: an SMTP server (aiosmtpd) and a webhook receiver.

The webhook receiver behaves as the Standard Webhooks spec asks a consumer to: it verifies every
signature with the `standardwebhooks` package, and performs the side effect once per `webhook-id`
(later copies are acknowledged and dropped). It can be told to fail the first N attempts of each
message (with a status, or by not answering in time), or to answer a fixed status on a path.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

SECRET = "whsec_" + base64.b64encode(b"delivery-tests-signing-secret-32b").decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self):
        return message_from_bytes(self.data, policy=policy.default)


class _Collect:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        if address in self.sink.refuse:
            return self.sink.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.sink.lock:
            self.sink.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


class SmtpSink:
    """aiosmtpd on 127.0.0.1 collecting every message; `refuse[address]` answers RCPT with that line."""

    def __init__(self, auth: tuple[str, str] | None = None):
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}
        self.lock = threading.Lock()
        self.port = free_port()
        kwargs = {}
        if auth is not None:
            def check(server, session, envelope, mechanism, data):
                from aiosmtpd.smtp import AuthResult, LoginPassword

                ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == auth
                return AuthResult(success=ok, handled=False)

            kwargs = {"authenticator": check, "auth_require_tls": False}
        self.controller = Controller(_Collect(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


@dataclass
class Behaviour:
    fail_first: int = 0
    """Attempts of each message answered with `fail_status` before it is accepted."""
    fail_status: int = 503
    hang_first: int = 0
    """Attempts of each message not answered for `hang_seconds` (the sender's timeout fires)."""
    hang_seconds: float = 1.0
    effect_before_hang: bool = False
    """Perform the side effect, then hang: the worst case, where only the acknowledgement is lost."""
    status: int | None = None
    """Answer every request with this status (e.g. 410)."""
    retry_after: str | None = None
    delay_seconds: float = 0.0
    """Time taken by each accepted message (a slow gateway: kills land while messages are in flight)."""


@dataclass
class WebhookReceiver:
    """A threaded HTTP server on 127.0.0.1; `behaviour[path]` says how it answers each path."""
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    secret: str = SECRET
    attempts: Counter = field(default_factory=Counter)
    """Requests per webhook-id."""
    effects: dict[str, dict] = field(default_factory=dict)
    """The side effect: the body of each webhook-id, performed once."""
    duplicates: int = 0
    bad_signatures: int = 0
    requests: list = field(default_factory=list)

    def __post_init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.verifier = Webhook(self.secret)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status, extra = receiver.handle(self.path, dict(self.headers), body)
                if status is None:
                    return
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True

    def handle(self, path: str, headers: dict, body: bytes) -> tuple[int | None, dict]:
        msg_id = headers.get("webhook-id") or headers.get("Webhook-Id")
        with self.lock:
            self.attempts[msg_id] += 1
            attempt = self.attempts[msg_id]
            self.requests.append((path, dict(headers), body))
        try:
            payload = self.verifier.verify(body, headers)
        except WebhookVerificationError:
            with self.lock:
                self.bad_signatures += 1
            return 401, {}
        b = self.behaviour.get(path, Behaviour())
        if b.status is not None:
            return b.status, {}
        if attempt <= b.hang_first:
            if b.effect_before_hang:
                self._effect(msg_id, payload)
            time.sleep(b.hang_seconds)
            return None, {}
        if attempt <= b.hang_first + b.fail_first:
            return b.fail_status, ({"retry-after": b.retry_after} if b.retry_after else {})
        if b.delay_seconds:
            time.sleep(b.delay_seconds)
        self._effect(msg_id, payload)
        return 200, {}

    def _effect(self, msg_id: str, payload: dict) -> None:
        with self.lock:
            if msg_id in self.effects:
                self.duplicates += 1
            else:
                self.effects[msg_id] = payload

    def __enter__(self) -> "WebhookReceiver":
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def settings_yaml(smtp_port: int | None = None, hooks: dict[str, str] | None = None, extra: str = "") -> str:
    """A delivery settings file for the local endpoints."""
    lines = []
    if smtp_port is not None:
        lines.append(f'email: {{smtp_host: 127.0.0.1, smtp_port: {smtp_port}, sender: "Shop 店 <shop@example.com>", '
                     f'unsubscribe_url: "https://shop.example.com/unsubscribe/{{token}}"}}')
    if hooks:
        lines.append("webhooks:")
        lines += [f'  {name}: {{url: "{url}", secret: "{SECRET}"}}' for name, url in hooks.items()]
    return "\n".join(lines) + "\n" + extra


def body(request) -> dict:
    return json.loads(request[2])
