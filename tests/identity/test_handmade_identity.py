"""Identity on the hand-made Shopify/Taobao/Douyin set (tests/identity/data/handmade): order-pair
precision and recall against its truth, and no trap joins two of its persons."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from flywheel.collect import ingest_paths
from flywheel.identity import resolve

DATA = Path(__file__).parent / "data" / "handmade"

pytestmark = pytest.mark.slow


def _pairs(counts: Counter) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def test_handmade_set_order_pairs_and_traps(warehouse):
    ingest_paths(warehouse, [DATA / "exports"])
    resolve(warehouse)
    with open(DATA / "truth.csv", encoding="utf-8") as f:
        truth = {(r["source"], r["order_id"]): r["person"] for r in csv.DictReader(f)}
    person_of = {(r["source"], r["account_key"]): r["person_id"] for r in warehouse.fetch("person_accounts").to_pylist()}
    orders = warehouse.fetch(warehouse.table("orders").select("source", "order_id", "account_key")).to_pylist()
    graded = [(person_of[(o["source"], o["account_key"])], truth[(o["source"], o["order_id"])]) for o in orders]
    assert len(graded) == len(truth) == 644, "every order landed once (the re-export adds none)"
    found, true, correct = (_pairs(Counter(p for p, _ in graded)), _pairs(Counter(t for _, t in graded)),
                            _pairs(Counter(graded)))
    precision, recall = correct / found, correct / true
    assert precision >= 0.995, f"order-pair precision {precision:.4f}"  # measured 1.0000
    assert recall >= 0.97, f"order-pair recall {recall:.4f}"  # measured 0.9784

    persons_of_buyer: dict[str, set] = {}
    for person, buyer in graded:
        persons_of_buyer.setdefault(buyer, set()).add(person)
    with open(DATA / "traps.csv", encoding="utf-8") as f:
        for trap in csv.DictReader(f):
            buyers = trap["persons"].split("|")
            for i, a in enumerate(buyers):
                for b in buyers[i + 1:]:
                    assert not persons_of_buyer[a] & persons_of_buyer[b], f"{trap['kind']}: {a} and {b} joined"
