"""Every trait declared in the catalog has an expression, a unit and a line in docs/traits.md."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from flywheel.schema import table
from flywheel.value.traits import lifecycle, trait_expression, trait_fields, units
from flywheel.value.traits.build import FAMILIES
from flywheel.value.traits.docs import render

ROOT = Path(__file__).resolve().parents[2]


def test_at_least_100_traits_each_with_definition_type_unit_and_level():
    fields = trait_fields()
    assert len(fields) >= 100
    # The catalog's traits are the ones the trait families compute, each family claiming its own:
    # a trait in two families (merged away in `units()`) or in none fails here, without a warehouse.
    computed = Counter(name for family in (*FAMILIES, lifecycle) for name in family.UNITS)
    assert computed == Counter(f.name for f in fields), "catalog traits ≠ the traits the families declare"
    unit = units()
    for f in fields:
        assert f.description and f.type and unit.get(f.name) and 1 <= f.level <= 5, f.name


def test_every_declared_trait_has_an_expression_and_no_expression_is_undeclared(warehouse):
    expr = trait_expression(warehouse, __import__("datetime").datetime(2025, 1, 1))
    declared = table("person_traits")
    assert expr.columns == tuple(declared.names)
    assert set(units()) == {f.name for f in trait_fields()}
    assert {n: t.copy(nullable=True) for n, t in expr.schema().items()} == \
        {f.name: f.dtype.copy(nullable=True) for f in declared.fields}


def test_an_empty_warehouse_scores_to_no_rows(warehouse):
    from flywheel.value.traits import compute_traits

    assert compute_traits(warehouse, __import__("datetime").datetime(2025, 1, 1)).num_rows == 0


def test_traits_doc_is_generated_from_the_code():
    assert (ROOT / "docs" / "traits.md").read_text(encoding="utf-8").strip() == render().strip(), \
        "docs/traits.md is stale: run `python -m flywheel.value.traits.docs > docs/traits.md`"
