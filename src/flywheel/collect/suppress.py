"""Rows of erased persons are not loaded again: every batch is checked against the suppression list.

A row that belongs to a suppressed account (or Segment user / anonymous id) is rejected; an
identifier on someone else's account that only an erased person carried is dropped from it. Both
are recorded in quarantine with file and line, without the value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.suppression import Suppressor
from flywheel.warehouse import LINE, Warehouse

REASON = "belongs to an erased person (suppression list); not loaded"
PER_VALUE = ("identifiers", "contact_points")
"""Values seen on a row: dropping one leaves the row standing. A contact point repeats an identifier
row (same line, same hash), so only the identifier is recorded in quarantine."""


def load_suppressor(wh: Warehouse, identifier_key: bytes) -> Suppressor:
    tokens = set(wh.fetch(wh.table("suppressions").select("token")).column(0).to_pylist())
    return Suppressor(identifier_key, tokens)


def _suppressed(s: Suppressor, name: str, t: pa.Table) -> np.ndarray:
    cols = t.column_names
    hit = np.zeros(t.num_rows, dtype=bool)
    if name in PER_VALUE:
        hit |= s.matches("identifier", t.column("id_hash").combine_chunks())
    if "account_key" in cols and "source" in cols:
        hit |= s.matches("account", t.column("account_key").combine_chunks(), t.column("source").combine_chunks())
    for col in ("user_id", "sharer_user_id"):
        if col in cols:
            hit |= s.matches("user_id", t.column(col).combine_chunks())
    if "anonymous_id" in cols and "source" in cols:
        hit |= s.matches("anonymous_id", t.column("anonymous_id").combine_chunks(), t.column("source").combine_chunks())
    return hit


def apply_suppressions(s: Suppressor, tables: dict[str, pa.Table], run_id: str,
                       file: str) -> tuple[dict[str, pa.Table], pa.Table, set[int]]:
    """The batch without suppressed rows, their quarantine records, and the input lines rejected
    (a row's `__line` is its line in the file)."""
    if not s.tokens:
        return tables, pa.table({}), set()
    kept, records, rejected = {}, [], set()
    hits = {name: _suppressed(s, name, t) if t.num_rows else np.zeros(0, dtype=bool) for name, t in tables.items()}
    orders = tables.get("orders")
    if orders is not None and hits["orders"].any() and "order_items" in tables:
        gone = orders.filter(pa.array(hits["orders"])).column("order_id").combine_chunks()
        items = tables["order_items"]
        hits["order_items"] |= np.asarray(pc.fill_null(pc.is_in(items.column("order_id"), value_set=gone), False))
    dropped = {int(r) for name, t in tables.items() if name not in PER_VALUE and LINE in t.column_names
               for r in t.column(LINE).to_numpy()[hits[name]]}
    if dropped:  # a rejected input row takes everything read from it (a Segment event's touchpoint, review, …)
        for name, t in tables.items():
            if LINE in t.column_names and t.num_rows:
                hits[name] |= np.isin(t.column(LINE).to_numpy(), np.fromiter(dropped, np.int64))
    for name, t in tables.items():
        hit = hits[name]
        if hit.any() and LINE in t.column_names and name != "contact_points":
            rows = t.column(LINE).to_numpy()[hit]
            action = "value_dropped" if name == "identifiers" else "row_rejected"
            if action == "row_rejected":
                rejected.update(int(r) for r in rows)
            records += [(int(r), name, action) for r in rows]
        kept[name] = t.filter(pa.array(~hit)) if hit.any() else t
    records = sorted(set(records))
    n = len(records)
    quarantine = pa.table({
        "run_id": [run_id] * n, "file": [file] * n, "line": [r[0] for r in records],
        "field": [r[1] for r in records], "value": pa.nulls(n, pa.string()), "reason": [REASON] * n,
        "action": [r[2] for r in records]})
    return kept, quarantine, rejected
