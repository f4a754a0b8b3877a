"""Stored delivery settings: applied by the owner, secrets sealed, endpoints a 410 disabled.

Each `flywheel delivery apply` appends a row to `delivery_settings` (the latest one is in force); the
secrets are sealed together under a key derived from the master key and bound to the row's id, so a
copy of the warehouse without the key file holds no usable credential. An endpoint that answers
410 Gone is recorded in `delivery_endpoint_states` against the settings in force and refused from
then on; applying the settings again starts with every endpoint enabled.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import secrets as random
import threading
from pathlib import Path

import ibis
import pyarrow as pa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flywheel.activate.delivery.reading import (
    load_settings_file,
    masked,
    parse_settings,
    sealed_paths,
    with_secrets,
)
from flywheel.activate.delivery.settings import DeliverySettings
from flywheel.errors import FlywheelError
from flywheel.keys import load_or_create_key, master_key_file
from flywheel.privacy.gate import Gate
from flywheel.warehouse import Warehouse
from flywheel.warehouse.sealing import open_text, seal_text

log = logging.getLogger(__name__)

SETTINGS, STATES = "delivery_settings", "delivery_endpoint_states"


class DeliveryError(FlywheelError):
    """Delivery cannot proceed as configured (no settings applied, secrets that do not open)."""


class EndpointStates:
    """Which channels' endpoints are disabled; thread-safe. `record` (set when loaded from the warehouse)
    stores a new disablement when `flush` is called from the thread that owns the warehouse."""

    def __init__(self, disabled: dict[str, dict] | None = None, record=None):
        self._disabled = dict(disabled or {})
        self._pending: list[dict] = []
        self._record = record
        self._lock = threading.Lock()

    def disabled(self, channel: str) -> dict | None:
        return self._disabled.get(channel)

    def disable(self, channel: str, reason: str, detail: str) -> None:
        with self._lock:
            if channel in self._disabled:
                return
            state = {"channel": channel, "reason": reason, "detail": detail, "at": dt.datetime.now(dt.timezone.utc)}
            self._disabled[channel] = state
            self._pending.append(state)
        log.warning("endpoint of channel %s disabled: %s", channel, detail)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending and self._record is not None:
            self._record(pending)

    def all(self) -> dict[str, dict]:
        return dict(self._disabled)


def _cipher(wh: Warehouse) -> AESGCM:
    master = load_or_create_key(master_key_file(wh.settings))
    return AESGCM(hmac.digest(master, b"flywheel-delivery-settings", "sha256"))


def unsubscribe_key(wh: Warehouse) -> bytes:
    """The key unsubscribe tokens are signed with (derived from the master key)."""
    return hmac.digest(load_or_create_key(master_key_file(wh.settings)), b"flywheel-unsubscribe-token", "sha256")


def apply_delivery(gate: Gate, path: Path) -> dict:
    """Check the file and make it the delivery settings in force (owner: `delivery.apply`).

    Returns `{settings_id, file, channels, settings}` with secrets masked. Audited (`delivery.apply`,
    naming the channels, never a secret)."""
    gate.require("delivery.apply")
    settings = load_settings_file(path)
    wh = gate.warehouse
    now = dt.datetime.now(dt.timezone.utc)
    settings_id = f"ds{now:%Y%m%d%H%M%S}{random.token_hex(3)}"
    sealed = seal_text(_cipher(wh), json.dumps(settings.secrets), settings_id.encode()) if settings.secrets else None
    wh.append(SETTINGS, pa.Table.from_pylist([{
        "settings_id": settings_id, "applied_at": now, "applied_by": gate.actor.name, "file": str(path),
        "definition": json.dumps(settings.definition, ensure_ascii=False, sort_keys=True, default=str),
        "secrets": sealed}]))
    gate.audit("delivery.apply", f"delivery settings {settings_id} from {path}",
               detail={"settings_id": settings_id, "channels": settings.channels(), "secrets": len(settings.secrets)})
    return {"settings_id": settings_id, "file": str(path), "channels": settings.channels(), "settings": masked(settings)}


def _latest(wh: Warehouse) -> dict | None:
    t = wh.table(SETTINGS)
    rows = wh.fetch(t.order_by([ibis.desc("applied_at"), ibis.desc("settings_id")]).limit(1)).to_pylist()
    return rows[0] if rows else None


def load_delivery(wh: Warehouse, secrets: bool = True) -> DeliverySettings:
    """The settings in force, secrets opened (unless `secrets=False`), disabled endpoints known.

    Raises `DeliveryError` when none were applied or the secrets do not open under this master key."""
    row = _latest(wh)
    if row is None:
        raise DeliveryError("no delivery settings: the owner applies them with `flywheel delivery apply FILE.yaml`")
    definition = json.loads(row["definition"])
    opened: dict[str, str] = {}
    if row["secrets"]:
        if secrets:
            text = open_text(_cipher(wh), row["secrets"], row["settings_id"].encode())
            if text is None:
                raise DeliveryError(f"the secrets of delivery settings {row['settings_id']} do not open with "
                                    f"{master_key_file(wh.settings)}: apply the settings file again")
            opened = json.loads(text)
        else:  # stand-ins that pass the checks (for showing the settings, never for sending)
            opened = {path: ("whsec_" + "A" * 32 if path.endswith("secret") else "-") for path in sealed_paths(definition)}
    settings = parse_settings(with_secrets(definition, opened), row["file"] or row["settings_id"])
    settings.settings_id, settings.applied_at, settings.applied_by = row["settings_id"], row["applied_at"], row["applied_by"]
    t = wh.table(STATES)
    states = wh.fetch(t.filter(t.settings_id == row["settings_id"]).order_by("at")).to_pylist()
    disabled = {s["channel"]: s for s in states if s["status"] == "disabled"}
    settings.endpoints = EndpointStates(disabled, record=lambda pending: _record_states(wh, row["settings_id"], pending))
    settings.unsubscribe_key = unsubscribe_key(wh) if secrets else None
    return settings


def _record_states(wh: Warehouse, settings_id: str, pending: list[dict]) -> None:
    wh.append(STATES, pa.Table.from_pylist([{"settings_id": settings_id, "channel": s["channel"], "status": "disabled",
                                             "reason": s["reason"], "detail": s["detail"], "at": s["at"]}
                                            for s in pending]))


def show_delivery(wh: Warehouse) -> dict:
    """The settings in force as `delivery show` prints them: secrets masked, each endpoint's state."""
    settings = load_delivery(wh, secrets=False)
    endpoints = []
    for channel in settings.channels():
        state = settings.endpoints.disabled(channel)
        target = (f"smtp://{settings.email.smtp_host}:{settings.email.smtp_port}" if channel == "email"
                  else settings.webhooks[channel].url)
        endpoints.append({"channel": channel, "endpoint": target, "status": "disabled" if state else "enabled",
                          "since": state["at"] if state else None, "reason": state["reason"] if state else None,
                          "detail": state["detail"] if state else None})
    return {"settings_id": settings.settings_id, "applied_at": settings.applied_at, "applied_by": settings.applied_by,
            "file": settings.file, "endpoints": endpoints, "settings": masked(settings)}
