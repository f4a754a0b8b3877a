"""Identity resolution graded against the simulated merchant's truth: precision over account pairs,
every planted trap resisted, and recall against what the exports make knowable at all."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from flywheel.collect import ingest_paths
from flywheel.identifiers import IdentifierHasher
from flywheel.identity import identity_measures, resolve
from flywheel.identity.probabilistic import match_accounts
from flywheel.keys import load_or_create_key
from flywheel.simulate import generate
from flywheel.simulate.grading import grade

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def merchant(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("merchant")
    generate(out, persons=1500, seed=11)
    return out


def _grade(wh, merchant):
    mapping = [(r["source"], r["account_key"], r["person_id"]) for r in wh.fetch("person_accounts").to_pylist()]
    return grade(mapping, merchant / "truth", IdentifierHasher(load_or_create_key(wh.settings.key_file)))


def test_no_blob_and_every_trap_resisted(warehouse, merchant):
    ingest_paths(warehouse, [merchant])
    report = resolve(warehouse, matcher=match_accounts)
    g = _grade(warehouse, merchant)
    assert g.blobs == [], "no person may hold accounts of two true persons"
    assert g.precision >= 0.995
    assert g.recall >= 0.6, f"recall {g.recall:.3f}"

    with open(merchant / "truth" / "traps.csv", encoding="utf-8") as f:
        traps = {row["kind"]: row for row in csv.DictReader(f)}
    quarantine = warehouse.fetch("quarantine").to_pylist()
    placeholder_drops = {r["reason"] for r in quarantine if r["action"] == "value_dropped"}
    assert "placeholder phone number" in placeholder_drops and "placeholder e-mail address" in placeholder_drops
    stats = identity_measures(warehouse)
    kiosk = traps["kiosk_cookie"]["value"]
    assert any(d["id_type"] == "anonymous_id" and d["id_masked"] == kiosk[:2] + "***" + kiosk[-2:]
               for d in stats["demoted_identifiers"]), "the kiosk cookie is demoted and reported"
