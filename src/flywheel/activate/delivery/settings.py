"""Delivery settings, typed: where each channel sends, with which secret, and the guards' parameters.

Read and checked from YAML by `reading.py`; stored with sealed secrets by `store.py`.

    settings.channels()                       # ['email', 'sms', 'wecom']
    settings.quiet_hours_for("sms", marketing=True).contains(dt.time(22, 30))   # True

Quiet hours and caps are parsed and kept here, and applied by the journey executor at the moment
of sending.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from flywheel.errors import InputError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)
"""Standard Webhooks: a signing secret is 24 to 64 random bytes, base64 after `whsec_`."""
CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,62}$")
CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
DEFAULT_QUIET = "21:00-08:00"
SECURITY = {"none": 25, "starttls": 587, "tls": 465}
ON_CAP = ("skip", "defer")
SEALED = "(sealed)"
"""What a stored definition holds in place of a secret."""
TOP_KEYS = ("email", "webhooks", "quiet_hours", "caps", "on_cap", "retry", "concurrency", "inbound")


class DeliverySettingsError(InputError):
    """A delivery settings file that cannot be accepted as written."""


@dataclass(frozen=True)
class EmailSettings:
    smtp_host: str
    smtp_port: int
    sender: str
    """The From header as written (`Shop <shop@example.com>` or a bare address)."""
    sender_address: str
    security: str = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    unsubscribe_url: str | None = None
    """HTTPS URL with `{token}`: `List-Unsubscribe` and the one-click POST (RFC 8058) of marketing mail."""
    unsubscribe_mailto: str | None = None
    timeout: float = 10.0

    @property
    def domain(self) -> str:
        return self.sender_address.rsplit("@", 1)[1]


@dataclass(frozen=True)
class WebhookEndpoint:
    channel: str
    url: str
    secret: str = field(repr=False)
    timeout: float | None = None

    @property
    def key(self) -> bytes:
        return base64.b64decode(self.secret[len(SECRET_PREFIX):])


@dataclass(frozen=True)
class QuietHours:
    """A daily window in the recipient's local time, e.g. 21:00–08:00 (it may cross midnight)."""
    start: dt.time
    end: dt.time

    def contains(self, local: dt.time) -> bool:
        local = local.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Cap:
    """At most `per_day` messages per recipient-local day and `per_week` per rolling 7 days (None: no limit)."""
    per_day: int | None = None
    per_week: int | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts with exponential back-off: delay n = backoff × 2^(n−1), at most `max_backoff`."""
    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    timeout: float = 10.0
    breaker: int = 50
    """Consecutive retryable failures of one endpoint after which the rest of a batch is not tried."""

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based); a server's Retry-After wins
        when longer, within `max_backoff`."""
        base = self.backoff * 2 ** (attempt - 1)
        return min(max(base, retry_after or 0.0), self.max_backoff)


@dataclass
class DeliverySettings:
    email: EmailSettings | None = None
    webhooks: dict[str, WebhookEndpoint] = field(default_factory=dict)
    quiet_hours: dict[str, QuietHours | None] = field(default_factory=dict)
    """`marketing` (every channel) and per-channel overrides; None = no quiet hours on that channel."""
    caps: dict[str, Cap] = field(default_factory=dict)
    on_cap: str = "skip"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    email_connections: int = 4
    webhook_workers: int = 16
    sms_sources: tuple[str, ...] | None = None
    """Collection sources whose write keys may post SMS replies; None = any source."""
    definition: dict = field(default_factory=dict, repr=False)
    """The file's content with secrets removed (what is stored in clear)."""
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    """Dotted field path → secret value."""
    file: str = ""
    settings_id: str | None = None
    applied_at: dt.datetime | None = None
    applied_by: str | None = None
    endpoints: Any = field(default=None, repr=False)
    """`store.EndpointStates`: which endpoints a 410 disabled (set when loaded; in memory otherwise)."""
    unsubscribe_key: bytes | None = field(default=None, repr=False)
    """Signs the unsubscribe tokens of marketing mail (derived from the master key when loaded)."""

    def __post_init__(self):
        if self.endpoints is None:
            from flywheel.activate.delivery.store import EndpointStates

            self.endpoints = EndpointStates()

    def channels(self) -> list[str]:
        return (["email"] if self.email else []) + sorted(self.webhooks)

    def quiet_hours_for(self, channel: str, marketing: bool) -> QuietHours | None:
        """The window in which this channel's message may not be sent (transactional: never)."""
        if not marketing:
            return None
        if channel in self.quiet_hours:
            return self.quiet_hours[channel]
        return self.quiet_hours.get("marketing")

    def cap_for(self, channel: str) -> Cap | None:
        return self.caps.get(channel)
