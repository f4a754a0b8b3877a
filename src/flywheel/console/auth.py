"""Who is calling the console: an `X-API-Key` header or a session cookie made by logging in with a
key, one rate limit per key, and the CSRF token that every form and HTMX write carries.

Both paths end in the same `Principal` (the key and the role it acts in), so a page and the JSON API
answer the same caller with the same rights. A session is only a pointer to its key: revoking the key
ends its sessions on their next request.
"""

from __future__ import annotations

import hmac
import math
import secrets
import threading
import time
from dataclasses import dataclass, field

from flywheel.console.keys import ApiKey, ApiKeys

SESSION_COOKIE = "fw_session"
LOGIN_COOKIE = "fw_login"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 8 * 3600


class ApiError(Exception):
    """A refusal with its HTTP status and stable code; rendered as `{"error": {"code", "message"}}`
    for the API and as an error page (or a redirect to /login) for pages."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass
class Session:
    token: str
    key_id: str
    csrf: str
    expires: float


@dataclass
class Principal:
    key: ApiKey
    session: Session | None = None

    @property
    def csrf(self) -> str | None:
        return self.session.csrf if self.session else None


class Sessions:
    """Logged-in browsers, in this process's memory (a restart logs everyone out)."""

    def __init__(self, seconds: float = SESSION_SECONDS, limit: int = 10_000):
        self.seconds, self.limit = seconds, limit
        self._lock = threading.Lock()
        self._by_token: dict[str, Session] = {}

    def open(self, key: ApiKey) -> Session:
        now = time.monotonic()
        with self._lock:
            if len(self._by_token) >= self.limit:
                self._by_token = {t: s for t, s in self._by_token.items() if s.expires > now}
                if len(self._by_token) >= self.limit:
                    oldest = min(self._by_token.values(), key=lambda s: s.expires)
                    del self._by_token[oldest.token]
            s = Session(secrets.token_urlsafe(32), key.id, secrets.token_urlsafe(24), now + self.seconds)
            self._by_token[s.token] = s
            return s

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            s = self._by_token.get(token)
            if s is None:
                return None
            if s.expires <= time.monotonic():
                del self._by_token[token]
                return None
            return s

    def close(self, token: str | None) -> None:
        with self._lock:
            self._by_token.pop(token or "", None)


@dataclass
class RateLimiter:
    """A token bucket per key: `rate` requests a second on average, bursts up to `burst`."""

    rate: float = 20.0
    burst: int = 60
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, who: str) -> float:
        """0 when the request may go ahead, else the seconds until it may (for Retry-After)."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(who, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[who] = (tokens - 1, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1 - tokens) / self.rate


class ConsoleAuth:
    def __init__(self, keys: ApiKeys, limiter: RateLimiter, login_limiter: RateLimiter | None = None):
        self.keys, self.limiter = keys, limiter
        self.login_limiter = login_limiter or RateLimiter(rate=0.2, burst=10)
        self.sessions = Sessions()

    def principal(self, api_key: str | None, session_token: str | None) -> Principal:
        """The caller, or 401. A header key wins over a cookie (scripts never carry stale sessions)."""
        if api_key is not None:
            key = self.keys.find(api_key)
            if key is None:
                raise ApiError(401, "invalid_key", "the X-API-Key is unknown or revoked")
            self.throttle(key.id)
            return Principal(key)
        session = self.sessions.get(session_token)
        if session is None:
            raise ApiError(401, "unauthenticated", "send an X-API-Key header or log in at /login")
        key = self.keys.by_id(session.key_id)
        if key is None:
            self.sessions.close(session.token)
            raise ApiError(401, "invalid_key", "the key of this session was revoked; log in again")
        self.throttle(key.id)
        return Principal(key, session)

    def throttle(self, who: str) -> None:
        wait = self.limiter.take(who)
        if wait:
            raise ApiError(429, "rate_limited", f"too many requests for this key; retry in {math.ceil(wait)} s",
                           {"Retry-After": str(math.ceil(wait))})

    def login(self, secret: str, client: str) -> Session:
        wait = self.login_limiter.take(f"login:{client}")
        if wait:
            raise ApiError(429, "rate_limited", f"too many login attempts; retry in {math.ceil(wait)} s",
                           {"Retry-After": str(math.ceil(wait))})
        key = self.keys.find(secret.strip())
        if key is None:
            raise ApiError(401, "invalid_key", "this key is unknown or revoked")
        return self.sessions.open(key)


def same_token(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a, b)
