"""Sealed fields: raw L4/L5 text (contact and receiver names, contact points) is stored encrypted, never in clear.

Each account has its own data key, derived from the merchant's master key and a random salt kept
per account in `account_keys`; a sealed value is AES-256-GCM under that key, bound to its account.
Equality still works without decrypting: a sealed name has a companion `<field>_key`, the keyed
hash of its comparison form (lower case, no spaces), which identity resolution joins on (a table
declares the companion it wants; a contact point is compared by its identifier hash instead). Reading the
clear value takes the master key (`unseal`). Erasing an account deletes its salt, so any copy of its
sealed values left anywhere can no longer be opened.

    Sealer(wh).seal("accounts", batch)      # on every write (Warehouse does it)
    Sealer(wh).unseal("accounts", rows)     # where a clear name is really needed
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import logging
import os

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flywheel.identifiers import IdentifierHasher, map_distinct
from flywheel.keys import load_or_create_key, master_key_file
from flywheel.schema import table as catalog_table

log = logging.getLogger(__name__)

PREFIX = "sealed:v1:"
SEP = "\x1f"


def seal_text(cipher: AESGCM, text: str, aad: bytes) -> str:
    """`sealed:v1:` + base64(nonce ‖ AES-GCM ciphertext): the one sealed-text format (names, audit targets)."""
    nonce = os.urandom(12)
    return PREFIX + base64.b64encode(nonce + cipher.encrypt(nonce, text.encode(), aad)).decode()


def open_text(cipher: AESGCM, sealed: str, aad: bytes) -> str | None:
    """The text, or None when it was sealed under another key or for another `aad`."""
    try:
        raw = base64.b64decode(sealed[len(PREFIX):], validate=True)
        return cipher.decrypt(raw[:12], raw[12:], aad).decode()
    except (InvalidTag, ValueError):  # not ours, or text that only looks sealed (binascii.Error is a ValueError)
        return None


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
        declared = set(catalog_table(table).names)
        for f in fields:
            if f + "_key" in declared:
                batch = self._with_key(batch, f)
            clear = batch.column(f).to_pylist()
            done: dict[tuple[str, str], str] = {}
            sealed = []
            for node, v in zip(nodes, clear):
                if v is None or v.startswith(PREFIX) or node is None:
                    sealed.append(v if node is not None else None)
                    continue
                pair = (node, v)
                if pair not in done:
                    done[pair] = seal_text(self._cipher(node, salts[node]), v, node.encode())
                sealed.append(done[pair])
            batch = batch.set_column(batch.column_names.index(f), f, pa.array(sealed, pa.string()))
        return batch

    def _with_key(self, batch: pa.Table, f: str) -> pa.Table:
        """`batch` with the `_key` companion of `f` filled for its clear values (keys already made kept)."""
        keys = map_distinct(batch.column(f), lambda v: None if v is None or v.startswith(PREFIX) else
                            self._hasher.hash("name_key", comparison_form(v)))
        if f + "_key" in batch.column_names:
            i = batch.column_names.index(f + "_key")
            return batch.set_column(i, f + "_key", pc.coalesce(batch.column(i).combine_chunks().cast(pa.string()), keys))
        return batch.append_column(f + "_key", keys)

    def unseal(self, table: str, rows: pa.Table) -> pa.Table:
        """`rows` (with source and account_key) with their sealed fields opened; values whose account
        key is gone (erased) come back null."""
        fields = [f for f in sealed_fields(table) if f in rows.column_names]
        if not fields or rows.num_rows == 0:
            return rows
        nodes = _nodes(rows)
        for f in fields:
            rows = rows.set_column(rows.column_names.index(f), f,
                                   pa.array(self.open_nodes(nodes, rows.column(f).to_pylist()), pa.string()))
        return rows

    def open_nodes(self, nodes: list[str | None], values: list[str | None]) -> list[str | None]:
        """Open values given the `source␟account_key` node each was sealed for. An account whose salt
        is gone (erased) opens to None; a value that does not open under an existing salt (another
        master key, or a ciphertext moved to another account) is None too, and logged."""
        salts = self._salts_for(nodes, create=False)
        opened, refused = [], 0
        for node, value in zip(nodes, values):
            if value is None or not value.startswith(PREFIX):
                opened.append(value)
            elif node not in salts:
                opened.append(None)
            else:
                text = open_text(self._cipher(node, salts[node]), value, node.encode())
                refused += text is None
                opened.append(text)
        if refused:
            log.warning("%d sealed value(s) did not open: wrong master key (%s) or moved between accounts",
                        refused, master_key_file(self.wh.settings))
        return opened

    def _key(self, salt: bytes) -> bytes:
        return hmac.digest(self._master, b"flywheel-account-key\x1f" + salt, "sha256")

    def _cipher(self, node: str, salt: bytes) -> AESGCM:
        cipher = self._ciphers.get(node)
        if cipher is None:
            cipher = self._ciphers[node] = AESGCM(self._key(salt))
        return cipher

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
