"""Warehouse access: the Ibis connection, table catalog, migrations and idempotent writes.

Only this package knows whether DuckDB or Spark runs the queries. Names load on first use
(`flywheel.lazy`): `warehouse.glance` answers light commands without importing Ibis.
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {"ENGINES": "flywheel.warehouse.engines", "spark_session": "flywheel.warehouse.engines",
            "account_persons": "flywheel.warehouse.people", "unresolved_person_id": "flywheel.warehouse.people",
            "LINE": "flywheel.warehouse.store", "Warehouse": "flywheel.warehouse.store",
            "first_occurrence": "flywheel.warehouse.store", "open_when_free": "flywheel.warehouse.store",
            "is_lock_conflict": "flywheel.warehouse.store"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
