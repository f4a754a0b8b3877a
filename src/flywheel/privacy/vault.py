"""Per-person data keys wrapped by the merchant's master key: crypto-shredding for append-only stores.

An append-only, hash-chained audit log cannot delete an entry about a person without breaking the
chain. So whatever such a store says about a person is sealed (AES-256-GCM) with that person's own
data key, and found again through a token derived from the same key. Erasing the person deletes the
key: the entries stay, the chain still verifies, and what they said about the person is unreadable
and unlinkable. The data keys themselves are stored wrapped by the master key
(`master.key` beside the identifier key), never in clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os

import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flywheel.errors import ConfigError
from flywheel.keys import load_or_create_key, master_key_file
from flywheel.warehouse import Warehouse
from flywheel.warehouse.sealing import PREFIX, open_text, seal_text

AAD = b"flywheel-sealed"


class Vault:
    """Data keys of persons, created on first use."""

    def __init__(self, wh: Warehouse):
        self.wh = wh
        master = load_or_create_key(master_key_file(wh.settings))
        if len(master) != 32:
            raise ConfigError(f"{master_key_file(wh.settings)}: the master key must be 32 bytes (64 hex digits)")
        self._master = AESGCM(master)
        self._keys: dict[str, bytes] = {}

    def key(self, person_id: str, create: bool = True) -> bytes | None:
        if person_id in self._keys:
            return self._keys[person_id]
        keys = self.wh.table("subject_keys")
        found = self.wh.fetch(keys.filter(keys.person_id == person_id).select("wrapped_key")).column(0).to_pylist()
        if found:
            key = self._unwrap(person_id, found[0])
        elif create:
            key = AESGCM.generate_key(256)
            self.wh.append("subject_keys", pa.table({
                "person_id": [person_id], "wrapped_key": [self._wrap(person_id, key)],
                "created_at": [dt.datetime.now(dt.timezone.utc)]}))
        else:
            return None
        self._keys[person_id] = key
        return key

    def token(self, person_id: str, create: bool = True) -> str | None:
        """A stable handle for records about the person; meaningless once the key is destroyed."""
        key = self.key(person_id, create)
        return None if key is None else hmac.new(key, b"subject-token", hashlib.sha256).hexdigest()[:32]

    def seal(self, person_id: str, text: str) -> str:
        return seal_text(AESGCM(self.key(person_id)), text, AAD)

    def open(self, person_id: str, sealed: str) -> str | None:
        """The text sealed for the person, or None when it is not theirs or their key is gone."""
        key = self.key(person_id, create=False)
        if key is None or not sealed.startswith(PREFIX):
            return None
        return open_text(AESGCM(key), sealed, AAD)

    def shred(self, person_ids: list[str]) -> int:
        """Destroy the data keys of these person ids; returns how many existed."""
        keys = self.wh.table("subject_keys")
        doomed = keys.person_id.isin(person_ids)
        existing = int(keys.filter(doomed).count().execute())
        if existing:
            self.wh.replace("subject_keys", keys.filter(~doomed))
        for p in person_ids:
            self._keys.pop(p, None)
        return existing

    def _wrap(self, person_id: str, key: bytes) -> str:
        nonce = os.urandom(12)
        return (nonce + self._master.encrypt(nonce, key, person_id.encode())).hex()

    def _unwrap(self, person_id: str, wrapped: str) -> bytes:
        raw = bytes.fromhex(wrapped)
        try:
            return self._master.decrypt(raw[:12], raw[12:], person_id.encode())
        except InvalidTag:
            raise ConfigError(f"the data key of {person_id} does not open under this master key "
                              f"({master_key_file(self.wh.settings)})") from None


__all__ = ["Vault", "master_key_file"]
