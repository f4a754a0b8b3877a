"""One order-status vocabulary, in the shared core: what adapters write is what GMV counts.

Collection (`collect`) and valuation (`value`) are capabilities that must not import each other's
internals; both read `flywheel.schema.orders`. A second literal list of GMV statuses anywhere in the
package fails here, as does an adapter mapping a platform's word to a status outside the vocabulary.
"""

from __future__ import annotations

import ast
from pathlib import Path

import flywheel
from flywheel.collect.adapters import douyin, jd, shopify, taobao
from flywheel.collect.ingest import ORDER_PROGRESSION
from flywheel.collect.summary import paid_orders
from flywheel.schema.orders import GMV_STATUSES, ORDER_STATUSES
from flywheel.value.traits import base

PACKAGE = Path(flywheel.__file__).parent


def _literal_string_sets(path: Path):
    """Every tuple/list/set literal made only of strings in a module, with its line."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts and \
                all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            yield node.lineno, frozenset(e.value for e in node.elts)


def test_gmv_statuses_are_written_once_in_the_shared_core():
    found = [f"{path.relative_to(PACKAGE)}:{line}" for path in sorted(PACKAGE.rglob("*.py"))
             for line, values in _literal_string_sets(path) if values == frozenset(GMV_STATUSES)]
    assert [place.split(":")[0] for place in found] == ["schema/orders.py"], f"GMV statuses defined at {found}"
    assert base.GMV_STATUSES is GMV_STATUSES


def test_capabilities_share_the_vocabulary_and_do_not_import_each_other():
    for capability, other in (("collect", "value"), ("value", "collect")):
        for path in (PACKAGE / capability).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module:
                    assert not node.module.startswith(f"flywheel.{other}"), f"{path.name} imports {node.module}"


def test_every_status_an_adapter_writes_is_in_the_vocabulary_and_has_its_place_in_the_progression():
    assert set(ORDER_PROGRESSION) == set(ORDER_STATUSES)
    assert set(GMV_STATUSES) < set(ORDER_STATUSES)
    for adapter in (shopify, taobao, jd, douyin):
        assert set(adapter.STATUS.values()) <= set(ORDER_STATUSES), adapter.__name__


def test_the_collection_summary_counts_gmv_by_the_shared_statuses(warehouse):
    sql = str(paid_orders(warehouse).compile())
    assert all(f"'{status}'" in sql for status in GMV_STATUSES) and "'pending'" not in sql
