"""Identity resolution graded against the simulated merchant's truth: precision over account pairs,
every planted trap resisted, and recall against what the exports make knowable at all."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from flywheel.collect import ingest_paths
from flywheel.identifiers import IdentifierHasher
from flywheel.identity import identity_measures, resolve
from flywheel.keys import load_or_create_key
from flywheel.simulate import generate
from flywheel.simulate.grading import identity_quality, observable_values

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def merchant(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("merchant")
    generate(out, persons=1500, seed=11)
    return out


def _quality(wh, merchant):
    mapping = [(r["source"], r["account_key"], r["person_id"]) for r in wh.fetch("person_accounts").to_pylist()]
    return identity_quality(mapping, observable_values(wh), merchant / "truth",
                            IdentifierHasher(load_or_create_key(wh.settings.key_file)))


def test_precision_recall_against_the_ceiling_and_every_trap_resisted(warehouse, merchant):
    ingest_paths(warehouse, [merchant])
    resolve(warehouse)
    q = _quality(warehouse, merchant)
    g = q.grade
    assert g.precision >= 0.995, f"precision {g.precision:.4f}"
    # Measured at this size (1,500 persons, seed 11): precision 1.0000, recall 0.7194 of a ceiling of
    # 0.7625 (0.944 of it); before issue 11 the bound here was 0.60. docs/identity.md has the 20k run.
    assert g.recall >= 0.71, f"recall {g.recall:.4f} (ceiling {q.ceiling:.4f})"
    assert q.share_of_ceiling >= 0.93, f"{q.share_of_ceiling:.4f} of the linkable ceiling {q.ceiling:.4f}"
    for trap in q.traps:
        assert trap.precision >= 0.995, f"{trap.kind}: precision {trap.precision:.4f} over {trap.found_pairs} pairs"
    assert len(g.blobs) <= 0.005 * g.accounts, "persons mixing two true persons stay rare"

    with open(merchant / "truth" / "traps.csv", encoding="utf-8") as f:
        traps = {row["kind"]: row for row in csv.DictReader(f)}
    quarantine = warehouse.fetch("quarantine").to_pylist()
    placeholder_drops = {r["reason"] for r in quarantine if r["action"] == "value_dropped"}
    assert "placeholder phone number" in placeholder_drops and "placeholder e-mail address" in placeholder_drops
    stats = identity_measures(warehouse)
    kiosk = traps["kiosk_cookie"]["value"]
    assert any(d["id_type"] == "anonymous_id" and d["id_masked"] == kiosk[:2] + "***" + kiosk[-2:]
               for d in stats["demoted_identifiers"]), "the kiosk cookie is demoted and reported"
