"""The wecom, segment, ad_spend and generic adapters, end to end through `ingest_paths`."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

import flywheel.config
from flywheel.collect import ingest_paths
from flywheel.collect.adapters import register
from flywheel.collect.adapters.ad_spend import AdSpendReport
from flywheel.collect.adapters.generic import GenericMapped
from flywheel.collect.adapters.segment import SegmentEvents
from flywheel.collect.adapters.wecom import WeComContacts
from flywheel.errors import InputError
from flywheel.warehouse import Warehouse

for _adapter in (WeComContacts(), SegmentEvents(), AdSpendReport(), GenericMapped()):
    register(_adapter)

FIXTURES = Path(__file__).parent / "fixtures" / "other"
UTC = dt.timezone.utc


@pytest.fixture
def wh(tmp_path, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_DB", str(tmp_path / "wh.duckdb"))
    monkeypatch.setenv("FLYWHEEL_KEY_FILE", str(tmp_path / "identifier.key"))
    flywheel.config.load_settings.cache_clear()
    warehouse = Warehouse.open()
    yield warehouse
    warehouse.close()
    flywheel.config.load_settings.cache_clear()


def rows(wh: Warehouse, name: str) -> list[dict]:
    return wh.table(name).to_pyarrow().to_pylist()


def quarantine(wh: Warehouse) -> list[tuple]:
    return sorted((r["line"], r["field"], r["reason"], r["action"]) for r in rows(wh, "quarantine"))


def ingest(wh: Warehouse, path: Path, **kw):
    return ingest_paths(wh, [path], **kw).files[0]


# --- wecom -------------------------------------------------------------------------------------

def test_wecom_contacts_land_as_accounts_identifiers_and_consents(wh):
    report = ingest(wh, FIXTURES / "wecom_contacts.csv")
    assert report.adapter == "wecom"
    assert (report.rows, report.loaded, report.duplicates, report.quarantined) == (5, 3, 0, 2)
    assert quarantine(wh) == [
        (4, "remark_mobiles", "not a valid phone number for its country", "value_dropped"),
        (5, "createtime", "unparseable date-time or Unix time", "row_rejected"),
        (6, "external_userid", "external_userid is missing", "row_rejected"),
    ]
    accounts = {a["account_key"]: a for a in rows(wh, "accounts")}
    assert set(accounts) == {"wmA001", "wmB002"}
    first = accounts["wmA001"]
    assert (first["owner"], first["channel"], first["tags"]) == ("zhangwei", "pkg_card", "老客户|宝妈")
    assert first["first_seen_at"] == dt.datetime(2024, 5, 1, tzinfo=UTC)
    assert accounts["wmB002"]["name"] == "Lisa" and accounts["wmB002"]["channel"] is None
    ids = sorted((i["account_key"], i["id_type"], i["id_masked"]) for i in rows(wh, "identifiers"))
    assert ids == [
        ("wmA001", "phone", "138****5678"), ("wmA001", "phone", "139****4321"),
        ("wmA001", "wechat_unionid", "oU***01"), ("wmA001", "wecom_external_userid", "wm***01"),
        ("wmB002", "wecom_external_userid", "wm***02"),
    ]
    consents = sorted((c["account_key"], c["purpose"], c["status"], c["legal_basis"], c["recorded_at"])
                      for c in rows(wh, "consents"))
    assert consents == [
        ("wmA001", "wecom_outreach", "granted", "consent", dt.datetime(2024, 5, 1, tzinfo=UTC)),
        ("wmA001", "wecom_outreach", "granted", "consent", dt.datetime(2024, 5, 2, tzinfo=UTC)),
        ("wmB002", "wecom_outreach", "granted", "consent", dt.datetime(2024, 5, 2, 2, tzinfo=UTC)),
    ]


def test_wecom_chinese_headers_and_reingest_is_a_no_op(wh, tmp_path):
    path = FIXTURES / "wecom_contacts_zh.csv"
    report = ingest(wh, path)
    assert report.adapter == "wecom" and (report.rows, report.loaded, report.quarantined) == (1, 1, 0)
    account = rows(wh, "accounts")[0]
    assert (account["account_key"], account["owner"], account["tags"]) == ("wmZ001", "wangfang", "门店|复购")
    assert account["first_seen_at"] == dt.datetime(2024, 5, 3, 1, 30, tzinfo=UTC)
    assert sorted(i["id_masked"] for i in rows(wh, "identifiers") if i["id_type"] == "phone") == [
        "137****1111", "137****2222"]
    again = ingest(wh, path)
    assert again.already_applied and again.loaded == 0
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes() + b"\n")
    overlap = ingest(wh, copy)
    assert (overlap.loaded, overlap.duplicates) == (0, 1)
    assert wh.count("accounts") == 1 and wh.count("identifiers") == 3 and wh.count("consents") == 1
