"""Contact points on ingest: one sealed row per account and address, widened as exports show it again.

A file's contact points (filed by `Batch.add` from identifier rows) are reduced to one row per
(source, account_key, id_type, id_hash) holding the earliest and latest time the file shows it. A
stored row only ever widens: `first_seen_at` never moves later, `last_seen_at` never earlier. So
files may arrive in any order, the latest sighting wins, and applying the same rows twice changes
nothing. The warehouse seals `value` on write (warehouse/sealing.py).

Files applied before schema v5 have none: their raw values were never stored. The migration notes
them in `contact_refills`; ingesting such a file again (the same bytes, so lineage says it is applied)
reads it once more and writes its contact points only, after the suppression list, so an erased
person's addresses do not come back.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pyarrow as pa

from flywheel.schema import table as catalog_table
from flywheel.warehouse import LINE, Warehouse

TABLE = "contact_points"
KEY = list(catalog_table(TABLE).key)
_ROW = "__row"


def reduce_sightings(rows: pa.Table) -> pa.Table:
    """One row per natural key: the earliest first and latest last sighting in the batch."""
    grouped = rows.group_by(KEY, use_threads=False).aggregate([
        ("value", "first"), ("value_masked", "first"), ("first_seen_at", "min"), ("last_seen_at", "max"),
        ("run_id", "first"), (LINE, "min")])
    names = {"value_first": "value", "value_masked_first": "value_masked", "first_seen_at_min": "first_seen_at",
             "last_seen_at_max": "last_seen_at", "run_id_first": "run_id", f"{LINE}_min": LINE}
    return grouped.rename_columns([names.get(c, c) for c in grouped.column_names])


def write_contact_points(wh: Warehouse, rows: pa.Table) -> tuple[pa.Array, pa.Array]:
    """Store a file's contact points; returns the lines that added a row and those that widened one."""
    none = pa.array([], pa.int64())
    if rows.num_rows == 0:
        return none, none
    rows = reduce_sightings(rows)
    moved = none
    if wh.count(TABLE):
        widened = _widened(wh, rows)
        if widened.num_rows:
            moved = wh.update_changed(TABLE, widened, ["first_seen_at", "last_seen_at"])
    return wh.insert_new(TABLE, rows), moved


def _widened(wh: Warehouse, rows: pa.Table) -> pa.Table:
    """The batch rows whose key is stored and whose times widen the stored row, carrying the widened times."""
    rows = rows.append_column(_ROW, pa.array(np.arange(rows.num_rows), pa.int64()))
    incoming = ibis.memtable(rows.select(KEY + ["first_seen_at", "last_seen_at", _ROW]))
    stored = wh.table(TABLE)
    stored = stored.select(*KEY, old_first=stored.first_seen_at, old_last=stored.last_seen_at)
    j = incoming.join(stored, KEY)
    j = j.select(_ROW, "old_first", "old_last", first=ibis.least(j.first_seen_at, j.old_first),
                 last=ibis.greatest(j.last_seen_at, j.old_last))
    moved = wh.fetch(j.filter(~j.first.identical_to(j.old_first) | ~j.last.identical_to(j.old_last))
                     .select(_ROW, "first", "last").order_by(_ROW))
    if moved.num_rows == 0:
        return rows.slice(0, 0).drop_columns([_ROW])
    picked = rows.take(moved.column(_ROW)).drop_columns([_ROW])
    picked = picked.set_column(picked.column_names.index("first_seen_at"), "first_seen_at", moved.column("first"))
    return picked.set_column(picked.column_names.index("last_seen_at"), "last_seen_at", moved.column("last"))


def refill_pending(wh: Warehouse, run_id: str) -> bool:
    """Whether the file applied by `run_id` predates contact points and has not been read for them."""
    refills = wh.table("contact_refills")
    waiting = refills.filter((refills.run_id == run_id) & refills.refilled_at.isnull())
    return int(waiting.count().execute()) > 0


def mark_refilled(wh: Warehouse, run_id: str, written: int) -> None:
    refills = wh.table("contact_refills")
    row = wh.fetch(refills.filter(refills.run_id == run_id)).to_pylist()[0]
    done = pa.Table.from_pylist([row | {"refilled_at": dt.datetime.now(dt.timezone.utc), "contact_points": written}])
    wh.update_changed("contact_refills", done.append_column(LINE, pa.array([0], pa.int64())),
                      ["refilled_at", "contact_points"])
