"""Sealed fields: raw L4/L5 text (contact and receiver names) is stored encrypted, never in clear.

Each account has its own data key, derived from the merchant's master key and a random salt kept
per account in `account_keys`; a sealed value is AES-256-GCM under that key, bound to its account.
Equality still works without decrypting: a sealed field has a companion `<field>_key`, the keyed
hash of its comparison form (lower case, no spaces), which identity resolution joins on. Reading the
clear value takes the master key (`unseal`). Erasing an account deletes its salt, so any copy of its
sealed values left anywhere can no longer be opened.

    Sealer(wh).seal("accounts", batch)      # on every write (Warehouse does it)
    Sealer(wh).unseal("accounts", rows)     # where a clear name is really needed
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import os

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flywheel.identifiers import IdentifierHasher, map_distinct
from flywheel.keys import load_or_create_key, master_key_file
from flywheel.schema import table as catalog_table

PREFIX = "sealed:v1:"
SEP = "\x1f"


def sealed_fields(table: str) -> list[str]:
    return [f.name for f in catalog_table(table).fields if f.sealed]


def comparison_form(value: str) -> str:
    return value.lower().replace(" ", "")


class Sealer:
    def __init__(self, wh):
        self.wh = wh
        self._master = load_or_create_key(master_key_file(wh.settings))
        self._hasher = IdentifierHasher(load_or_create_key(wh.settings.key_file))
        self._salts: dict[str, bytes] = {}
        self._ciphers: dict[str, AESGCM] = {}

    def seal(self, table: str, batch: pa.Table) -> pa.Table:
        """`batch` with its sealed fields encrypted and their `_key` companions filled."""
        fields = [f for f in sealed_fields(table) if f in batch.column_names]
        if not fields or batch.num_rows == 0:
            return batch
        nodes = _nodes(batch)
        salts = self._salts_for(nodes, create=True)
        for f in fields:
            if f + "_key" not in batch.column_names:
                keys = map_distinct(batch.column(f), lambda v: None if v is None or v.startswith(PREFIX) else
                                    self._hasher.hash("name_key", comparison_form(v)))
                batch = batch.append_column(f + "_key", keys)
            clear = batch.column(f).to_pylist()
            done: dict[tuple[str, str], str] = {}
            sealed = []
            for node, v in zip(nodes, clear):
                if v is None or v.startswith(PREFIX) or node is None:
                    sealed.append(v if node is not None else None)
                    continue
                pair = (node, v)
                if pair not in done:
                    done[pair] = self._encrypt(self._cipher(node, salts[node]), node, v)
                sealed.append(done[pair])
            batch = batch.set_column(batch.column_names.index(f), f, pa.array(sealed, pa.string()))
        return batch

    def unseal(self, table: str, rows: pa.Table) -> pa.Table:
        """`rows` (with source and account_key) with their sealed fields opened; values whose account
        key is gone (erased) come back null."""
        fields = [f for f in sealed_fields(table) if f in rows.column_names]
        if not fields or rows.num_rows == 0:
            return rows
        nodes = _nodes(rows)
        salts = self._salts_for(nodes, create=False)
        for f in fields:
            opened = [self.open(salts.get(n), n, v) for n, v in zip(nodes, rows.column(f).to_pylist())]
            rows = rows.set_column(rows.column_names.index(f), f, pa.array(opened, pa.string()))
        return rows

    def open(self, salt: bytes | None, node: str | None, value: str | None) -> str | None:
        if value is None or not value.startswith(PREFIX):
            return value
        if salt is None or node is None:
            return None
        raw = base64.b64decode(value[len(PREFIX):])
        try:
            return AESGCM(self._key(salt)).decrypt(raw[:12], raw[12:], node.encode()).decode()
        except InvalidTag:
            return None

    def open_nodes(self, nodes: list[str], values: list[str | None]) -> list[str | None]:
        """Open values given the `source\\x1faccount_key` node each was sealed for."""
        salts = self._salts_for(nodes, create=False)
        return [self.open(salts.get(n), n, v) for n, v in zip(nodes, values)]

    def _key(self, salt: bytes) -> bytes:
        return hmac.digest(self._master, b"flywheel-account-key\x1f" + salt, "sha256")

    def _cipher(self, node: str, salt: bytes) -> AESGCM:
        cipher = self._ciphers.get(node)
        if cipher is None:
            cipher = self._ciphers[node] = AESGCM(self._key(salt))
        return cipher

    @staticmethod
    def _encrypt(cipher: AESGCM, node: str, value: str) -> str:
        nonce = os.urandom(12)
        return PREFIX + base64.b64encode(nonce + cipher.encrypt(nonce, value.encode(), node.encode())).decode()

    def _salts_for(self, nodes: list[str | None], create: bool) -> dict[str, bytes]:
        wanted = sorted({n for n in nodes if n is not None and n not in self._salts})
        if wanted:
            keys = self.wh.table("account_keys")
            asked = ibis.memtable(pa.table({"source": [n.split(SEP, 1)[0] for n in wanted],
                                            "account_key": [n.split(SEP, 1)[1] for n in wanted]}))
            hit = keys.join(asked, ["source", "account_key"])
            found = self.wh.fetch(hit.select(node=hit.source + SEP + hit.account_key, salt=hit.salt)).to_pylist()
            self._salts.update({r["node"]: bytes.fromhex(r["salt"]) for r in found})
            missing = [n for n in wanted if n not in self._salts]
            if missing and create:
                fresh = {n: os.urandom(16) for n in missing}
                now = dt.datetime.now(dt.timezone.utc)
                self.wh.append("account_keys", pa.table({
                    "source": [n.split(SEP, 1)[0] for n in missing], "account_key": [n.split(SEP, 1)[1] for n in missing],
                    "salt": [fresh[n].hex() for n in missing], "created_at": [now] * len(missing)}))
                self._salts.update(fresh)
        return self._salts


def _nodes(batch: pa.Table) -> list[str | None]:
    joined = pc.binary_join_element_wise(pc.cast(batch.column("source"), pa.string()),
                                         pc.cast(batch.column("account_key"), pa.string()), SEP)
    return joined.to_pylist()
