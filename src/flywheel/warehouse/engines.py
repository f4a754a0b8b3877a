"""Everything that differs between DuckDB and Spark lives here, named.

The rest of Flywheel writes Ibis expressions and never asks which engine runs them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa
from ibis.backends import BaseBackend
from ibis.backends.sql.datatypes import DuckDBType, PySparkType

from flywheel.errors import EngineError, WarehouseError
from flywheel.warehouse.failures import duckdb_reason

log = logging.getLogger(__name__)

SPARK_DATABASE = "flywheel"
METASTORE = "_metastore"
"""The Derby metastore directory inside a Spark warehouse: what makes a directory a warehouse."""



class Engine:
    """How to connect to one engine and what it can and cannot do."""

    name: str = ""
    transactional: bool = False

    def connect(self, db_path: Path) -> BaseBackend:
        raise NotImplementedError

    @contextlib.contextmanager
    def transaction(self, con: BaseBackend) -> Iterator[None]:
        yield

    def materialize(self, con: BaseBackend, name: str, expr) -> None:
        """Store an intermediate result under `name` for the next step of an iterative algorithm."""
        con.create_table(name, expr, overwrite=True)

    def drop_materialized(self, con: BaseBackend, name: str) -> None:
        con.drop_table(name, force=True)

    def add_column(self, con: BaseBackend, table: str, column: str, dtype: dt.DataType) -> None:
        """Add a nullable column to a stored table (schema migrations); Ibis has no ALTER TABLE."""
        raise NotImplementedError

    def compact(self, con: BaseBackend, db_path: Path) -> BaseBackend:
        """Make deleted rows physically gone from storage (after an erasure); returns the connection
        to use from now on. Spark rewrites a replaced table's files, so there is nothing left to do."""
        return con

    def replace_rows(self, con: BaseBackend, name: str, key: list[str], rows: pa.Table) -> None:
        """Replace the stored rows that share a natural key with `rows` by `rows`.

        Portable form (any Ibis engine without DELETE): rebuild the table under a new name and swap.
        """
        stored = con.table(name)
        incoming = ibis.memtable(rows)
        types = {c: t.copy(nullable=True) for c, t in stored.schema().items()}
        kept = stored.anti_join(incoming.select(*key), key)
        rebuilt = kept.select(*[kept[c].cast(t).name(c) for c, t in types.items()]).union(
            incoming.select(*[incoming[c].cast(t).name(c) for c, t in types.items()]))
        temp = f"{name}__rebuilt"
        con.create_table(temp, rebuilt, overwrite=True)
        con.drop_table(name)
        con.rename_table(temp, name)


class DuckDBEngine(Engine):
    name = "duckdb"
    transactional = True

    def connect(self, db_path: Path) -> BaseBackend:
        import duckdb

        db_path = Path(db_path)
        if db_path.is_dir():
            raise WarehouseError(f"{db_path}: is a directory, not a DuckDB warehouse file "
                                 "(a Spark warehouse? then add --engine spark)")
        if db_path.parent and not db_path.parent.exists():
            db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return ibis.duckdb.connect(str(db_path))
        except duckdb.Error as exc:
            raise WarehouseError(f"{db_path}: cannot open the DuckDB warehouse: {duckdb_reason(exc)}") from None

    @contextlib.contextmanager
    def transaction(self, con: BaseBackend) -> Iterator[None]:
        """A file is applied all or nothing: DuckDB rolls back a half-written file."""
        con.raw_sql("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            con.raw_sql("ROLLBACK")
            raise
        con.raw_sql("COMMIT")

    @contextlib.contextmanager
    def rolled_back(self, con: BaseBackend) -> Iterator[None]:
        """A transaction that is always rolled back (dry runs)."""
        con.raw_sql("BEGIN TRANSACTION")
        try:
            yield
        finally:
            con.raw_sql("ROLLBACK")

    def materialize(self, con: BaseBackend, name: str, expr) -> None:
        """A temporary table: kept in memory (spilling if needed), never written to the file."""
        con.create_table(name, expr, temp=True, overwrite=True)

    def add_column(self, con: BaseBackend, table: str, column: str, dtype: dt.DataType) -> None:
        con.raw_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {DuckDBType.to_string(dtype)}')

    def compact(self, con: BaseBackend, db_path: Path) -> BaseBackend:
        """Rewrite the database file from its live rows and swap it in: a checkpoint only frees the
        blocks of deleted rows, and their bytes would stay in the file until reused."""
        import duckdb

        db_path = Path(db_path)
        fresh = db_path.with_name(db_path.name + ".compact")
        fresh.unlink(missing_ok=True)
        con.raw_sql("FORCE CHECKPOINT")
        con.disconnect()
        raw = duckdb.connect()
        try:
            raw.execute(f"ATTACH '{db_path}' AS old (READ_ONLY)")
            raw.execute(f"ATTACH '{fresh}' AS fresh")
            raw.execute("COPY FROM DATABASE old TO fresh")
        finally:
            raw.close()
        fresh.replace(db_path)
        db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
        return self.connect(db_path)

    def replace_rows(self, con: BaseBackend, name: str, key: list[str], rows: pa.Table) -> None:
        """DuckDB deletes in place (inside the file's transaction): raw SQL, since Ibis has no DELETE."""
        raw = con.con
        view = "__flywheel_replace"
        raw.register(view, rows)
        try:
            cols = ", ".join(f'"{k}"' for k in key)
            raw.execute(f'DELETE FROM "{name}" WHERE ({cols}) IN (SELECT {cols} FROM {view})')
            raw.execute(f'INSERT INTO "{name}" SELECT * FROM {view}')
        finally:
            raw.unregister(view)


class SparkEngine(Engine):
    """Local or cluster Spark. Tables live under `db_path` (a directory) as the Spark warehouse.

    Spark has no multi-table transactions: ingestion writes the lineage record last, so a file
    interrupted half-way is applied again on the next run and natural keys drop what had landed.
    """

    name = "spark"
    transactional = False


    def materialize(self, con: BaseBackend, name: str, expr) -> None:
        """A locally checkpointed temporary view, not a table: writing Parquet and the metastore for
        every round of label propagation costs seconds, and the checkpoint cuts the lineage that
        would otherwise grow with every round."""
        con._run_pre_execute_hooks(expr)
        frame = con._session.sql(con.compile(expr)).localCheckpoint(eager=True)
        frame.createOrReplaceTempView(name)

    def drop_materialized(self, con: BaseBackend, name: str) -> None:
        con._session.catalog.dropTempView(name)

    def connect(self, db_path: Path) -> BaseBackend:
        db_path = Path(db_path)
        if db_path.exists() and not db_path.is_dir():
            raise WarehouseError(f"{db_path}: a Spark warehouse is a directory; this is a file "
                                 "(a DuckDB warehouse? then drop --engine spark)")
        if db_path.is_dir() and any(db_path.iterdir()) and not (db_path / METASTORE).is_dir():
            raise WarehouseError(f"{db_path}: not a Flywheel Spark warehouse (no {METASTORE}/ inside); "
                                 "give a new or empty directory")
        session = spark_session(str(Path(db_path).resolve()))
        session.sql(f"CREATE DATABASE IF NOT EXISTS {SPARK_DATABASE}")
        session.catalog.setCurrentDatabase(SPARK_DATABASE)
        return ibis.pyspark.connect(session)

    def add_column(self, con: BaseBackend, table: str, column: str, dtype: dt.DataType) -> None:
        con.raw_sql(f"ALTER TABLE `{table}` ADD COLUMNS (`{column}` {PySparkType.to_string(dtype)})")


@functools.cache
def spark_session(warehouse_dir: str):
    """One Spark session per process and warehouse (a session takes ~8 s to start).

    The table catalog (a Derby metastore) is kept inside the warehouse directory, so tables written
    by one `flywheel --engine spark` run are there for the next."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError("--engine spark needs PySpark: pip install 'flywheel-cdp[spark]'") from None
    derby = Path(warehouse_dir) / METASTORE
    derby.mkdir(parents=True, exist_ok=True)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("flywheel")
        .config("spark.sql.warehouse.dir", warehouse_dir)
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={derby}")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        # Union constraint rewriting fails on views over local checkpoints (identity graph rounds).
        .config("spark.sql.constraintPropagation.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .enableHiveSupport()
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


ENGINES: dict[str, Engine] = {e.name: e for e in (DuckDBEngine(), SparkEngine())}


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise EngineError(f"Unknown engine {name!r}. Known: {', '.join(ENGINES)}.") from None
