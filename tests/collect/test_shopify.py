from pathlib import Path

import pytest

from flywheel.collect import ingest_paths
from flywheel.errors import InputError, UnknownFormatError

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"


def _rows(wh, name):
    return wh.table(name).to_pyarrow().to_pylist()


def test_good_rows_land_and_bad_rows_are_quarantined_with_line_field_and_reason(warehouse):
    report = ingest_paths(warehouse, [FIXTURES / "orders_export.csv"])
    f = report.files[0]
    assert (f.adapter, f.source, f.rows, f.loaded, f.duplicates, f.quarantined) == ("shopify", "shopify", 5, 3, 0, 2)
    q = {(r["line"], r["field"], r["reason"]) for r in _rows(warehouse, "quarantine")}
    assert q == {(5, "Created at", "unparseable date-time"), (5, "Total", "not an amount of money"),
                 (6, None, "expected 31 fields, found 15")}


def test_continuation_rows_become_items_of_their_order_and_money_is_exact(warehouse):
    ingest_paths(warehouse, [FIXTURES / "orders_export.csv"])
    orders = {o["order_id"]: o for o in _rows(warehouse, "orders")}
    assert orders["#1001"]["paid_cents"] == 21000 and orders["#1001"]["status"] == "paid"
    assert orders["#1002"]["status"] == "refunded" and orders["#1002"]["refund_cents"] == 5000
    items = sorted((i["order_id"], i["item_id"], i["title"], i["quantity"], i["paid_cents"])
                   for i in _rows(warehouse, "order_items"))
    assert items == [("#1001", "1", "Green Tea", 1, 12000), ("#1001", "2", "Cup", 2, 8000), ("#1002", "1", "Cup", 1, 5000)]


def test_identifiers_are_stored_hashed_and_masked_never_raw(warehouse):
    ingest_paths(warehouse, [FIXTURES / "orders_export.csv"])
    ids = _rows(warehouse, "identifiers")
    assert {i["id_masked"] for i in ids} >= {"z***@example.com", "138****5678"}
    for name in ("identifiers", "accounts", "orders"):
        text = str(_rows(warehouse, name)).lower()
        assert "zhang.wei@example.com" not in text and "13812345678" not in text
    emails = [i for i in ids if i["id_type"] == "email"]
    assert len({i["id_hash"] for i in emails}) == 2, "case and spaces must not split one e-mail into two"


def test_accepts_marketing_becomes_a_consent_record(warehouse):
    ingest_paths(warehouse, [FIXTURES / "orders_export.csv"])
    consents = sorted((c["purpose"], c["status"]) for c in _rows(warehouse, "consents"))
    assert consents == [("marketing_email", "denied"), ("marketing_email", "granted")]


def test_reingesting_the_same_file_changes_nothing(warehouse):
    ingest_paths(warehouse, [FIXTURES / "orders_export.csv"])
    counts = {t: warehouse.count(t) for t in ("orders", "order_items", "identifiers", "quarantine", "ingest_runs")}
    again = ingest_paths(warehouse, [FIXTURES / "orders_export.csv"]).files[0]
    assert again.already_applied and again.loaded == 0 and again.duplicates == 3 and again.quarantined == 2
    assert counts == {t: warehouse.count(t) for t in counts}


def test_an_overlapping_export_adds_only_its_new_rows(warehouse, tmp_path):
    ingest_paths(warehouse, [FIXTURES / "orders_export.csv"])
    lines = (FIXTURES / "orders_export.csv").read_text().splitlines()
    extra = "#1005,new@example.com,paid,2024-04-01 10:00,,yes,CNY,9,0,0,9.00,,,2024-04-01 09:00,1,Tea,9.00,T,N,N,,,,,,,,0,web,,5005"
    (tmp_path / "second.csv").write_text("\n".join(lines[:4] + [extra]) + "\n")
    f = ingest_paths(warehouse, [tmp_path / "second.csv"]).files[0]
    assert (f.rows, f.loaded, f.duplicates, f.quarantined) == (4, 1, 3, 0)
    assert warehouse.count("orders") == 3


def test_unknown_header_names_the_installed_adapters(warehouse, tmp_path):
    (tmp_path / "x.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(UnknownFormatError, match="No adapter for this header. Known: .*shopify"):
        ingest_paths(warehouse, [tmp_path / "x.csv"])


def test_forced_adapter_with_missing_required_column_is_a_clear_error(warehouse, tmp_path):
    (tmp_path / "x.csv").write_text("Name,Email\n#1,a@b.com\n")
    with pytest.raises(InputError, match="missing column"):
        ingest_paths(warehouse, [tmp_path / "x.csv"], source="shopify")


def test_a_later_export_moves_an_order_forward_and_an_older_one_never_moves_it_back(warehouse, tmp_path):
    header = (FIXTURES / "orders_export.csv").read_text().splitlines()[0]
    row = "#2001,b@example.com,{status},2024-04-01 10:00,,yes,CNY,9,0,0,9.00,,,2024-04-01 09:00,1,Tea,9.00,T,N,N,,,,,,,,{refund},web,,6001"
    for name, status, refund in (("a.csv", "paid", "0.00"), ("b.csv", "partially_refunded", "3.00"),
                                 ("c.csv", "paid", "0.00")):
        (tmp_path / name).write_text(header + "\n" + row.format(status=status, refund=refund) + "\n")
    ingest_paths(warehouse, [tmp_path / "a.csv"])
    later = ingest_paths(warehouse, [tmp_path / "b.csv"]).files[0]
    assert (later.loaded, later.updated, later.duplicates) == (0, 1, 0)
    older = ingest_paths(warehouse, [tmp_path / "c.csv"]).files[0]
    assert (older.loaded, older.updated, older.duplicates) == (0, 0, 1)
    (order,) = _rows(warehouse, "orders")
    assert (order["status"], order["refund_cents"]) == ("partially_refunded", 300)
