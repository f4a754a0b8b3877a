"""Console and read-API keys, kept hashed in `<warehouse>.keys.json` next to the warehouse.

A key is bound to one role of `roles.yaml`; it is printed once, when created, and only its SHA-256 is
stored. Each key has a short public id (`fwk_<id>_…`) so it can be listed and revoked without being
shown again. A revoked key stays in the file (who created it, who revoked it, when) and never works
again. The running server re-reads the file when it changes, so `keys create` and `keys revoke` take
effect without a restart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flywheel.errors import InputError
from flywheel.privacy.roles import Actor, role_named

if TYPE_CHECKING:
    from flywheel.privacy import Gate

NAME = re.compile(r"^[\w.@\-]{1,64}$")
PREFIX = "fwk_"


def keys_path(db_path: Path) -> Path:
    return Path(str(db_path) + ".keys.json")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    name: str
    role: str
    created_at: str
    created_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def actor(self) -> Actor:
        """Who acts when this key is used: the key's name, in the key's role."""
        return Actor(f"key:{self.name}", role_named(self.role))

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "created_at": self.created_at,
                "created_by": self.created_by, "revoked_at": self.revoked_at, "revoked_by": self.revoked_by,
                "active": self.active}


class ApiKeys:
    """The key registry: `create(role, name, by)` → (secret, key); `find(secret)` → active key or None."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._by_digest: dict[str, ApiKey] = {}
        self._stamp: tuple[int, int] | None = None

    def _load(self) -> list[dict]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))["keys"]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{self.path}: cannot read the keys file: {e}") from None

    def _save(self, entries: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"keys": entries}, indent=2), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    @staticmethod
    def _key(entry: dict) -> ApiKey:
        return ApiKey(**{k: entry.get(k) for k in ApiKey.__dataclass_fields__})

    def create(self, role: str, name: str | None, by: str) -> tuple[str, ApiKey]:
        role_named(role)
        key_id = secrets.token_hex(4)
        name = name or f"{role}-{key_id}"
        if not NAME.match(name):
            raise InputError(f"key name {name!r}: use 1–64 letters, digits, '.', '@', '-' or '_'")
        secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        with self._lock:
            entries = self._load()
            if any(e["name"] == name and e.get("revoked_at") is None for e in entries):
                raise InputError(f"key name {name!r} is taken by an active key; revoke it or choose another")
            entry = {"id": key_id, "name": name, "role": role, "key_sha256": _digest(secret),
                     "created_at": _now(), "created_by": by, "revoked_at": None, "revoked_by": None}
            self._save(entries + [entry])
        return secret, self._key(entry)

    def list(self) -> list[ApiKey]:
        return [self._key(e) for e in self._load()]

    def revoke(self, ref: str, by: str) -> ApiKey:
        """Revoke the key with this id (or this name, if only one active key has it)."""
        with self._lock:
            entries = self._load()
            hits = [e for e in entries if e["id"] == ref] or [
                e for e in entries if e["name"] == ref and e.get("revoked_at") is None]
            if not hits:
                raise InputError(f"no key with id or active name {ref!r} (see `flywheel keys list`)")
            entry = hits[0]
            if entry.get("revoked_at") is None:
                entry["revoked_at"], entry["revoked_by"] = _now(), by
                self._save(entries)
            return self._key(entry)

    def find(self, secret: str | None) -> ApiKey | None:
        """The active key this secret is, or None (missing, malformed, unknown or revoked)."""
        if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        self._refresh()
        digest = _digest(secret)
        for known, key in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return key if key.active else None
        return None

    def by_id(self, key_id: str) -> ApiKey | None:
        """The key with this id if it is still active (a session checks its key on every request)."""
        self._refresh()
        for key in self._by_digest.values():
            if key.id == key_id:
                return key if key.active else None
        return None

    def _refresh(self) -> None:
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._by_digest, self._stamp = {}, None
                return
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                self._by_digest = {e["key_sha256"]: self._key(e) for e in self._load()}
                self._stamp = stamp


def create_key(gate: "Gate", role: str, name: str | None = None) -> tuple[str, ApiKey]:
    """A new key for `role`; needs `keys.manage`. The audit entry names the key, never its secret."""
    gate.require("keys.manage")
    secret, key = ApiKeys(keys_path(gate.settings.db_path)).create(role, name, gate.actor.name)
    gate.audit("keys.create", f"console key {key.name}", detail={"id": key.id, "role": role})
    return secret, key


def revoke_key(gate: "Gate", ref: str) -> ApiKey:
    gate.require("keys.manage")
    key = ApiKeys(keys_path(gate.settings.db_path)).revoke(ref, gate.actor.name)
    gate.audit("keys.revoke", f"console key {key.name}", detail={"id": key.id, "role": key.role})
    return key


def list_keys(gate: "Gate") -> list[ApiKey]:
    gate.require("keys.manage")
    return ApiKeys(keys_path(gate.settings.db_path)).list()
