"""Warehouse access: the Ibis connection, table catalog, migrations and idempotent writes.

Only this package knows whether DuckDB or Spark runs the queries.
"""

from flywheel.warehouse.engines import ENGINES, spark_session
from flywheel.warehouse.people import account_persons, unresolved_person_id
from flywheel.warehouse.store import LINE, Warehouse, first_occurrence

__all__ = ["ENGINES", "LINE", "Warehouse", "account_persons", "first_occurrence", "spark_session",
           "unresolved_person_id"]
