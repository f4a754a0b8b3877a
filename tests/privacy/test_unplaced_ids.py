"""Before identity resolution an account is its own person; that id must not carry the account key."""

from __future__ import annotations

import csv
from pathlib import Path

from flywheel.collect import ingest_paths
from flywheel.config import load_settings
from flywheel.identity import export_mapping
from flywheel.privacy import Gate
from flywheel.warehouse import account_persons

FIXTURES = Path(__file__).parents[1] / "collect" / "fixtures"


def test_stand_in_person_ids_are_keyed_hashes_not_account_keys(warehouse, tmp_path):
    ingest_paths(warehouse, [FIXTURES / "marketplaces" / "taobao_orders.csv", FIXTURES / "other" / "events.jsonl"])
    mapping = warehouse.fetch(account_persons(warehouse)).to_pylist()
    assert len(mapping) >= 3
    keys = {r["account_key"] for r in mapping}
    ids = [r["person_id"] for r in mapping]
    assert len(set(ids)) == len(ids), "one stand-in person per account"
    assert all(p.startswith("a") and len(p) == 17 for p in ids)
    assert not any(k in p for p in ids for k in keys if len(k) >= 4)
    assert warehouse.fetch(account_persons(warehouse)).to_pylist() == mapping, "stable across reads"
    with Gate.open(load_settings().with_overrides(role="analyst"), warehouse, "identity export") as gate:
        export_mapping(gate, "accounts", tmp_path / "a.csv")
    rows = list(csv.DictReader((tmp_path / "a.csv").open(encoding="utf-8")))
    assert {r["person_id"] for r in rows} == set(ids), "the analyst gets the (pseudonymous) person ids"
    text = (tmp_path / "a.csv").read_text(encoding="utf-8")
    assert not [k for k in keys if len(k) >= 6 and k in text], "no account key in clear for an L2 role"
