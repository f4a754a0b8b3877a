"""The schema catalog: canonical tables and every field's type, meaning and sensitivity.

Names load on first use (`flywheel.lazy`), so reading the purposes or the schema version does not
load Ibis.
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {"SCHEMA_VERSION": "flywheel.schema.version", "TABLES": "flywheel.schema.catalog",
            "Field": "flywheel.schema.catalog", "Table": "flywheel.schema.catalog",
            "table": "flywheel.schema.catalog"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
