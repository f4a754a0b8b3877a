"""Counts read without the query layer, for commands that must answer in a fraction of a second.

Importing Ibis costs about a second; `flywheel events stats` should not. On DuckDB the counts come
from DuckDB's own client over a read-only connection (raw SQL, so it lives here); on Spark, or when
the warehouse needs a migration first, `None` tells the caller to take the Ibis path.
"""

from __future__ import annotations

from pathlib import Path

from flywheel.config import Settings
from flywheel.errors import WarehouseError
from flywheel.schema.version import SCHEMA_VERSION


def grouped_counts(settings: Settings, table: str, columns: list[str]) -> dict[str, dict] | None:
    """`{column: {value: rows}}` for each of `columns` of a catalog table, largest first.

    A warehouse file that does not exist yet holds nothing: every count is empty and no file is made.
    """
    if settings.engine != "duckdb":
        return None
    path = Path(settings.db_path)
    if not path.exists():
        return {c: {} for c in columns}
    if path.is_dir():
        raise WarehouseError(f"{path}: is a directory, not a DuckDB warehouse file "
                             "(a Spark warehouse? then add --engine spark)")
    import duckdb

    from flywheel.warehouse.failures import duckdb_reason

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise WarehouseError(f"{path}: cannot open the DuckDB warehouse: {duckdb_reason(exc)}") from None
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "schema_version" not in tables or table not in tables:
            return None
        version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
        if version != SCHEMA_VERSION:
            return None
        counts = {}
        for column in columns:
            rows = con.execute(f'SELECT "{column}", count(*) AS n FROM "{table}" GROUP BY 1 '
                               "ORDER BY n DESC, 1").fetchall()
            counts[column] = {value: n for value, n in rows}
        return counts
    finally:
        con.close()
