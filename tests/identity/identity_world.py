"""A tiny hand-built world of accounts and identifiers for identity tests.

Rows are written straight into the catalog tables with the same hashing ingestion uses, so every
scenario states exactly which evidence exists and nothing else.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pyarrow as pa

from flywheel.identifiers import IdentifierHasher, mask_value, normalize
from flywheel.keys import load_or_create_key
from flywheel.warehouse import Warehouse

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


class World:
    def __init__(self, wh: Warehouse):
        self.wh = wh
        self.hasher = IdentifierHasher(load_or_create_key(wh.settings.key_file))
        self._accounts: list[dict] = []
        self._identifiers: list[dict] = []
        self._clock = 0

    def account(self, source: str, key: str, name: str | None = None, **ids: str | list[str]) -> tuple[str, str]:
        """Add an account with identifiers, e.g. `account("jd", "pin1", phone="13912345678")`."""
        self._clock += 1
        seen = T0 + dt.timedelta(hours=self._clock)
        self._accounts.append({"source": source, "account_key": key, "account_key_type": "test",
                               "display_key": mask_value(key), "name": name, "first_seen_at": seen})
        for id_type, values in ids.items():
            for value in [values] if isinstance(values, str) else values:
                norm = normalize(id_type, value)
                self._identifiers.append({
                    "source": source, "account_key": key, "id_type": id_type,
                    "id_hash": self.hasher.hash(id_type, norm), "id_masked": mask_value(norm, id_type),
                    "is_partial": False, "first_seen_at": seen})
        return source, key

    def land(self) -> str:
        """Write what was added as one ingest run (so incremental resolution sees it as new)."""
        run = uuid.uuid4().hex[:8]
        now = dt.datetime.now(dt.timezone.utc)
        for rows, table in ((self._accounts, "accounts"), (self._identifiers, "identifiers")):
            if rows:
                self.wh.append(table, pa.Table.from_pylist([{**r, "run_id": run} for r in rows]))
        self.wh.append("ingest_runs", pa.Table.from_pylist([{
            "run_id": run, "path": f"test-{run}", "file_sha256": run, "started_at": now, "finished_at": now}]))
        self._accounts, self._identifiers = [], []
        return run


def persons_of(wh: Warehouse) -> dict[tuple[str, str], str]:
    rows = wh.fetch(wh.table("person_accounts")).to_pylist()
    return {(r["source"], r["account_key"]): r["person_id"] for r in rows}


def partition(wh: Warehouse) -> set[frozenset]:
    """The persons as sets of accounts (ids aside): what two engines must agree on."""
    groups: dict[str, set] = {}
    for account, person in persons_of(wh).items():
        groups.setdefault(person, set()).add(account)
    return {frozenset(g) for g in groups.values()}
