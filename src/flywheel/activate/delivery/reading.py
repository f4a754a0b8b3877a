"""Reading delivery settings: one YAML file checked field by field before anything is stored.

Every mistake is one line naming the file, the line, the field and the reason (docs/activation.md,
"Delivery"). Secrets (webhook `secret`, SMTP `password`) are split off the definition here, so the
stored definition holds `SEALED` in their place; a secret's value never appears in an error.

    settings = load_settings_file(Path("delivery.yaml"))
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from flywheel.activate.delivery.settings import (
    CHANNEL_NAME,
    CLOCK,
    DEFAULT_QUIET,
    ON_CAP,
    SEALED,
    SECRET_BYTES,
    SECRET_PREFIX,
    SECURITY,
    SOURCE_NAME,
    TOP_KEYS,
    Cap,
    DeliverySettings,
    DeliverySettingsError,
    EmailSettings,
    QuietHours,
    RetryPolicy,
    WebhookEndpoint,
)


def load_settings_file(path: Path) -> DeliverySettings:
    """Read and check a delivery settings file (nothing is stored)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DeliverySettingsError(f"{path}: not UTF-8 text") from None
    try:
        spec = yaml.safe_load(text)
        lines = _lines(yaml.compose(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise DeliverySettingsError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    return parse_settings(spec, str(path), lines)


def parse_settings(spec: Any, file: str = "<delivery settings>", lines: dict[str, int] | None = None) -> DeliverySettings:
    """Check a settings mapping (as read from YAML) and build the typed settings."""
    return _Reader(file, lines or {}).settings(spec)


def _lines(node, path: str = "", found: dict[str, int] | None = None) -> dict[str, int]:
    """Dotted path → 1-based line of every mapping key and sequence item of a composed YAML node."""
    found = {} if found is None else found
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            p = f"{path}.{key.value}" if path else str(key.value)
            found[p] = key.start_mark.line + 1
            _lines(value, p, found)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            p = f"{path}[{i}]"
            found[p] = item.start_mark.line + 1
            _lines(item, p, found)
    return found


class _Reader:
    """Checks one settings mapping, field by field; `fail` names the file, line and field."""

    def __init__(self, file: str, lines: dict[str, int]):
        self.file, self.lines = file, lines

    def fail(self, path: str, reason: str):
        probe = path
        while probe and probe not in self.lines:
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
        line = f", line {self.lines[probe]}" if probe else ""
        raise DeliverySettingsError(f"{self.file}{line}: {path or 'the file'}: {reason}")

    def mapping(self, value, path: str, known: tuple[str, ...] | None = None) -> dict:
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                self.fail(path, f"keys must be text, got {key!r}")
            if known is not None and key not in known:
                self.fail(f"{path}.{key}" if path else key, f"unknown field; known: {', '.join(known)}")
        return value

    def text(self, value, path: str, pattern: re.Pattern | None = None, hint: str = "", secret: bool = False) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "must be non-empty text" + ("" if secret else f", got {_kind(value)}"))
        if pattern is not None and not pattern.match(value):
            self.fail(path, f"{value!r} is not valid{': ' + hint if hint else ''}")
        return value.strip()

    def integer(self, value, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be a whole number, got {_kind(value)}")
        if not low <= value <= high:
            self.fail(path, f"must be between {low} and {high}, got {value}")
        return value

    def number(self, value, path: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(path, f"must be a number, got {_kind(value)}")
        if not low < value <= high:
            self.fail(path, f"must be more than {low:g} and at most {high:g}, got {value}")
        return float(value)

    def settings(self, spec) -> DeliverySettings:
        if spec is None:
            self.fail("", "is empty; it needs `email` and/or `webhooks`")
        spec = self.mapping(spec, "", TOP_KEYS)
        email = self.email(spec["email"]) if spec.get("email") is not None else None
        webhooks = {}
        for name, endpoint in self.mapping(spec.get("webhooks") or {}, "webhooks").items():
            webhooks[name] = self.webhook(name, endpoint, f"webhooks.{name}")
        if email is None and not webhooks:
            self.fail("", "configures no channel: give `email` and/or `webhooks`")
        channels = (["email"] if email else []) + sorted(webhooks)
        retry = self.retry(spec.get("retry") or {})
        concurrency = self.mapping(spec.get("concurrency") or {}, "concurrency", ("email", "webhooks"))
        inbound = self.mapping(spec.get("inbound") or {}, "inbound", ("sms_sources",))
        sources = None
        if inbound.get("sms_sources") is not None:
            listed = inbound["sms_sources"]
            if not isinstance(listed, list) or not listed:
                self.fail("inbound.sms_sources", f"must be a non-empty list of source names, got {_kind(listed)}")
            sources = tuple(self.text(s, f"inbound.sms_sources[{i}]", SOURCE_NAME, "a source name such as sms-gateway")
                            for i, s in enumerate(listed))
        on_cap = spec.get("on_cap", "skip")
        if on_cap not in ON_CAP:
            self.fail("on_cap", f"must be skip or defer, got {on_cap!r}")
        definition, secrets = _split_secrets(spec)
        return DeliverySettings(
            email=email, webhooks=webhooks, quiet_hours=self.quiet(spec.get("quiet_hours"), channels),
            caps=self.caps(spec.get("caps") or {}, channels), on_cap=on_cap, retry=retry,
            email_connections=self.integer(concurrency.get("email", 4), "concurrency.email", 1, 64),
            webhook_workers=self.integer(concurrency.get("webhooks", 16), "concurrency.webhooks", 1, 256),
            sms_sources=sources, definition=definition, secrets=secrets, file=self.file)

    def email(self, spec) -> EmailSettings:
        spec = self.mapping(spec, "email", ("smtp_host", "smtp_port", "sender", "security", "username", "password",
                                            "unsubscribe_url", "unsubscribe_mailto", "timeout_seconds"))
        for required in ("smtp_host", "sender"):
            if required not in spec:
                self.fail(f"email.{required}", "is required")
        host = self.text(spec["smtp_host"], "email.smtp_host", re.compile(r"^[^\s/:]+$"), "a host name or IP address")
        security = spec.get("security", "none")
        if security not in SECURITY:
            self.fail("email.security", f"must be one of {', '.join(SECURITY)}, got {security!r}")
        port = self.integer(spec.get("smtp_port", SECURITY[security]), "email.smtp_port", 1, 65535)
        sender = self.text(spec["sender"], "email.sender")
        address = self.address(sender, "email.sender")
        username = self.text(spec["username"], "email.username") if spec.get("username") is not None else None
        password = None
        if spec.get("password") is not None:
            password = self.text(spec["password"], "email.password", secret=True)
            if username is None:
                self.fail("email.password", "needs email.username")
        url = None
        if spec.get("unsubscribe_url") is not None:
            url = self.text(spec["unsubscribe_url"], "email.unsubscribe_url")
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.netloc:
                self.fail("email.unsubscribe_url", "must be an https:// URL (RFC 8058 one-click needs HTTPS)")
            if "{token}" not in url:
                self.fail("email.unsubscribe_url", "must contain {token} (it tells the page whose choice it is)")
        mailto = None
        if spec.get("unsubscribe_mailto") is not None:
            mailto = self.address(self.text(spec["unsubscribe_mailto"], "email.unsubscribe_mailto"),
                                  "email.unsubscribe_mailto")
        timeout = self.number(spec.get("timeout_seconds", 10), "email.timeout_seconds", 0, 300)
        return EmailSettings(host, port, sender, address, security, username, password, url, mailto, timeout)

    def address(self, value: str, path: str) -> str:
        _, address = parseaddr(value)
        if not re.match(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]{2,}$", address):
            self.fail(path, f"{value!r} is not an e-mail address")
        return address

    def webhook(self, name, spec, path: str) -> WebhookEndpoint:
        if not CHANNEL_NAME.match(name) or name == "email":
            self.fail(path, "a channel name is lower-case letters, digits and _ (not `email`), e.g. sms, wecom")
        spec = self.mapping(spec, path, ("url", "secret", "timeout_seconds"))
        for required in ("url", "secret"):
            if required not in spec:
                self.fail(f"{path}.{required}", "is required")
        url = self.text(spec["url"], f"{path}.url")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.fail(f"{path}.url", f"{url!r} is not an http:// or https:// URL")
        try:
            parts.port
        except ValueError:
            self.fail(f"{path}.url", f"{url!r} has an invalid port")
        secret = self.text(spec["secret"], f"{path}.secret", secret=True)
        if not secret.startswith(SECRET_PREFIX):
            self.fail(f"{path}.secret", f"must be `{SECRET_PREFIX}` followed by base64 (Standard Webhooks)")
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            self.fail(f"{path}.secret", f"the part after `{SECRET_PREFIX}` is not base64")
        low, high = SECRET_BYTES
        if not low <= len(key) <= high:
            self.fail(f"{path}.secret", f"must hold {low}–{high} random bytes, holds {len(key)} "
                      f"(make one: python -c \"import base64,secrets;print('whsec_'+base64.b64encode("
                      f"secrets.token_bytes(32)).decode())\")")
        timeout = None
        if spec.get("timeout_seconds") is not None:
            timeout = self.number(spec["timeout_seconds"], f"{path}.timeout_seconds", 0, 300)
        return WebhookEndpoint(name, url, secret, timeout)

    def quiet(self, spec, channels: list[str]) -> dict[str, QuietHours | None]:
        if spec is None:
            spec = {"marketing": DEFAULT_QUIET}
        spec = self.mapping(spec, "quiet_hours")
        windows: dict[str, QuietHours | None] = {}
        for key, value in spec.items():
            path = f"quiet_hours.{key}"
            if key == "transactional":
                self.fail(path, "transactional messages are exempt from quiet hours")
            if key != "marketing" and key not in channels:
                self.fail(path, f"no such channel; use `marketing` (every channel) or one of {', '.join(channels)}")
            if value is None or value is False or value == "off":
                windows[key] = None
                continue
            text = self.text(value, path)
            start, sep, end = text.partition("-")
            a, b = CLOCK.match(start.strip()), CLOCK.match(end.strip())
            if not sep or not a or not b:
                self.fail(path, f"{text!r} is not a window like \"21:00-08:00\" (24-hour HH:MM-HH:MM), or off")
            window = QuietHours(dt.time(int(a[1]), int(a[2])), dt.time(int(b[1]), int(b[2])))
            if window.start == window.end:
                self.fail(path, f"{text!r} starts and ends at the same time; write off for no quiet hours")
            windows[key] = window
        return windows

    def caps(self, spec, channels: list[str]) -> dict[str, Cap]:
        caps = {}
        for channel, cap in self.mapping(spec, "caps").items():
            path = f"caps.{channel}"
            if channel not in channels:
                self.fail(path, f"no such channel; configured: {', '.join(channels)}")
            cap = self.mapping(cap, path, ("per_day", "per_week"))
            if not cap:
                self.fail(path, "give per_day and/or per_week")
            caps[channel] = Cap(*(self.integer(cap[k], f"{path}.{k}", 0, 10_000) if cap.get(k) is not None else None
                                  for k in ("per_day", "per_week")))
        return caps

    def retry(self, spec) -> RetryPolicy:
        spec = self.mapping(spec, "retry", ("attempts", "backoff_seconds", "max_backoff_seconds", "timeout_seconds",
                                            "breaker"))
        d = RetryPolicy()
        backoff = self.number(spec.get("backoff_seconds", d.backoff), "retry.backoff_seconds", 0, 3600)
        most = self.number(spec.get("max_backoff_seconds", max(d.max_backoff, backoff)), "retry.max_backoff_seconds",
                           0, 86_400)
        if most < backoff:
            self.fail("retry.max_backoff_seconds", f"must be at least retry.backoff_seconds ({backoff:g})")
        return RetryPolicy(self.integer(spec.get("attempts", d.attempts), "retry.attempts", 1, 20), backoff, most,
                           self.number(spec.get("timeout_seconds", d.timeout), "retry.timeout_seconds", 0, 300),
                           self.integer(spec.get("breaker", d.breaker), "retry.breaker", 1, 100_000))


def _split_secrets(spec: dict) -> tuple[dict, dict[str, str]]:
    """The mapping with each secret replaced by `SEALED`, and the secrets by dotted path."""
    definition = yaml.safe_load(yaml.safe_dump(spec))  # a deep copy of plain values
    secrets = {}
    email = definition.get("email") or {}
    if email.get("password") is not None:
        secrets["email.password"] = str(email["password"]).strip()
        email["password"] = SEALED
    for name, endpoint in (definition.get("webhooks") or {}).items():
        if isinstance(endpoint, dict) and endpoint.get("secret") is not None:
            secrets[f"webhooks.{name}.secret"] = str(endpoint["secret"]).strip()
            endpoint["secret"] = SEALED
    return definition, secrets


def sealed_paths(definition: dict) -> list[str]:
    """Dotted paths of the secrets a stored definition stands in for."""
    paths = ["email.password"] if (definition.get("email") or {}).get("password") == SEALED else []
    return paths + [f"webhooks.{name}.secret" for name, endpoint in (definition.get("webhooks") or {}).items()
                    if isinstance(endpoint, dict) and endpoint.get("secret") == SEALED]


def with_secrets(definition: dict, secrets: dict[str, str]) -> dict:
    """The stored definition with its secrets put back (the inverse of `_split_secrets`)."""
    spec = yaml.safe_load(yaml.safe_dump(definition))
    for path, value in secrets.items():
        node = spec
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    return spec


def masked(settings: DeliverySettings) -> dict:
    """The definition as `delivery show` prints it: each secret a note that it is sealed."""
    return with_secrets(settings.definition, {path: "•••••• (sealed)" for path in sealed_paths(settings.definition)})


def _kind(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no)"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return f"{value!r}"

