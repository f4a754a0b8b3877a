"""The wecom, segment, ad_spend and generic adapters, end to end through `ingest_paths`.

`tests/conftest.py` gives every test its own warehouse file and identifier key (FLYWHEEL_DB,
FLYWHEEL_KEY_FILE, settings cache cleared); `warehouse` is that warehouse, opened.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

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
def wh(warehouse: Warehouse) -> Warehouse:
    return warehouse


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
    assert accounts["wmB002"]["name"].startswith("sealed:v1:") and "Lisa" not in accounts["wmB002"]["name"]
    opened = {a["account_key"]: a for a in wh.sealer.unseal("accounts", wh.fetch("accounts")).to_pylist()}
    assert opened["wmB002"]["name"] == "Lisa" and accounts["wmB002"]["channel"] is None
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


# --- segment -----------------------------------------------------------------------------------

EVENTS = FIXTURES / "events.jsonl"


def test_segment_counts_and_quarantine_name_line_field_and_reason(wh):
    report = ingest(wh, EVENTS)
    assert report.adapter == "segment"
    assert (report.rows, report.loaded, report.duplicates, report.quarantined) == (16, 8, 1, 7)
    entries = quarantine(wh)
    assert entries[0][0] == 3 and entries[0][2].startswith("not valid JSON: ")  # wording is the parser's
    assert entries[1:] == [
        (5, "userId", "neither userId nor anonymousId", "row_rejected"),
        (6, "event", "track call without event name", "row_rejected"),
        (7, "messageId", "messageId is missing (needed to de-duplicate events)", "row_rejected"),
        (12, "timestamp", "not an ISO-8601 timestamp", "row_rejected"),
        (13, "type", "unknown type; expected track, identify, page, screen, group, alias", "row_rejected"),
        (15, None, "not a JSON object", "row_rejected"),
        (16, "properties.rating", "rating must be a whole number from 1 to 5", "value_dropped"),
        (17, "context.consent.marketing_sms", "consent must be granted, denied or withdrawn", "value_dropped"),
    ]
    events = {e["message_id"]: e for e in rows(wh, "events")}
    assert sorted(events) == ["m-accept", "m-consent", "m-identify", "m-page", "m-review", "m-review-2",
                              "m-screen", "m-share"]
    assert events["m-screen"]["source"] == "miniprogram" and events["m-page"]["source"] == "web"
    assert events["m-screen"]["timestamp"] == dt.datetime(2024, 5, 2, tzinfo=UTC)  # naive: merchant time


def test_segment_clock_skew_is_corrected_from_sent_and_received_times(wh):
    ingest(wh, EVENTS)
    identify = next(e for e in rows(wh, "events") if e["message_id"] == "m-identify")
    # the client clock ran an hour fast: received 09:00:05.5, sent 10:00:05 by its own clock
    assert identify["original_timestamp"] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert identify["timestamp"] == dt.datetime(2024, 5, 1, 9, 0, 0, 500000, tzinfo=UTC)
    page = next(e for e in rows(wh, "events") if e["message_id"] == "m-page")
    assert page["timestamp"] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_segment_contact_fields_are_hashed_identifiers_never_stored_in_events(wh):
    ingest(wh, EVENTS)
    stored = json.dumps(rows(wh, "events"), default=str, ensure_ascii=False).lower()
    for raw in ("zhang.wei@example.com", "zw@example.org", "13812345678", "138 1234 5678", "张伟", "上海市徐汇区",
                "ounionx", "ouid123"):
        assert raw not in stored
    identify = next(e for e in rows(wh, "events") if e["message_id"] == "m-identify")
    assert json.loads(identify["traits"]) == {"plan": "gold"}
    assert "externalIds" not in json.loads(identify["context"])
    ids = sorted((i["account_key"], i["id_type"], i["id_masked"]) for i in rows(wh, "identifiers"))
    assert ids == [
        ("anon:dev-2", "anonymous_id", "de***-2"), ("anon:dev-9", "anonymous_id", "de***-9"),
        ("anon:mp-3", "anonymous_id", "m***"), ("anon:mp-3", "wechat_openid", "oO***n1"),
        ("u1", "anonymous_id", "de***-1"), ("u1", "email", "z***@example.com"), ("u1", "email", "z***@example.org"),
        ("u1", "loyalty_card", "C***"), ("u1", "phone", "138****5678"), ("u1", "taobao_ouid", "ou***23"),
        ("u1", "user_id", "u***"), ("u1", "wechat_unionid", "oU***nX"), ("u2", "user_id", "u***"),
    ]
    assert all(len(i["id_hash"]) == 64 for i in rows(wh, "identifiers"))
    accounts = {(a["source"], a["account_key"]): a["account_key_type"] for a in rows(wh, "accounts")}
    assert accounts == {("web", "u1"): "user_id", ("web", "u2"): "user_id", ("web", "anon:dev-2"): "anonymous_id",
                        ("web", "anon:dev-9"): "anonymous_id", ("miniprogram", "anon:mp-3"): "anonymous_id"}


def test_segment_touchpoints_consents_referrals_and_reviews(wh):
    ingest(wh, EVENTS)
    touch = sorted((t["touchpoint_id"], t["channel"], t["medium"], t["campaign_id"], t["anonymous_id"])
                   for t in rows(wh, "touchpoints"))
    assert touch == [("m-accept", "wechat_group", "referral", "invite", "dev-9"),
                     ("m-page", "douyin_ads", "cpc", "DO1001", "dev-2")]
    consents = sorted((c["account_key"], c["purpose"], c["status"], c["evidence"]) for c in rows(wh, "consents"))
    assert consents == [("u1", "marketing_email", "granted", "event m-identify"),
                        ("u1", "personalization", "denied", "event m-identify"),
                        ("u2", "analytics", "granted", "event m-consent")]
    referrals = sorted((r["message_id"], r["share_id"], r["sharer_user_id"], r["invitee_user_id"], r["channel"],
                        r["shared_at"], r["accepted_at"]) for r in rows(wh, "referrals"))
    assert referrals == [
        ("m-accept", "s1", "u1", "dev-9", "wechat_group", None, dt.datetime(2024, 5, 3, 2, tzinfo=UTC)),
        ("m-share", "s1", "u1", None, "wechat_group", dt.datetime(2024, 5, 2, 2, tzinfo=UTC), None),
    ]
    reviews = sorted((r["message_id"], r["order_id"], r["rating"], r["has_media"], r["length"])
                     for r in rows(wh, "reviews"))
    assert reviews == [("m-review", "#1001", 5, True, 120), ("m-review-2", "#1002", None, None, None)]


def test_segment_reingest_is_a_no_op_and_overlapping_files_add_only_new_events(wh, tmp_path):
    first = ingest(wh, EVENTS)
    counts = {t: wh.count(t) for t in ("events", "identifiers", "accounts", "consents", "quarantine")}
    again = ingest(wh, EVENTS)
    assert again.already_applied and again.loaded == 0 and again.run_id == first.run_id
    later = tmp_path / "later.jsonl"
    later.write_bytes(EVENTS.read_bytes() + b'{"type":"track","event":"Order Completed","messageId":"m-new",'
                      b'"userId":"u1","timestamp":"2024-06-01T00:00:00Z"}\n')
    overlap = ingest(wh, later)
    assert (overlap.loaded, overlap.duplicates, overlap.quarantined) == (1, 9, 7)
    assert wh.count("events") == counts["events"] + 1 and wh.count("identifiers") == counts["identifiers"]


def test_segment_empty_file_is_a_clear_error(wh, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n\n")
    with pytest.raises(InputError, match="empty"):
        ingest(wh, empty)


# --- ad_spend ----------------------------------------------------------------------------------

def test_ad_spend_fills_campaigns_and_daily_spend(wh):
    report = ingest(wh, FIXTURES / "ad_spend.csv")
    assert report.adapter == "ad_spend"
    assert (report.rows, report.loaded, report.duplicates, report.quarantined) == (6, 3, 1, 2)
    assert quarantine(wh) == [
        (4, "clicks", "not a whole number", "value_dropped"),
        (5, "spend", "not an amount of money", "row_rejected"),
        (6, "date", "unparseable date", "row_rejected"),
    ]
    spend = sorted((s["campaign_id"], s["day"], s["spend_cents"], s["impressions"], s["clicks"])
                   for s in rows(wh, "campaign_spend"))
    assert spend == [("DO1001", dt.date(2024, 4, 30), 10000, 8000, None),
                     ("DO1001", dt.date(2024, 5, 1), 129950, 120000, 3400),
                     ("DO1001", dt.date(2024, 5, 2), 98000, 90000, 2100)]
    assert rows(wh, "campaigns") == [{"campaign_id": "DO1001", "channel": "douyin_ads", "name": "618 预热",
                                      "first_day": dt.date(2024, 4, 30), "run_id": report.run_id}]


def test_ad_spend_chinese_headers_in_gb18030_and_reingest(wh):
    path = FIXTURES / "ad_spend_zh.csv"
    report = ingest(wh, path)
    assert report.adapter == "ad_spend" and (report.rows, report.loaded, report.quarantined) == (2, 2, 0)
    spend = sorted((s["campaign_id"], s["channel"], s["day"], s["spend_cents"]) for s in rows(wh, "campaign_spend"))
    assert spend == [("AL3001", "alimama", dt.date(2024, 5, 3), 52000),
                     ("AL3001", "alimama", dt.date(2024, 5, 4), 48050)]
    assert [(c["name"], c["first_day"]) for c in rows(wh, "campaigns")] == [("直通车", dt.date(2024, 5, 3))]
    assert ingest(wh, path).already_applied and wh.count("campaign_spend") == 2


# --- generic -----------------------------------------------------------------------------------

def test_generic_mapping_fills_orders_accounts_and_identifiers(wh):
    report = ingest(wh, FIXTURES / "crm_orders.csv", mapping=FIXTURES / "crm_orders.yaml")
    assert (report.adapter, report.source) == ("generic", "crm")
    assert (report.rows, report.loaded, report.duplicates, report.quarantined) == (5, 2, 0, 3)
    unknown_status = "not an order status (pending, paid, shipped, completed, cancelled, refunded, " \
                     "partially_refunded; map other words with `statuses:`)"
    assert quarantine(wh) == [
        (3, "手机", "not a valid phone number for its country", "value_dropped"),
        (4, "会员卡号", "account_key is missing", "row_rejected"),
        (5, "实付金额", "not an amount of money", "row_rejected"),
        (6, "状态", unknown_status, "row_rejected"),
    ]
    orders = sorted((o["order_id"], o["account_key"], o["status"], o["paid_cents"], o["currency"], o["created_at"])
                    for o in rows(wh, "orders"))
    assert orders == [("C1001", "VIP001", "completed", 29900, "CNY", dt.datetime(2024, 5, 1, 2, tzinfo=UTC)),
                      ("C1002", "VIP002", "paid", 105050, "CNY", dt.datetime(2024, 5, 2, 3, 30, tzinfo=UTC))]
    assert sorted(a["account_key"] for a in rows(wh, "accounts")) == ["VIP001", "VIP002"]
    assert [(i["account_key"], i["id_type"], i["id_masked"]) for i in rows(wh, "identifiers")] == [
        ("VIP001", "phone", "138****5678")]


def test_generic_order_statuses_are_canonical_or_mapped_with_statuses(wh, tmp_path):
    mapping = (FIXTURES / "crm_orders.yaml").read_text(encoding="utf-8") + "statuses: {已完成: completed}\n"
    (tmp_path / "crm.yaml").write_text(mapping, encoding="utf-8")
    (tmp_path / "crm.csv").write_text("单号,会员卡号,下单时间,实付金额,状态,手机\nC1,V1,2024-05-01,1.00,已完成,\n"
                                      "C2,V2,2024-05-01,1.00, Paid ,\nC3,V3,2024-05-01,1.00,done,\n", encoding="utf-8")
    report = ingest(wh, tmp_path / "crm.csv", mapping=tmp_path / "crm.yaml")
    assert (report.loaded, report.quarantined) == (2, 1)
    assert sorted((o["order_id"], o["status"]) for o in rows(wh, "orders")) == [("C1", "completed"), ("C2", "paid")]
    (tmp_path / "bad.yaml").write_text(mapping.replace("completed}", "finished}"), encoding="utf-8")
    with pytest.raises(InputError, match="statuses finished are not order statuses"):
        ingest(wh, tmp_path / "crm.csv", mapping=tmp_path / "bad.yaml")


def test_generic_consents_accept_yes_no_and_reject_unknown_choices(wh):
    report = ingest(wh, FIXTURES / "crm_consents.csv", mapping=FIXTURES / "crm_consents.yaml")
    assert (report.rows, report.loaded, report.quarantined) == (3, 2, 1)
    assert quarantine(wh) == [(4, "choice", "not granted, denied or withdrawn", "row_rejected")]
    consents = sorted((c["account_key"], c["status"], c["evidence"].rsplit("/", 1)[-1]) for c in rows(wh, "consents"))
    assert consents == [("VIP001", "granted", "crm_consents.csv:line 2"),
                        ("VIP002", "withdrawn", "crm_consents.csv:line 3")]


def test_generic_mapping_naming_a_missing_header_is_refused_whole(wh):
    with pytest.raises(InputError, match="mapped column\\(s\\) not in the file: 手机号码"):
        ingest(wh, FIXTURES / "crm_orders.csv", mapping=FIXTURES / "crm_orders_bad_header.yaml")
    assert wh.count("orders") == 0 and wh.count("ingest_runs") == 0


@pytest.mark.parametrize("mapping, message", [
    ("table: orders\nsource: crm\ncolumns: {order_id: 单号, created_at: 下单时间, paid_cents: 实付金额, status: 状态}\n",
     "does not map required field\\(s\\): account_key"),
    ("table: events\nsource: crm\ncolumns: {message_id: 单号}\n", "'events' is not supported"),
    ("table: orders\ncolumns: {order_id: 单号}\n", "needs `source:`"),
    ("table: orders\nsource: crm\ncolumns: {order_no: 单号}\n", "orders has no field\\(s\\) order_no"),
])
def test_generic_mapping_errors_name_what_is_wrong(wh, tmp_path, mapping, message):
    path = tmp_path / "mapping.yaml"
    path.write_text(mapping, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        ingest(wh, FIXTURES / "crm_orders.csv", mapping=path)
