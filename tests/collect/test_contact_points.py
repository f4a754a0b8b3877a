"""Contact points at ingest: kept sealed (never in clear in the file), normalised, without placeholders
or masked phones, widened as exports show them again in any order, and filled for files applied
before schema v5 when those exports are ingested again."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest

from flywheel.collect import ingest_paths
from flywheel.schema import SCHEMA_VERSION
from flywheel.warehouse import Warehouse

HEADER = ["Name", "Email", "Phone", "Financial Status", "Created at", "Total", "Lineitem name", "Shipping Phone"]


def shopify(path: Path, orders: list[tuple[str, str, str, str]], shipping_phone: str = "") -> Path:
    """A Shopify orders export: (order name, e-mail, phone, created at) per order."""
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for name, email, phone, created in orders:
            w.writerow([name, email, phone, "paid", created, "10.00", "Tea", shipping_phone])
    return path


def opened(wh: Warehouse) -> dict[tuple[str, str], dict]:
    """Stored contact points by (id_type, value), their values opened."""
    rows = wh.sealer.unseal("contact_points", wh.fetch("contact_points")).to_pylist()
    return {(r["id_type"], r["value"]): r for r in rows}


def test_contact_points_are_sealed_and_the_file_never_holds_one_in_clear(tmp_path):
    orders = [(f"#{i}", f"Buyer.Number{i:04d}@Example.com ", f"+86 139 {i:04d} {i:04d}", "2024-03-05 14:01:00 +0800")
              for i in range(1, 301)]
    export = shopify(tmp_path / "orders.csv", orders)
    with Warehouse.open() as wh:
        ingest_paths(wh, [export])
        stored = wh.fetch("contact_points")
        assert stored.num_rows == 600 and all(v.startswith("sealed:v1:") for v in stored.column("value").to_pylist())
        points = opened(wh)
        assert ("email", "buyer.number0007@example.com") in points and ("phone", "+8613900070007") in points
        assert points["email", "buyer.number0007@example.com"]["value_masked"] == "b***@example.com"
        wh.con.raw_sql("FORCE CHECKPOINT")
        path = wh.settings.db_path
    data = path.read_bytes().lower()
    for i in (1, 150, 300):
        for clear in (f"buyer.number{i:04d}@example.com", f"+86139{i:04d}{i:04d}", f"139{i:04d}{i:04d}"):
            assert clear.encode() not in data, clear


def test_placeholders_and_masked_phones_are_not_contact_points(warehouse, tmp_path):
    export = shopify(tmp_path / "orders.csv", [
        ("#1", "test@test.com", "13800138000", "2024-03-05 10:00:00 +0800"),
        ("#2", "real@shop.cn", "138****1234", "2024-03-05 11:00:00 +0800"),
        ("#3", "other@shop.cn", "00000000000", "2024-03-05 12:00:00 +0800"),
    ])
    ingest_paths(warehouse, [export])
    assert set(opened(warehouse)) == {("email", "real@shop.cn"), ("email", "other@shop.cn")}
    kinds = set(warehouse.fetch(warehouse.table("identifiers").select("id_type")).column(0).to_pylist())
    assert "phone_masked" in kinds, "the masked phone stays identity evidence, only it reaches no one"


def test_later_and_earlier_sightings_widen_one_row_in_any_file_order(warehouse, tmp_path):
    june = shopify(tmp_path / "june.csv", [("#3", "a@shop.cn", "13912345678", "2024-06-01 10:00:00 +0800")])
    march = shopify(tmp_path / "march.csv", [("#1", "A@Shop.cn", "139 1234 5678", "2024-03-01 10:00:00 +0800"),
                                             ("#2", "a@shop.cn", "", "2024-04-01 10:00:00 +0800")])
    ingest_paths(warehouse, [june])
    first = warehouse.fetch("contact_points").to_pylist()
    report = ingest_paths(warehouse, [march]).files[0]
    points = opened(warehouse)
    assert len(points) == 2 and warehouse.count("contact_points") == 2
    email, phone = points["email", "a@shop.cn"], points["phone", "+8613912345678"]
    assert (email["first_seen_at"].month, email["last_seen_at"].month) == (3, 6)
    assert (phone["first_seen_at"].month, phone["last_seen_at"].month) == (3, 6)
    assert email["run_id"] == report.run_id, "the run that widened the row last wrote it"
    assert {r["value"] for r in first}.isdisjoint({r["value"] for r in warehouse.fetch("contact_points").to_pylist()})
    before = warehouse.fetch(warehouse.table("contact_points").order_by("id_type")).to_pylist()
    ingest_paths(warehouse, [june, march])
    assert warehouse.fetch(warehouse.table("contact_points").order_by("id_type")).to_pylist() == before


def test_wecom_contacts_and_event_openids_become_contact_points(warehouse):
    fixtures = Path(__file__).parent / "fixtures" / "other"
    ingest_paths(warehouse, [fixtures / "wecom_contacts.csv", fixtures / "events.jsonl"])
    points = opened(warehouse)
    assert ("wecom_external_userid", "wmA001") in points and ("wechat_openid", "oOpen1") in points
    assert points["wecom_external_userid", "wmA001"]["account_key"] == "wmA001"
    assert ("email", "zw@example.org") in points and ("phone", "+8613812345678") in points


def _as_v4(settings) -> None:
    """The warehouse as a Flywheel before contact points left it: no contact tables, schema v4."""
    with Warehouse.open(settings, migrate=False) as wh:
        for name in ("contact_points", "contact_refills"):
            wh.con.drop_table(name)
        versions = wh.con.table("schema_version")
        wh.con.create_table("schema_version", versions.filter(versions.version < 5), overwrite=True)


def test_a_v4_warehouse_is_migrated_and_reingesting_its_exports_fills_the_contact_points(tmp_path, caplog):
    from flywheel.privacy.erase import erase_subject
    from flywheel.privacy.subjects import find_subject
    from flywheel.warehouse import account_persons

    export = shopify(tmp_path / "orders.csv", [("#1", "kept@shop.cn", "13912345678", "2024-03-01 10:00:00 +0800"),
                                               ("#2", "gone@shop.cn", "13787654321", "2024-03-02 10:00:00 +0800")])
    other = shopify(tmp_path / "later.csv", [("#3", "new@shop.cn", "", "2024-05-01 10:00:00 +0800")])
    with Warehouse.open() as wh:
        settings = wh.settings
        ingest_paths(wh, [export])
        expected = {k for k in opened(wh) if "gone" not in k[1] and k[1] != "+8613787654321"}
        ids = wh.table("identifiers")
        gone_key = wh.fetch(ids.filter(ids.id_masked == "g***@shop.cn").select("account_key")).column(0)[0].as_py()
        persons = account_persons(wh)
        gone = wh.fetch(persons.filter(persons.account_key == gone_key)).column("person_id")[0].as_py()
        erase_subject(wh, find_subject(wh, gone), actor="tester", role="privacy_officer")
    _as_v4(settings)

    with caplog.at_level(logging.WARNING, logger="flywheel.warehouse.store"), Warehouse.open(settings) as wh:
        assert wh.version == SCHEMA_VERSION and wh.count("contact_points") == 0
        assert [r["refilled_at"] for r in wh.fetch("contact_refills").to_pylist()] == [None]
        ingest_paths(wh, [other])  # a new export fills its own contact points at once
        assert set(opened(wh)) == {("email", "new@shop.cn")}
    assert "were not kept before schema v5, so 1 file(s) already applied have none" in caplog.text

    with Warehouse.open(settings) as wh:
        report = ingest_paths(wh, [export]).files[0]
        assert report.already_applied and report.loaded == 0 and report.contacts_refilled == len(expected) == 2
        assert set(opened(wh)) == expected | {("email", "new@shop.cn")}, "the erased buyer stays erased"
        [refill] = wh.fetch("contact_refills").to_pylist()
        assert refill["refilled_at"] is not None and refill["contact_points"] == 2
        again = ingest_paths(wh, [export]).files[0]
        assert again.already_applied and again.contacts_refilled is None and wh.count("contact_points") == 3


@pytest.mark.parametrize("order", ["seen_first", "seen_last"])
def test_a_file_applied_twice_adds_nothing_whatever_came_between(warehouse, tmp_path, order):
    a = shopify(tmp_path / "a.csv", [("#1", "x@shop.cn", "", "2024-03-01 10:00:00 +0800")])
    b = shopify(tmp_path / "b.csv", [("#2", "x@shop.cn", "", "2024-02-01 10:00:00 +0800")])
    files = [a, b] if order == "seen_first" else [b, a]
    ingest_paths(warehouse, files)
    [row] = warehouse.fetch("contact_points").to_pylist()
    assert (row["first_seen_at"].month, row["last_seen_at"].month) == (2, 3)
