"""The suppression list: keyed hashes of an erased person's accounts and identifiers.

Erasure writes them (flywheel.privacy); ingestion checks every new row against them (flywheel.collect),
so an export that still contains the person does not bring them back. The key is derived from the
identifier key for this use alone, so a suppression token equals none of the identifier hashes kept
elsewhere and reveals nothing without the key.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.identifiers import map_distinct

KINDS = ("account", "user_id", "anonymous_id", "identifier")
"""`anonymous_id` values are `source␟id` (a device per source); user ids are merchant-wide."""


class Suppressor:
    def __init__(self, identifier_key: bytes, tokens: set[str] | None = None):
        self._base = hmac.new(hmac.new(identifier_key, b"flywheel-suppression", hashlib.sha256).digest(),
                              digestmod=hashlib.sha256)
        self.tokens = tokens or set()

    def token(self, kind: str, value: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown suppression kind {kind!r}")
        h = self._base.copy()
        h.update(f"{kind}\x1f{value}".encode())
        return h.hexdigest()

    def account_token(self, source: str, account_key: str) -> str:
        return self.token("account", f"{source}\x1f{account_key}")

    def matches(self, kind: str, values: pa.Array, sources: pa.Array | None = None) -> np.ndarray:
        """True where a value (with its source, for accounts) is suppressed; nulls never are."""
        n = len(values)
        if not self.tokens or n == 0:
            return np.zeros(n, dtype=bool)
        if sources is not None:
            values = pc.binary_join_element_wise(sources, values, "\x1f")
        tokens = map_distinct(values, lambda v: self.token(kind, v))
        return np.asarray(pc.fill_null(pc.is_in(tokens, value_set=pa.array(sorted(self.tokens))),
                                               False))
