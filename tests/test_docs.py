"""The documents a user reads must be true to the code."""

from pathlib import Path

from flywheel.collect import REGISTRY
from flywheel.schema import TABLES
from flywheel.schema.docs import render

ROOT = Path(__file__).resolve().parents[1]


def test_data_model_doc_is_generated_from_the_catalog():
    assert (ROOT / "docs" / "data-model.md").read_text(encoding="utf-8").strip() == render().strip(), \
        "docs/data-model.md is stale: run `make docs`"


def test_every_adapter_is_documented_in_connectors_md():
    text = (ROOT / "docs" / "connectors.md").read_text(encoding="utf-8")
    for name in REGISTRY:
        assert f"## `{name}`" in text, f"adapter {name} missing from docs/connectors.md"


def test_every_catalog_field_has_a_description_and_a_sensitivity_level():
    for t in TABLES:
        for f in t.fields:
            assert f.description and 1 <= f.level <= 5, (t.name, f.name)
