"""Everything that differs between DuckDB and Spark lives here, named.

The rest of Flywheel writes Ibis expressions and never asks which engine runs them.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import shutil
import subprocess
import uuid
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



JSON_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@functools.cache
def _json_builtin(name: str):
    @ibis.udf.scalar.builtin(name=name)
    def extract(doc: str, path: str) -> str:
        ...

    return extract


class Engine:
    """How to connect to one engine and what it can and cannot do."""

    name: str = ""
    transactional: bool = False

    def connect(self, db_path: Path, settings=None) -> BaseBackend:
        raise NotImplementedError

    @contextlib.contextmanager
    def transaction(self, con: BaseBackend) -> Iterator[None]:
        yield

    def materialize(self, con: BaseBackend, name: str, expr) -> None:
        """Store an intermediate result under `name` for the next step of an iterative algorithm."""
        con.create_table(name, expr, overwrite=True)

    def drop_materialized(self, con: BaseBackend, name: str) -> None:
        con.drop_table(name, force=True)

    def work_table(self, con: BaseBackend, name: str, expr) -> ibis.Table:
        """The table `materialize(con, name, expr)` wrote."""
        return con.table(name)

    deletes = False
    """Whether `delete_matching` deletes in place; otherwise the warehouse rebuilds the table."""

    def delete_matching(self, con: BaseBackend, name: str, key: list[str], expr) -> None:
        raise NotImplementedError

    json_function = ""
    """The engine's SQL function for one JSON field of a JSON string as text, unquoted."""

    def json_text(self, column: ibis.Value, key: str) -> ibis.Value:
        """`column`'s (a JSON object as a string) field `key` as text: strings unquoted, numbers and
        booleans as written, null when absent. Ibis' own JSON unwrapping runs Python UDFs on Spark
        that fail on unquoted strings, so both engines call their built-in function."""
        if not JSON_KEY.fullmatch(key):
            raise ValueError(f"JSON field names are letters, digits and _ only: {key!r}")
        function = _json_builtin(self.json_function)
        return function(column, ibis.literal(f"$.{key}"))

    def may_have_rows(self, con: BaseBackend, name: str) -> bool:
        """False only when the stored table certainly has no rows (lets writers skip a key lookup)."""
        return int(con.table(name).count().execute()) > 0

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
    json_function = "json_extract_string"
    name = "duckdb"
    transactional = True

    def connect(self, db_path: Path, settings=None) -> BaseBackend:
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
        """A temporary table: kept in memory (spilling if needed), never written to the file.

        One `CREATE OR REPLACE … AS` (which may read the table it replaces): Ibis' `create_table`
        with `overwrite` inserts into a scratch table and then copies it, writing every row twice."""
        if not isinstance(expr, ibis.Expr):
            con.create_table(name, expr, temp=True, overwrite=True)
            return
        con._run_pre_execute_hooks(expr)  # registers the expression's memtables
        con.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {con.compile(expr)}')

    def work_table(self, con: BaseBackend, name: str, expr) -> ibis.Table:
        """The work table with the schema of the expression that made it, every column nullable as
        DuckDB reports it: asking DuckDB (a DESCRIBE whose types sqlglot parses) cost more than
        many of the queries, dozens of times per segment refresh or journey tick."""
        if not isinstance(expr, ibis.Expr):
            return con.table(name)
        from ibis.expr import operations as ops

        schema = ibis.schema({c: t.copy(nullable=True) for c, t in expr.schema().items()})
        return ops.DatabaseTable(name, schema=schema, source=con,
                                 namespace=ops.Namespace(catalog=None, database=None)).to_expr()

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

    deletes = True

    def delete_matching(self, con: BaseBackend, name: str, key: list[str], expr) -> None:
        """Delete the rows whose `key` columns equal a row of `expr`, in place: raw SQL, since Ibis
        has no DELETE."""
        con._run_pre_execute_hooks(expr)
        cols = ", ".join(f'"{k}"' for k in key)
        con.raw_sql(f'DELETE FROM "{name}" WHERE ({cols}) IN (SELECT {cols} FROM ({con.compile(expr)}))')

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
    json_function = "get_json_object"
    """Local or cluster Spark. Tables live under `db_path` (a directory) as the Spark warehouse.

    Spark has no multi-table transactions: ingestion writes the lineage record last, so a file
    interrupted half-way is applied again on the next run and natural keys drop what had landed.
    """

    name = "spark"
    transactional = False

    def materialize(self, con: BaseBackend, name: str, expr) -> None:
        """Parquet files in the session's work directory, read back as a temporary view.

        Not a local checkpoint: a checkpoint keeps the plan's *estimated* size, and Spark estimates
        a join as the product of its inputs' sizes, so round after round of label propagation the
        estimate gains digits until planning spends minutes multiplying BigIntegers. A Parquet scan
        is sized by its files, however they were made. Not a catalog table either: no metastore
        round trip per round.
        """
        con._run_pre_execute_hooks(expr)
        session = con._session
        frame = session.sql(con.compile(expr))
        folder = _work_dir(session) / name
        path = folder / uuid.uuid4().hex
        frame.write.parquet(str(path))
        session.read.schema(frame.schema).parquet(str(path)).createOrReplaceTempView(name)
        for old in folder.iterdir():
            if old != path:
                shutil.rmtree(old, ignore_errors=True)

    def drop_materialized(self, con: BaseBackend, name: str) -> None:
        con._session.catalog.dropTempView(name)
        shutil.rmtree(_work_dir(con._session) / name, ignore_errors=True)

    def may_have_rows(self, con: BaseBackend, name: str) -> bool:
        """A look at the table's folder instead of a counting job (each job costs a fraction of a
        second however small the table): no data file, no rows."""
        folder = Path(con._session.conf.get(WAREHOUSE_DIR_CONF)) / f"{SPARK_DATABASE}.db" / name
        return folder.is_dir() and any(f.is_file() and not f.name.startswith(("_", ".")) for f in folder.iterdir())

    def connect(self, db_path: Path, settings=None) -> BaseBackend:
        db_path = Path(db_path)
        if db_path.exists() and not db_path.is_dir():
            raise WarehouseError(f"{db_path}: a Spark warehouse is a directory; this is a file "
                                 "(a DuckDB warehouse? then drop --engine spark)")
        if db_path.is_dir() and any(db_path.iterdir()) and not (db_path / METASTORE).is_dir():
            raise WarehouseError(f"{db_path}: not a Flywheel Spark warehouse (no {METASTORE}/ inside); "
                                 "give a new or empty directory")
        session = spark_session(str(Path(db_path).resolve()), settings)
        session.sql(f"CREATE DATABASE IF NOT EXISTS {SPARK_DATABASE}")
        session.catalog.setCurrentDatabase(SPARK_DATABASE)
        return _spark_backend()().connect(session)

    def add_column(self, con: BaseBackend, table: str, column: str, dtype: dt.DataType) -> None:
        con.raw_sql(f"ALTER TABLE `{table}` ADD COLUMNS (`{column}` {PySparkType.to_string(dtype)})")


WORK_DIR_CONF = "spark.flywheel.workDir"
WAREHOUSE_DIR_CONF = "spark.flywheel.warehouseDir"
SPARK_LOG = "spark.log"
LOG4J = """\
# Written by Flywheel at every Spark start: the JVM's log goes to _spark/spark.log, never the terminal.
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.metastore.name = org.apache.hadoop.hive.metastore
logger.metastore.level = error
logger.parquet.name = org.apache.parquet.CorruptStatistics
logger.parquet.level = error
"""


def spark_session(warehouse_dir: str, settings=None):
    """One Spark session per process and warehouse (a session takes ~8 s to start).

    The table catalog (a Derby metastore) is kept inside the warehouse directory, so tables written
    by one `flywheel --engine spark` run are there for the next. Master, partitions and extra
    settings come from `settings` (FLYWHEEL_SPARK_*)."""
    if settings is None:
        from flywheel.config import load_settings

        settings = load_settings()
    return _spark_session(str(warehouse_dir), settings.spark_master, settings.spark_partitions,
                          tuple(settings.spark_conf))


def shuffle_partitions(master: str, partitions: int) -> int:
    """0 (automatic) → twice the cores of a local master (`local[*]`: this machine's), else Spark's 200."""
    if partitions:
        return partitions
    found = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master.strip())
    if not found:
        return 200
    cores = found.group(1)
    n = 1 if cores is None else (os.cpu_count() or 1) if cores == "*" else int(cores)
    return 2 * n


def spark_conf(warehouse_dir: str, master: str, partitions: int,
               extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """Everything Flywheel sets on a Spark session, then the user's `extra` over it (FLYWHEEL_SPARK_CONF).

    Set before the JVM starts: the driver's heap, its Java options (Derby's home, the log4j file)
    and the console progress bar cannot change afterwards."""
    home = Path(warehouse_dir)
    conf = {
        "spark.master": master,
        "spark.app.name": "flywheel",
        "spark.sql.warehouse.dir": warehouse_dir,
        WAREHOUSE_DIR_CONF: warehouse_dir,
        "spark.sql.catalogImplementation": "hive",
        "spark.driver.extraJavaOptions": (f"-Dderby.system.home={home / METASTORE} "
                                          f"-Dlog4j2.configurationFile={(home / '_spark' / 'log4j2.properties').as_uri()}"),
        # Spark's 1 GB default is small for a driver that is the whole cluster in local mode.
        "spark.driver.memory": "2g",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(shuffle_partitions(master, partitions)),
        # Ibis' SQL for set operations over temporary views trips constraint inference.
        "spark.sql.constraintPropagation.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    for key, value in extra:
        if key == "spark.driver.extraJavaOptions":  # keep the metastore and log settings beside the user's
            value = f"{conf[key]} {value}"
        conf[key] = value
    return conf


@functools.cache
def _spark_session(warehouse_dir: str, master: str, partitions: int, extra: tuple[tuple[str, str], ...]):
    try:
        from pyspark import SparkConf, SparkContext
        from pyspark.java_gateway import launch_gateway
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError("--engine spark needs PySpark: pip install 'flywheel-cdp[spark]'") from None
    home = Path(warehouse_dir) / "_spark"
    for folder in (home, Path(warehouse_dir) / METASTORE):
        folder.mkdir(parents=True, exist_ok=True)
    (home / "log4j2.properties").write_text(LOG4J, encoding="utf-8")
    settings = spark_conf(warehouse_dir, master, partitions, extra)
    conf = SparkConf(loadDefaults=False).setAll(list(settings.items()))
    if SparkContext._active_spark_context is None and SparkContext._gateway is None:
        # The JVM's own stdout and stderr go to the log file: nothing Java prints reaches the
        # terminal (or `--json` output), whatever log4j is told.
        with open(home / SPARK_LOG, "ab") as log_file:
            gateway = launch_gateway(conf, popen_kwargs={"stdout": log_file, "stderr": subprocess.STDOUT})
        SparkContext(conf=conf, gateway=gateway)
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    work_root = Path(warehouse_dir) / "_work"
    if work_root.exists():  # left by a process that did not exit cleanly (the metastore admits one at a time)
        for stale in work_root.iterdir():
            shutil.rmtree(stale, ignore_errors=True)
    work = work_root / session.sparkContext.applicationId
    work.mkdir(parents=True, exist_ok=True)
    session.conf.set(WORK_DIR_CONF, str(work))
    atexit.register(shutil.rmtree, work, True)
    log.info("Spark %s: master %s, %s shuffle partitions, log in %s", session.version, settings["spark.master"],
             settings["spark.sql.shuffle.partitions"], home / SPARK_LOG)
    return session


def _work_dir(session) -> Path:
    return Path(session.conf.get(WORK_DIR_CONF))


@functools.cache
def _spark_backend():
    """Ibis' PySpark backend with in-memory tables passed to Spark as Parquet files.

    Ibis hands an Arrow table to Spark through pandas and `createDataFrame`: the rows then travel
    inside every task and stay on the driver's heap until the process ends (a 20,000-person demo ran
    the default 1 GB heap out). A Parquet file written by pyarrow costs neither, and Spark knows
    its size when it plans joins.
    """
    import weakref

    import pyarrow.parquet as pq
    from ibis.backends.pyspark import Backend
    from ibis.backends.pyspark.datatypes import PySparkSchema

    class SparkBackend(Backend):
        def _register_in_memory_table(self, op) -> None:
            if any(dtype.is_null() for dtype in op.schema.types):
                return super()._register_in_memory_table(op)  # Parquet has no column of no type
            table = op.data.to_pyarrow(op.schema)
            table = table.cast(pa.schema([_utc(f) for f in table.schema]))
            folder = _work_dir(self._session) / "_memtables"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{op.name}.parquet"
            pq.write_table(table, path)
            schema = PySparkSchema.from_ibis(op.schema)
            self._session.read.schema(schema).parquet(str(path)).createOrReplaceTempView(op.name)
            weakref.finalize(op, _forget_memtable, self._session, op.name, path)

    SparkBackend.register_options()  # what `ibis.pyspark` does on first use; the compiler reads them
    return SparkBackend


def _utc(field: pa.Field) -> pa.Field:
    """Zone-less timestamps as UTC instants, which is how the session (time zone UTC) reads them."""
    if pa.types.is_timestamp(field.type) and field.type.tz is None:
        return field.with_type(pa.timestamp(field.type.unit, tz="UTC"))
    return field


def _forget_memtable(session, name: str, path: Path) -> None:
    with contextlib.suppress(Exception):
        session.catalog.dropTempView(name)
    path.unlink(missing_ok=True)


ENGINES: dict[str, Engine] = {e.name: e for e in (DuckDBEngine(), SparkEngine())}


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise EngineError(f"Unknown engine {name!r}. Known: {', '.join(ENGINES)}.") from None
