"""A message to one person on one channel, and what became of it.

`Message.id` is the action's idempotency key (journey, person, episode, step): it is the webhook's
`webhook-id` and the source of the e-mail's `Message-ID`, the same on every retry and every re-run,
so a receiver that has seen it once can drop the copy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

STATUSES = ("delivered", "retry_later", "failed", "endpoint_disabled", "refused")
"""`delivered`: the endpoint accepted it (HTTP 2xx, SMTP 250). `retry_later`: not delivered after the
bounded attempts, for a reason that may pass (try again later with the same id). `failed`: will not
succeed as it is. `endpoint_disabled`: the endpoint answered 410 Gone, now or before; nothing is sent
to it until the settings are applied again. `refused`: a channel rule forbids it (nothing was sent)."""

REASONS = {
    "ok": "accepted by the endpoint",
    "server_error": "HTTP 5xx after the last attempt",
    "rate_limited": "HTTP 429 after the last attempt",
    "timeout": "no answer within the timeout after the last attempt",
    "connection_error": "could not connect or the connection broke, after the last attempt",
    "endpoint_unavailable": "not tried: the endpoint failed too many times in a row in this batch",
    "rejected": "HTTP 4xx other than 408, 410 and 429, or a redirect (not followed)",
    "tls_error": "the endpoint's TLS certificate did not verify",
    "smtp_temporary": "SMTP 4xx after the last attempt",
    "smtp_permanent": "SMTP 5xx (sender or message refused)",
    "smtp_auth": "the SMTP server refused the user name or password",
    "recipient_refused": "SMTP 5xx for the recipient address",
    "invalid_address": "the address is not one this channel can send to",
    "no_endpoint": "the channel is not configured in the delivery settings",
    "gone": "HTTP 410 Gone: the endpoint is now disabled",
    "endpoint_disabled": "the endpoint answered 410 earlier; apply the delivery settings again to re-enable it",
    "wecom_daily_limit": "WeCom allows one mass message per external contact per day (Asia/Shanghai)",
}
"""Every reason code an `Outcome` carries."""


@dataclass(frozen=True)
class Message:
    id: str
    """Idempotency key of the action; stable across retries."""
    channel: str
    """`email` or a webhook channel of the settings (`sms`, `wecom`, …)."""
    to: str
    """The address on that channel: e-mail address, phone (E.164), WeCom external_userid, …"""
    text: str
    purpose: str
    marketing: bool = True
    """Marketing (mass) message; False = transactional (exempt from quiet hours and the WeCom limit)."""
    person_id: str = ""
    journey: str = ""
    step: str = ""
    subject: str = ""
    coupon_code: str | None = None
    html: str | None = None
    """Optional HTML alternative of an e-mail's text."""


@dataclass(frozen=True)
class Outcome:
    message_id: str
    channel: str
    status: str
    reason: str
    detail: str = ""
    attempts: int = 0
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    text: str = ""
    """The text as sent (an SMS with its opt-out line)."""

    @property
    def delivered(self) -> bool:
        return self.status == "delivered"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Refusal:
    """Why a channel rule forbids a message (see `rules.wecom_allows`)."""
    reason: str
    detail: str


def outcome(message: Message, status: str, reason: str, detail: str = "", attempts: int = 0) -> Outcome:
    assert status in STATUSES and reason in REASONS, (status, reason)
    return Outcome(message.id, message.channel, status, reason, detail, attempts, text=message.text)
