"""Webhooks following the Standard Webhooks specification (https://www.standardwebhooks.com).

Each request carries `webhook-id` (the action's idempotency key, the same on every retry),
`webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`: `v1,` + base64 of
HMAC-SHA256 over `id.timestamp.body` with the endpoint's secret (`whsec_` + base64). The receiver
verifies the signature, rejects stale timestamps and drops ids it has already processed — that is
what makes retries safe. 2xx is delivered; 5xx, 429, 408, timeouts and broken connections are
retried with back-off; 410 Gone disables the endpoint; other answers fail the message.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import http.client
import json
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flywheel.activate.delivery.message import Message

USER_AGENT = "flywheel-delivery/1"
READ_LIMIT = 64 * 1024


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one attempt."""
    digest = hmac.digest(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest).decode()


def body_of(message: Message) -> bytes:
    """The JSON body: the message fields a channel gateway needs, UTF-8, compact."""
    payload = {"type": "message.send", "id": message.id, "channel": message.channel, "journey": message.journey,
               "step": message.step, "person_id": message.person_id, "to": message.to, "subject": message.subject,
               "text": message.text, "coupon_code": message.coupon_code, "purpose": message.purpose,
               "marketing": message.marketing}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Answer:
    """One attempt's result: the HTTP status (None when there was none) and why."""
    status: int | None
    detail: str
    retry_after: float | None = None
    error: str = ""
    """`timeout`, `connection_error` or `tls_error` when no HTTP status came back."""


class Connections:
    """Keep-alive HTTP connections of one worker, one per (scheme, host, port)."""

    def __init__(self):
        self._open: dict[tuple, http.client.HTTPConnection] = {}
        self._used: set[tuple] = set()

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        where = (parts.scheme, parts.hostname, parts.port)
        for fresh_try in (False, True):
            reused = where in self._used
            try:
                conn = self._connection(where, timeout)
                conn.request("POST", target, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read(READ_LIMIT)
            except TimeoutError:
                self._drop(where)
                return Answer(None, f"no answer within {timeout:g} s", error="timeout")
            except ssl.SSLCertVerificationError as e:
                self._drop(where)
                return Answer(None, f"TLS: {e.verify_message or e}", error="tls_error")
            except (http.client.HTTPException, OSError) as e:
                self._drop(where)
                if reused and not fresh_try and isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError,
                                                                 BrokenPipeError)):
                    continue  # the server closed an idle keep-alive connection: try once on a new one
                return Answer(None, f"{type(e).__name__}: {e}", error="connection_error")
            self._used.add(where)
            if response.will_close or len(data) == READ_LIMIT:
                self._drop(where)
            return Answer(response.status, f"HTTP {response.status} {response.reason}".strip(),
                          _retry_after(response.getheader("retry-after")))
        raise AssertionError("unreachable")

    def _connection(self, where: tuple, timeout: float) -> http.client.HTTPConnection:
        conn = self._open.get(where)
        if conn is None:
            scheme, host, port = where
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            conn.connect()
            # http.client writes the headers and the body separately: without TCP_NODELAY the body waits
            # for the acknowledgement of the headers (Nagle against delayed ACK), up to milliseconds a request
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._open[where] = conn
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
        else:
            conn.timeout = timeout
        return conn

    def _drop(self, where: tuple) -> None:
        conn = self._open.pop(where, None)
        self._used.discard(where)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for where in list(self._open):
            self._drop(where)


def headers_for(key: bytes, message: Message, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": message.id,
            "webhook-timestamp": str(timestamp), "webhook-signature": sign(key, message.id, timestamp, body)}


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time()) if when is not None else None

