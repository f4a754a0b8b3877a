"""The schema catalog: canonical tables and every field's type, meaning and sensitivity."""

from flywheel.schema.catalog import SCHEMA_VERSION, TABLES, Field, Table, table

__all__ = ["SCHEMA_VERSION", "TABLES", "Field", "Table", "table"]
