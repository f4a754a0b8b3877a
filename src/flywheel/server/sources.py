"""Sources and their write keys, kept hashed in `<warehouse>.sources.json` next to the warehouse.

A write key is shown once, when the source is created; only its SHA-256 is stored, so the file leaks
nothing a client could send. The running server re-reads the file when it meets an unknown key, so
`flywheel sources add` works without a restart.

>>> import tempfile, pathlib
>>> keys = WriteKeys(pathlib.Path(tempfile.mkdtemp()) / "w.sources.json")
>>> key = keys.add("web")
>>> keys.source_for(key)
'web'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import threading
from pathlib import Path

from typing import TYPE_CHECKING

from flywheel.errors import InputError

if TYPE_CHECKING:
    from flywheel.privacy import Gate

NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,62}$")


def keys_file(db_path: Path) -> Path:
    return Path(str(db_path) + ".sources.json")


def add_source(gate: "Gate", name: str) -> str:
    """Create a source (or a further key for it) in the gate's warehouse and return the new write key.
    Needs `keys.manage`; the audit entry names the source, never the key."""
    gate.require("keys.manage")
    key = WriteKeys(keys_file(gate.settings.db_path)).add(name)
    gate.audit("keys.create", f"write key for source {name}", detail={"source": name})
    return key


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class WriteKeys:
    """The write-key registry: `add(name)` → new key; `source_for(key)` → source name or None."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._by_digest: dict[str, str] = {}
        self._mtime: float | None = None

    def _load(self) -> list[dict]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))["sources"]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{self.path}: cannot read the sources file: {e}") from None

    def add(self, name: str) -> str:
        """Create a source (or a further key for an existing one) and return its new write key."""
        if not NAME.match(name):
            raise InputError(f"Source name {name!r}: use lower-case letters, digits, '-' or '_' (e.g. web, miniapp).")
        key = "fw_" + secrets.token_urlsafe(24)
        entries = self._load()
        entries.append({"name": name, "key_sha256": _digest(key),
                        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"sources": entries}, indent=2), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        return key

    def names(self) -> list[str]:
        return sorted({e["name"] for e in self._load()})

    def source_for(self, key: str | None) -> str | None:
        """The source a write key belongs to; None for a missing or unknown key."""
        if not key:
            return None
        digest = _digest(key)
        found = self._by_digest.get(digest)
        if found is None:
            self._refresh()
            found = self._by_digest.get(digest)
        return found

    def _refresh(self) -> None:
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime
            except FileNotFoundError:
                return
            if mtime != self._mtime:
                self._by_digest = {e["key_sha256"]: e["name"] for e in self._load()}
                self._mtime = mtime
