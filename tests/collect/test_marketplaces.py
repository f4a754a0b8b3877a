"""Marketplace order exports (Taobao/Tmall, JD, Douyin): exact amounts and statuses, bad rows
quarantined with line and field, masked phones kept as partial evidence, and idempotent re-ingest."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from flywheel.collect import ingest_paths
from flywheel.collect.adapters import register
from flywheel.collect.adapters.douyin import DouyinOrders
from flywheel.collect.adapters.jd import JdOrders
from flywheel.collect.adapters.orders import by_vocabulary
from flywheel.collect.adapters.taobao import STATUS as TAOBAO_STATUS
from flywheel.collect.adapters.taobao import TaobaoOrders
from flywheel.config import load_settings
from flywheel.errors import InputError
from flywheel.warehouse import Warehouse

for _adapter in (TaobaoOrders(), JdOrders(), DouyinOrders()):
    register(_adapter)

FIXTURES = Path(__file__).parent / "fixtures" / "marketplaces"
ENCODING = {"taobao": "gb18030", "jd": "utf-8-sig", "douyin": "utf-8"}
TABLES = ("accounts", "identifiers", "orders", "order_items", "products", "quarantine")


@pytest.fixture
def wh(tmp_path, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_DB", str(tmp_path / "flywheel.duckdb"))
    monkeypatch.setenv("FLYWHEEL_KEY_FILE", str(tmp_path / "identifier.key"))
    load_settings.cache_clear()
    warehouse = Warehouse.open()
    yield warehouse
    warehouse.close()
    load_settings.cache_clear()


def export(tmp_path: Path, platform: str, suffix: str = "") -> Path:
    """The fixture as the platform writes it: GB18030 for Taobao, UTF-8 with BOM for JD."""
    name = f"{platform}_orders{suffix}.csv"
    path = tmp_path / name
    path.write_bytes((FIXTURES / name).read_text(encoding="utf-8").encode(ENCODING[platform]))
    return path


def rows(wh: Warehouse, table: str, **where) -> list[dict]:
    found = wh.table(table).to_pyarrow().to_pylist()
    return [r for r in found if all(r[k] == v for k, v in where.items())]


def by_order(wh: Warehouse) -> dict[str, dict]:
    return {r["order_id"]: r for r in rows(wh, "orders")}


def problems(wh: Warehouse) -> set[tuple]:
    return {(r["line"], r["field"], r["reason"], r["action"]) for r in rows(wh, "quarantine")}


def counts(wh: Warehouse) -> dict[str, int]:
    return {t: wh.count(t) for t in TABLES}


def test_taobao_gb18030_report(wh, tmp_path):
    path = export(tmp_path, "taobao")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    [report] = ingest_paths(wh, [path]).files
    assert (report.adapter, report.source) == ("taobao", "tmall")
    assert (report.rows, report.loaded, report.duplicates, report.quarantined) == (11, 6, 0, 5)
    assert problems(wh) == {
        (8, "订单创建时间", "unparseable date-time", "row_rejected"),
        (9, None, "expected 19 fields, found 4", "row_rejected"),
        (10, "订单状态", "unknown 订单状态", "row_rejected"),
        (11, "订单编号", "order number (订单编号) is missing", "row_rejected"),
        (12, "买家实际支付金额", "not an amount of money", "row_rejected"),
    }
    orders = by_order(wh)
    summary = {k: (o["source"], o["status"], o["paid_cents"], o["refund_cents"]) for k, o in orders.items()}
    assert summary == {
        "3312456789012345678": ("tmall", "completed", 12900, 0),
        "3312456789012345679": ("tmall", "shipped", 129900, 0),
        "3312456789012345680": ("tmall", "refunded", 8850, 8850),
        "3312456789012345681": ("tmall", "partially_refunded", 20000, 5000),
        "3312456789012345682": ("taobao", "cancelled", 3500, 0),
    }
    assert str(orders["3312456789012345679"]["created_at"]) == "2024-03-06 01:00:00+00:00"
    assert orders["3312456789012345679"]["receiver_address_hash"] is None  # `浦东新区 ****` is masked
    first = orders["3312456789012345681"]
    assert (first["province"], first["city"], first["district"]) == ("浙江省", "杭州市", "西湖区")
    assert first["store"] == "花间旗舰店"
    items = rows(wh, "order_items", order_id="3312456789012345678")
    assert sorted((i["item_id"], i["title"], i["quantity"]) for i in items) == [
        ("1", "保湿面霜 50ml", 2), ("2", "精华水 100ml", 1)]
    assert [i["refunded"] for i in rows(wh, "order_items", order_id="3312456789012345680")] == [True]
    phones = {(r["account_key"], r["id_type"], r["id_masked"], r["is_partial"])
              for r in rows(wh, "identifiers") if r["id_type"].startswith("phone")}
    assert ("tb_小明", "phone", "138****5678", False) in phones
    assert ("小红2020", "phone_masked", "139****5678", True) in phones
    assert {r["account_key"] for r in rows(wh, "identifiers", id_type="taobao_nick")} == {
        "tb_小明", "小红2020", "阿强", "购物狂"}


def test_source_flag_tmall_overrides_store_name(wh, tmp_path):
    [report] = ingest_paths(wh, [export(tmp_path, "taobao")], source="tmall").files
    assert (report.adapter, report.source) == ("taobao", "tmall")
    assert {o["source"] for o in rows(wh, "orders")} == {"tmall"}


def test_jd_bom_report(wh, tmp_path):
    path = export(tmp_path, "jd")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    [report] = ingest_paths(wh, [path]).files
    assert (report.adapter, report.source) == ("jd", "jd")
    assert (report.rows, report.loaded, report.duplicates, report.quarantined) == (8, 5, 0, 3)
    assert problems(wh) == {
        (5, "证件号码", "resident ID check digit does not match", "value_dropped"),
        (6, "下单时间", "unparseable date-time", "row_rejected"),
        (7, None, "expected 17 fields, found 18", "row_rejected"),
        (8, "订单状态", "unknown 订单状态", "row_rejected"),
    }
    orders = by_order(wh)
    summary = {k: (o["status"], o["paid_cents"], o["refund_cents"]) for k, o in orders.items()}
    assert summary == {
        "250001": ("completed", 22800, 0),
        "250002": ("refunded", 4500, 4500),
        "250003": ("cancelled", 3500, 0),
        "250007": ("cancelled", 5990, 0),
    }
    items = sorted((i["item_id"], i["unit_price_cents"], i["quantity"], i["paid_cents"])
                   for i in rows(wh, "order_items", order_id="250001"))
    assert items == [("1", 6450, 2, 12900), ("2", 9900, 1, 9900)]
    ids = {(r["account_key"], r["id_type"], r["id_masked"], r["is_partial"]) for r in rows(wh, "identifiers")}
    assert ("jd_zhang", "cn_id", "110105********002X", False) in ids
    assert ("jd_zhang", "phone_masked", "138****1234", True) in ids
    assert ("jd_li", "phone", "139****1111", False) in ids
    assert not rows(wh, "identifiers", account_key="jd_wang", id_type="cn_id")


def test_douyin_report_refunds_per_sub_order(wh, tmp_path):
    [report] = ingest_paths(wh, [export(tmp_path, "douyin")]).files
    assert (report.adapter, report.source) == ("douyin", "douyin")
    assert (report.rows, report.loaded, report.duplicates, report.quarantined) == (8, 5, 0, 3)
    assert problems(wh) == {
        (6, "订单应付金额", "not an amount of money", "row_rejected"),
        (7, None, "expected 25 fields, found 3", "row_rejected"),
        (8, "订单提交时间", "unparseable date-time", "row_rejected"),
    }
    orders = by_order(wh)
    summary = {k: (o["status"], o["paid_cents"], o["refund_cents"]) for k, o in orders.items()}
    assert summary == {
        "6921000001": ("partially_refunded", 22880, 9980),
        "6921000002": ("refunded", 4500, 4500),
        "6921000003": ("cancelled", 3500, 0),
        "6921000007": ("pending", 5990, 0),
    }
    live = orders["6921000001"]
    assert (live["channel"], live["influencer_id"], live["discount_cents"]) == ("直播", "71283456901", 1000)
    assert str(live["created_at"]) == "2024-03-05 06:02:11+00:00"
    refunded = {i["item_id"]: i["refunded"] for i in rows(wh, "order_items", order_id="6921000001")}
    assert refunded == {"6921000001001": False, "6921000001002": True}
    # Same receiver, no buyer id: one `r:` account for both of 王五's orders.
    key = live["account_key"]
    assert key.startswith("r:") and len(key) == 34 and orders["6921000007"]["account_key"] == key
    assert [a["account_key_type"] for a in rows(wh, "accounts", account_key=key)] == ["receiver"]
    ids = rows(wh, "identifiers", account_key=key)
    assert [(r["id_type"], r["is_partial"]) for r in ids] == [("phone_masked", True)]


def test_douyin_buyer_id_tsv(wh, tmp_path):
    path = tmp_path / "douyin.tsv"
    path.write_text(
        "主订单编号\t子订单编号\t选购商品\t订单应付金额\t订单提交时间\t订单状态\t收件人\t收件人手机号\t买家ID\n"
        "7001\t7001-1\t面霜\t99.00\t2024-03-05 10:00\t已发货\t刘一\t1381234****\t'dy_778899\n",
        encoding="utf-8")
    [report] = ingest_paths(wh, [path]).files
    assert (report.adapter, report.loaded, report.quarantined) == ("douyin", 1, 0)
    assert by_order(wh)["7001"]["account_key"] == "dy_778899"
    assert {r["id_type"] for r in rows(wh, "identifiers")} == {"douyin_buyer_id"}
    # The unknown mask pattern is dropped once (not once per helper), and the row still lands.
    assert [(p[1], p[3]) for p in problems(wh)] == [("收件人手机号", "value_dropped")]


@pytest.mark.parametrize("platform", ["taobao", "jd", "douyin"])
def test_reingest_is_a_no_op(wh, tmp_path, platform):
    path = export(tmp_path, platform)
    [first] = ingest_paths(wh, [path]).files
    before = counts(wh)
    [again] = ingest_paths(wh, [path]).files
    assert again.already_applied and again.loaded == 0
    assert (again.rows, again.quarantined) == (first.rows, first.quarantined)
    assert counts(wh) == before


@pytest.mark.parametrize("platform, expected, new_order", [
    ("taobao", (4, 1, 3, 0), "3312456789012345687"),
    ("jd", (4, 1, 3, 0), "250008"),
    ("douyin", (3, 1, 2, 0), "6921000008"),
])
def test_overlapping_export_adds_only_new_rows(wh, tmp_path, platform, expected, new_order):
    ingest_paths(wh, [export(tmp_path, platform)])
    before = by_order(wh)
    [report] = ingest_paths(wh, [export(tmp_path, platform, "_later")]).files
    assert not report.already_applied
    assert (report.rows, report.loaded, report.duplicates, report.quarantined) == expected
    after = by_order(wh)
    assert set(after) - set(before) == {new_order}
    assert all(after[k] == v for k, v in before.items())


def test_missing_required_column_rejects_the_file(wh, tmp_path):
    path = tmp_path / "jd.csv"
    path.write_text("订单号,下单帐号,京东价,商品名称,下单时间,订单状态\n1,pin,1.00,x,2024-03-05,完成\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match="missing column.*应付金额"):
        ingest_paths(wh, [path])


def test_status_words_match_in_full_or_half_width():
    words = pa.array(["卖家已发货,等待买家确认", "卖家已发货，等待买家确认", "交易异常"])
    mapped, bad = by_vocabulary(words, TAOBAO_STATUS)
    assert mapped.to_pylist() == ["shipped", "shipped", None]
    assert bad.tolist() == [False, False, True]
