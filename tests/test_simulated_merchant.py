"""End to end on the simulated merchant: every export it writes lands, exactly the planted malformed
rows are quarantined, and the warehouse agrees with truth/."""

import csv
from pathlib import Path

import pytest

from flywheel.collect import ingest_paths
from flywheel.simulate import generate


@pytest.fixture(scope="module")
def merchant(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("merchant")
    generate(out, persons=1500, seed=3)
    return out


def _truth(merchant: Path, name: str) -> list[dict]:
    with open(merchant / "truth" / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_every_adapter_reads_its_simulated_export_and_only_planted_rows_are_quarantined(warehouse, merchant):
    report = ingest_paths(warehouse, [merchant])
    assert {f.adapter for f in report.files} == {"shopify", "taobao", "jd", "douyin", "wecom", "segment", "ad_spend"}
    planted = {(t["value"].rsplit(":", 1)[0], int(t["value"].rsplit(":", 1)[1]))
               for t in _truth(merchant, "traps.csv") if t["kind"] == "malformed_row"}
    rejected = {(str(Path(r["file"]).relative_to(merchant)), r["line"])
                for r in warehouse.fetch("quarantine").to_pylist() if r["action"] == "row_rejected"}
    assert rejected == planted
    assert report.total("quarantined") == len(planted)


def test_every_true_order_lands_once_with_its_amount(warehouse, merchant):
    ingest_paths(warehouse, [merchant])
    stored = {(o["source"], o["order_id"]): o for o in warehouse.fetch("orders").to_pylist()}
    truth = {(t["source"], t["order_id"]): t for t in _truth(merchant, "orders.csv")}
    assert set(stored) == set(truth), "malformed rows are planted as extra rows: every true order must land"
    for key, o in stored.items():
        t = truth[key]
        assert o["paid_cents"] == round(float(t["gross"]) * 100), key
        assert o["refund_cents"] == round(float(t["refund"]) * 100), key


def test_reingesting_the_whole_merchant_changes_nothing(warehouse, merchant):
    ingest_paths(warehouse, [merchant])
    before = {t: warehouse.count(t) for t in ("orders", "events", "identifiers", "accounts", "quarantine")}
    again = ingest_paths(warehouse, [merchant])
    assert all(f.already_applied for f in again.files) and again.total("loaded") == 0
    assert before == {t: warehouse.count(t) for t in before}
