"""The warehouse: one Ibis connection, the catalog's tables, schema versions and idempotent writes."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.config import Settings, load_settings
from flywheel.errors import WarehouseError
from flywheel.schema import SCHEMA_VERSION, TABLES
from flywheel.schema import table as catalog_table
from flywheel.warehouse.engines import Engine
from flywheel.warehouse.engines import engine as engine_named

log = logging.getLogger(__name__)

LINE = "__line"
VERSION_TABLE = "schema_version"


def _create_all(wh: "Warehouse") -> None:
    existing = set(wh.con.list_tables())
    for t in TABLES:
        if t.name not in existing:
            wh.con.create_table(t.name, schema=t.schema)


def _add_missing_columns(wh: "Warehouse") -> None:
    """Columns the catalog gained after a table was created (v2: `events.extra`, v4:
    `identity_runs.notes`), added as nullable."""
    existing = set(wh.con.list_tables())
    for t in TABLES:
        if t.name not in existing:
            continue
        stored = set(wh.con.table(t.name).columns)
        for f in t.fields:
            if f.name not in stored:
                wh.engine.add_column(wh.con, t.name, f.name, f.dtype.copy(nullable=True))
                log.info("added column %s.%s", t.name, f.name)


def _seal_clear_values(wh: "Warehouse") -> None:
    """v3: names are sealed. Add the `_key` columns, then seal any name still stored in clear."""
    _create_all(wh)
    _add_missing_columns(wh)
    from flywheel.warehouse.sealing import PREFIX, sealed_fields

    for t in TABLES:
        fields = sealed_fields(t.name)
        if not fields:
            continue
        stored = wh.table(t.name)
        clear = ibis.or_(*[stored[f].notnull() & ~stored[f].startswith(PREFIX) for f in fields])
        if int(stored.filter(clear).count().execute()) == 0:
            continue
        sealed = wh.sealer.seal(t.name, wh.fetch(stored))
        wh.con.create_table(t.name, schema=t.schema, overwrite=True)
        wh.con.insert(t.name, wh.conform(t.name, sealed))
        log.info("sealed the clear values of %s", t.name)


def _note_missing_contact_points(wh: "Warehouse") -> None:
    """v5: contact points are kept sealed. Files applied before have none: their raw e-mails and phones
    were never stored, so nothing here can restore them. Each such file is noted in `contact_refills`;
    ingesting it again reads it once more for its contact points only (collect/contacts.py)."""
    _create_all(wh)
    runs = wh.table("ingest_runs")
    noted = wh.table("contact_refills").select("run_id")
    pending = runs.anti_join(noted, "run_id")
    n = int(pending.count().execute())
    if n:
        wh.insert_from("contact_refills", pending.select(
            "run_id", "file_sha256", "adapter",
            noted_at=ibis.literal(dt.datetime.now(dt.timezone.utc), type="timestamp('UTC')")))
        log.warning("%s: contact points (raw e-mails, phones, WeCom and WeChat ids) were not kept before schema "
                    "v5, so %d file(s) already applied have none; ingest those exports again to fill them "
                    "(only their contact points are read)", wh.settings.db_path, n)


MIGRATIONS = {1: _create_all, 2: _add_missing_columns, 3: _seal_clear_values, 4: _add_missing_columns,
              5: _note_missing_contact_points, 6: _add_missing_columns,
              7: _add_missing_columns}
"""Forward migrations by target version; each takes the warehouse and brings it to that version."""


class Warehouse:
    """Access to the canonical tables on DuckDB or Spark through one Ibis connection."""

    def __init__(self, con, engine: Engine, settings: Settings):
        self.con = con
        self.engine = engine
        self.settings = settings
        self._sealer = None
        self._in_transaction = False
        self._tables: dict[str, ibis.Table] | None = None

    @property
    def sealer(self):
        """Seals and opens the catalog's sealed fields (created on first use: it reads the master key)."""
        if self._sealer is None:
            from flywheel.warehouse.sealing import Sealer

            self._sealer = Sealer(self)
        return self._sealer

    def _sealed(self, name: str, batch: pa.Table) -> pa.Table:
        if any(f.sealed for f in catalog_table(name).fields):
            return self.sealer.seal(name, batch)
        return batch

    @classmethod
    def open(cls, settings: Settings | None = None, migrate: bool = True, cache_tables: bool = False) -> "Warehouse":
        """`cache_tables`: look each table's schema up once per connection (a short read, such as one
        console request, that changes no table's columns; looking up costs a few ms a table)."""
        settings = settings or load_settings()
        eng = engine_named(settings.engine)
        wh = cls(eng.connect(Path(settings.db_path), settings), eng, settings)
        if migrate:
            wh.migrate()
        if cache_tables:
            wh._tables = {}
        return wh

    def close(self) -> None:
        if self.engine.name == "duckdb":
            self.con.disconnect()

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def version(self) -> int:
        if VERSION_TABLE not in self.con.list_tables():
            return 0
        value = self.con.table(VERSION_TABLE).version.max().execute()
        return int(value) if value is not None and value == value else 0

    def migrate(self) -> int:
        """Apply pending forward migrations; returns the resulting version.

        A table that is new in the catalog is simply created; changing an existing table's columns
        needs a numbered migration."""
        if VERSION_TABLE not in self.con.list_tables():
            self.con.create_table(
                VERSION_TABLE, schema=ibis.schema({"version": "int64", "applied_at": "timestamp('UTC')"})
            )
        current = self.version
        if current > SCHEMA_VERSION:
            raise WarehouseError(f"{self.settings.db_path}: warehouse schema v{current} is newer than this "
                                 f"Flywheel (v{SCHEMA_VERSION}); upgrade Flywheel to open it")
        for target in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](self)
            now = dt.datetime.now(dt.timezone.utc)
            self.con.insert(VERSION_TABLE, pa.table({"version": [target], "applied_at": [now]}))
            log.info("migrated warehouse to schema v%d", target)
        _create_all(self)
        return SCHEMA_VERSION

    def compact(self) -> None:
        """Make deleted rows physically unrecoverable from the warehouse files (after an erasure)."""
        self.con = self.engine.compact(self.con, Path(self.settings.db_path))

    def table(self, name: str) -> ibis.Table:
        catalog_table(name)
        if self._tables is None:
            return self.con.table(name)
        if name not in self._tables:
            self._tables[name] = self.con.table(name)
        return self._tables[name]

    @contextlib.contextmanager
    def cached_tables(self) -> Iterator[None]:
        """Look each table's schema up once inside the block (as `open(cache_tables=True)` does for
        the whole connection): a refresh names the same tables dozens of times, and each lookup is
        a DESCRIBE whose types are parsed again."""
        if self._tables is not None:
            yield
            return
        self._tables = {}
        try:
            yield
        finally:
            self._tables = None

    def fetch(self, expr: ibis.Table | str) -> pa.Table:
        """Execute to Arrow with engine differences removed: Spark hands back UTC instants without a
        zone, DuckDB with one; both come back as `timestamp[us, UTC]`."""
        table = (self.table(expr) if isinstance(expr, str) else expr).to_pyarrow()
        cols = []
        for f, col in zip(table.schema, table.columns):
            if pa.types.is_timestamp(f.type) and f.type.tz is None:
                col = pc.assume_timezone(col, "UTC")
            if pa.types.is_timestamp(f.type):
                col = pc.cast(col, pa.timestamp("us", tz="UTC"))
            cols.append(col)
        return pa.Table.from_arrays(cols, names=table.column_names)

    def count(self, name: str) -> int:
        return int(self.table(name).count().execute())

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing on engines that can (DuckDB); an inner `transaction()` joins the outer one."""
        if self._in_transaction:
            yield
            return
        self._in_transaction = True
        try:
            with self.engine.transaction(self.con):
                yield
        finally:
            self._in_transaction = False

    @contextlib.contextmanager
    def rolled_back(self) -> Iterator[None]:
        """Run the block in a transaction that is always undone (a dry run sees its own writes, then
        nothing happened). Only engines with transactions can; Spark raises EngineError."""
        from flywheel.errors import EngineError

        if not self.engine.transactional:
            raise EngineError(f"a dry run needs transactions, which the {self.engine.name} engine does not have")
        if self._in_transaction:
            raise EngineError("a dry run cannot start inside another transaction")
        self._in_transaction = True
        try:
            with self.engine.rolled_back(self.con):
                yield
        finally:
            self._in_transaction = False

    def conform(self, name: str, batch: pa.Table) -> pa.Table:
        """The batch with exactly the catalog's columns and types (missing ones null)."""
        schema = catalog_table(name).schema.to_pyarrow()
        cols = []
        for f in schema:
            if f.name in batch.column_names:
                col = batch.column(f.name)
                cols.append(col if col.type == f.type else pc.cast(col, f.type))
            else:
                cols.append(pa.nulls(batch.num_rows, f.type))
        return pa.Table.from_arrays(cols, schema=pa.schema([f.with_nullable(True) for f in schema]))

    def append(self, name: str, batch: pa.Table) -> int:
        if batch.num_rows:
            self.con.insert(name, self.conform(name, self._sealed(name, batch)))
        return batch.num_rows

    def insert_new(self, name: str, batch: pa.Table) -> pa.Array:
        """Insert the rows whose natural key is not stored yet (the first of repeats within the batch).

        Returns the `__line` values of the rows that were inserted, so callers can tell loaded input
        rows from duplicates. Re-running the same batch inserts nothing.
        """
        t = catalog_table(name)
        if batch.num_rows == 0:
            return pa.array([], pa.int64())
        if LINE not in batch.column_names:
            batch = batch.append_column(LINE, pa.array(range(batch.num_rows), pa.int64()))
        batch = first_per_key(batch, list(t.key))
        keys = batch.select(list(t.key) + [LINE])
        stored = self.table(name).select(*t.key)
        if not self.engine.may_have_rows(self.con, name):
            new = batch
        else:
            fresh = ibis.memtable(keys).anti_join(stored, list(t.key)).select(LINE).to_pyarrow()
            wanted = pc.is_in(batch.column(LINE), value_set=fresh.column(LINE))
            new = batch.filter(wanted)
        if new.num_rows:
            self.con.insert(name, self.conform(name, self._sealed(name, new.drop_columns([LINE]))))
        return new.column(LINE).combine_chunks()

    def update_changed(self, name: str, batch: pa.Table, columns: list[str],
                       progression: dict[str, dict[str, int]] | None = None,
                       growing: tuple[str, ...] = ()) -> pa.Array:
        """Replace stored rows whose key reappears with different `columns` (a later export of an
        order that has since shipped or been refunded). Returns the `__line` values applied.

        `progression` ranks values of a column (pending < paid < … < refunded): a row whose rank
        would go backwards is an older export and is ignored, so files may arrive in any order.
        Columns in `growing` only ever grow (refunds accumulate); other columns take the latest file
        (a restated spend report).
        """
        t = catalog_table(name)
        key = list(t.key)
        columns = [c for c in columns if c in batch.column_names]
        if batch.num_rows == 0 or not columns or not self.engine.may_have_rows(self.con, name):
            return pa.array([], pa.int64())
        batch = first_per_key(batch, key)
        incoming = ibis.memtable(batch.select(key + columns + [LINE]))
        stored = self.table(name)
        stored = stored.select(*key, **{f"__old_{c}": stored[c] for c in columns})
        joined = incoming.join(stored, key)
        differs = ibis.or_(*[~joined[c].identical_to(joined[f"__old_{c}"]) for c in columns])
        forward = ibis.literal(True)
        for c in columns:
            ranks = (progression or {}).get(c)
            if ranks:
                forward &= _rank(joined[c], ranks) >= _rank(joined[f"__old_{c}"], ranks)
            elif c in growing and joined[c].type().is_boolean():
                forward &= joined[c].cast("int8").fill_null(0) >= joined[f"__old_{c}"].cast("int8").fill_null(0)
            elif c in growing:
                forward &= joined[c].fill_null(0) >= joined[f"__old_{c}"].fill_null(0)
        lines = joined.filter(differs & forward).select(LINE).to_pyarrow().column(LINE)
        if len(lines) == 0:
            return pa.array([], pa.int64())
        changed = batch.filter(pc.is_in(batch.column(LINE), value_set=lines))
        self.engine.replace_rows(self.con, name, key, self.conform(name, self._sealed(name, changed.drop_columns([LINE]))))
        return changed.column(LINE).combine_chunks()

    def put(self, name: str, batch: pa.Table) -> int:
        """Insert `batch`, replacing stored rows that share its natural key (definitions, settings)."""
        if batch.num_rows:
            key = list(catalog_table(name).key)
            self.engine.replace_rows(self.con, name, key, self.conform(name, self._sealed(name, batch)))
        return batch.num_rows

    def json_text(self, column: ibis.Value, key: str) -> ibis.Value:
        """Field `key` of a JSON-object string column as text (`Engine.json_text`)."""
        return self.engine.json_text(column, key)

    def materialize(self, name: str, expr: ibis.Table) -> ibis.Table:
        """Compute `expr` into a work table (prefixed `_work_`) and return it.

        Iterative algorithms (label propagation) need each step stored, or the expression tree and
        the engine's plan grow with every iteration.
        """
        work = f"_work_{name}"
        self.engine.materialize(self.con, work, expr)
        return self.engine.work_table(self.con, work, expr)

    def drop_work(self) -> None:
        for name in self.con.list_tables():
            if name.startswith("_work_"):
                self.engine.drop_materialized(self.con, name)

    def typed(self, name: str, expr: ibis.Table) -> ibis.Table:
        """`expr` with exactly the catalog table's columns and types; absent columns are null."""
        schema = catalog_table(name).schema
        return expr.select(*[(expr[c] if c in expr.columns else ibis.null()).cast(t.copy(nullable=True)).name(c)
                             for c, t in schema.items()])

    def insert_from(self, name: str, expr: ibis.Table) -> None:
        """Append the rows of an expression to a catalog table."""
        self.con.insert(name, self.materialize(f"insert_{name}", self.typed(name, expr)))

    def delete_matching(self, name: str, rows: ibis.Table, key: list[str]) -> None:
        """Delete a catalog table's rows whose `key` columns equal a row of `rows`: in place where the
        engine can (DuckDB), else by rewriting the table without them."""
        if self.engine.deletes:
            self.engine.delete_matching(self.con, name, key, rows.select(*key))
        else:
            self.replace(name, self.table(name).anti_join(rows.select(*key), key))

    def replace(self, name: str, expr: ibis.Table) -> int:
        """Replace a catalog table's contents with `expr` (which may read the table itself)."""
        staged = self.materialize(f"replace_{name}", self.typed(name, expr))
        self.con.create_table(name, staged, overwrite=True)
        self.engine.drop_materialized(self.con, f"_work_replace_{name}")
        if self._tables is not None:
            self._tables.pop(name, None)
        return self.count(name)


def is_lock_conflict(error: Exception) -> bool:
    """DuckDB's "Could not set lock on file … Conflicting lock is held" (another process writes)."""
    text = str(error)
    return "lock" in text.lower() and ("Conflicting" in text or "Could not set lock" in text)


def open_when_free(settings: Settings, wait: float = 30.0, pause: float = 0.05, **options) -> Warehouse:
    """Open the warehouse (`Warehouse.open` options), retrying with back-off from `pause` s for up to
    `wait` s while another process holds it."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return Warehouse.open(settings, **options)
        except Exception as e:
            if not is_lock_conflict(e) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def _rank(column: ibis.Value, ranks: dict[str, int]) -> ibis.Value:
    return column.cases(*ranks.items(), else_=0) if ranks else ibis.literal(0)


def first_per_key(batch: pa.Table, key: list[str]) -> pa.Table:
    """Keep the first row of each natural key, in linear time."""
    if not key or batch.num_rows == 0:
        return batch
    cols = [batch.column(k).combine_chunks() for k in key]
    if len(cols) == 1:
        combined = cols[0]
    else:
        combined = pc.binary_join_element_wise(*[pc.fill_null(pc.cast(c, pa.string()), "\x00") for c in cols], "\x1f")
    codes = np.asarray(pc.dictionary_encode(combined).indices.fill_null(-1), dtype=np.int64)
    keep = first_occurrence(codes) == np.arange(len(codes))
    return batch if keep.all() else batch.filter(pa.array(keep))


def first_occurrence(codes: np.ndarray) -> np.ndarray:
    """Per row, the index of the first row with the same code; code -1 (null) points at itself.

    Linear time: assigning row numbers in reverse lets the earliest row of each code win."""
    n = len(codes)
    first = np.full(int(codes.max()) + 2 if n else 1, -1, dtype=np.int64)
    rows = np.arange(n, dtype=np.int64)
    first[codes[::-1] + 1] = rows[::-1]
    answer = first[codes + 1]
    own = codes < 0
    answer[own] = rows[own]
    return answer
