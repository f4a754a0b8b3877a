"""The simulated merchant is deterministic, in the documented formats, and fully covered by truth."""

import csv
import hashlib
import json
import re
from pathlib import Path

import pytest

from flywheel.collect import GROUND_TRUTH_MARKER
from flywheel.simulate import GenerateSummary, generate
from flywheel.simulate.writers import EXPORT_FILES

PERSONS = 600
MASKED = re.compile(r"^\d{3}\*{4}\d{4}$")
WRAPPED = re.compile(r'^="(.*)"$')


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "a"
    generate(path, persons=PERSONS, seed=7)
    return path


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _rows(out: Path, rel: str) -> list[dict[str, str]]:
    encoding = EXPORT_FILES.get(rel, ("utf-8", None))[0]
    with open(out / rel, encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle))


def _clean(value: str) -> str:
    value = value.strip().lstrip("'")
    match = WRAPPED.match(value)
    return match.group(1) if match else value


def _malformed_lines(out: Path) -> dict[str, set[int]]:
    lines: dict[str, set[int]] = {}
    for trap in _rows(out, "truth/traps.csv"):
        if trap["kind"] == "malformed_row":
            rel, line = trap["value"].rsplit(":", 1)
            lines.setdefault(rel, set()).add(int(line))
    return lines


def _good_rows(out: Path, rel: str) -> list[dict[str, str]]:
    """Data rows with their line numbers (header is line 1), malformed rows left out."""
    bad = _malformed_lines(out).get(rel, set())
    return [row for line, row in enumerate(_rows(out, rel), start=2) if line not in bad]


def test_same_seed_gives_identical_bytes_and_other_seed_differs(out, tmp_path):
    again = tmp_path / "b"
    other = tmp_path / "c"
    summary = generate(again, persons=PERSONS, seed=7)
    generate(other, persons=PERSONS, seed=8)
    assert _digest(out) == _digest(again)
    different = _digest(other)
    assert all(different[name] != digest for name, digest in _digest(out).items()
               if not name.startswith("truth/channel") and name != "truth/copurchase_pairs.csv"
               and name not in ("truth/traps.csv", "truth/response.json")
               and not name.endswith(GROUND_TRUTH_MARKER))
    assert isinstance(summary, GenerateSummary) and summary.persons == PERSONS
    assert summary.files["truth/persons.csv"] == PERSONS


def test_progress_is_reported_per_chunk(tmp_path):
    calls = []
    generate(tmp_path, persons=300, seed=1, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(300, 300)]


def test_every_file_has_its_documented_header(out):
    for rel, (encoding, header) in EXPORT_FILES.items():
        raw = (out / rel).read_bytes()
        assert raw, rel
        if header is None:
            first = json.loads(raw.decode(encoding).splitlines()[0])
            assert "type" in first and "messageId" in first
            continue
        text = raw.decode(encoding)
        assert next(csv.reader([text.splitlines()[0]])) == list(header), rel
    for rel in ("truth/persons.csv", "truth/accounts.csv", "truth/orders.csv", "truth/events.csv",
                "truth/params.json", "truth/channel_effects.csv", "truth/copurchase_pairs.csv",
                "truth/traps.csv", "truth/community.csv", "truth/community_inactivity.csv",
                "truth/wecom_messages.csv", "truth/response.json"):
        assert (out / rel).exists(), rel


def test_documented_required_columns_are_present(out):
    required = {
        "shopify/orders_export.csv": {"Name", "Financial Status", "Created at", "Total", "Lineitem name"},
        "taobao/taobao_orders.csv": {"订单编号", "买家会员名", "买家实际支付金额", "订单状态", "订单创建时间"},
        "jd/jd_orders.csv": {"订单号", "商品名称", "应付金额", "下单时间", "订单状态", "下单帐号", "京东价"},
        "douyin/douyin_orders.csv": {"主订单编号", "子订单编号", "选购商品", "订单应付金额", "订单提交时间",
                                     "订单状态", "用户ID"},
        "wecom/wecom_contacts.csv": {"external_userid", "follow_userid", "createtime"},
        "ads/ad_spend.csv": {"date", "channel", "campaign_id", "spend"},
    }
    for rel, columns in required.items():
        assert columns <= set(EXPORT_FILES[rel][1]), rel


def test_encodings_match_the_platforms(out):
    taobao = (out / "taobao/taobao_orders.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        taobao.decode("utf-8")
    assert taobao.decode("gb18030").startswith("订单编号")
    assert (out / "tmall/tmall_orders.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (out / "douyin/douyin_orders.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert all(r["店铺名称"].endswith("旗舰店") for r in _good_rows(out, "tmall/tmall_orders.csv")
               if r["买家会员名"])


def test_marketplaces_mask_phones(out):
    taobao = [_clean(r["联系手机"]) for r in _good_rows(out, "taobao/taobao_orders.csv") if r["买家会员名"]]
    masked = [p for p in taobao if MASKED.match(p)]
    assert len(masked) > 0.7 * len(taobao)
    assert all(MASKED.match(p) or re.fullmatch(r"\d{11}", p) for p in taobao)
    assert all(MASKED.match(r["联系电话"]) for r in _good_rows(out, "jd/jd_orders.csv"))
    assert all(MASKED.match(r["收件人手机号"]) for r in _good_rows(out, "douyin/douyin_orders.csv"))


def test_excel_wrappers_and_continuation_rows_occur(out):
    rows = _good_rows(out, "taobao/taobao_orders.csv") + _good_rows(out, "tmall/tmall_orders.csv")
    assert any(WRAPPED.match(r["订单编号"]) for r in rows)
    assert any(r["联系手机"].startswith("'") for r in rows)
    assert any(not r["买家会员名"] and r["宝贝标题"] for r in rows)


def _export_orders(out: Path) -> set[tuple[str, str]]:
    ids = set()
    for rel, source in (("taobao/taobao_orders.csv", "taobao"), ("taobao/taobao_orders_2.csv", "taobao"),
                        ("tmall/tmall_orders.csv", "tmall")):
        ids |= {(source, _clean(r["订单编号"])) for r in _good_rows(out, rel)}
    ids |= {("jd", r["订单号"]) for r in _good_rows(out, "jd/jd_orders.csv")}
    ids |= {("douyin", r["主订单编号"]) for r in _good_rows(out, "douyin/douyin_orders.csv")}
    ids |= {("shopify", r["Name"]) for r in _good_rows(out, "shopify/orders_export.csv")}
    return ids


def test_truth_covers_every_order(out):
    truth = {(r["source"], r["order_id"]) for r in _rows(out, "truth/orders.csv")}
    exported = _export_orders(out)
    assert exported and exported <= truth
    assert {s for s, _ in exported} == {"taobao", "tmall", "jd", "douyin", "shopify"}


def test_truth_covers_every_account(out):
    truth = {(r["source"], r["account_ref"]) for r in _rows(out, "truth/accounts.csv")}
    seen = {("taobao", r["买家会员名"]) for r in _good_rows(out, "taobao/taobao_orders.csv") if r["买家会员名"]}
    seen |= {("tmall", r["买家会员名"]) for r in _good_rows(out, "tmall/tmall_orders.csv") if r["买家会员名"]}
    seen |= {("jd", r["下单帐号"]) for r in _good_rows(out, "jd/jd_orders.csv")}
    seen |= {("douyin", r["用户ID"]) for r in _good_rows(out, "douyin/douyin_orders.csv")}
    seen |= {("wecom", r["external_userid"]) for r in _good_rows(out, "wecom/wecom_contacts.csv")}
    seen |= {("shopify", r["Email"].lower()) for r in _good_rows(out, "shopify/orders_export.csv")}
    message_ids, good_lines = set(), 0
    for rel in ("events/events.jsonl", "community/events.jsonl"):
        bad = _malformed_lines(out).get(rel, set())
        lines = (out / rel).read_text(encoding="utf-8").splitlines()
        good_lines += len(lines) - len(bad)
        for number, line in enumerate(lines, start=1):
            if number in bad:
                continue
            event = json.loads(line)
            source = event["context"].get("source", "web")
            seen |= {(source, event[k]) for k in ("userId", "anonymousId") if k in event}
            message_ids.add(event["messageId"])
    assert seen <= truth
    assert message_ids == {r["message_id"] for r in _rows(out, "truth/events.csv")}
    assert len(message_ids) == good_lines


def test_every_trap_kind_is_recorded(out):
    traps = _rows(out, "truth/traps.csv")
    kinds = {t["kind"] for t in traps}
    assert {"shared_phone", "shared_device", "kiosk_cookie", "placeholder_phone",
            "placeholder_email", "typo_email", "typo_name", "pinyin_name", "refund",
            "duplicate_export", "malformed_row"} <= kinds
    kiosk = [t for t in traps if t["kind"] == "kiosk_cookie"][0]
    assert len(kiosk["person_ids"].split("|")) >= 10
    persons_by_ref: dict[str, set[str]] = {}
    for account in _rows(out, "truth/accounts.csv"):
        persons_by_ref.setdefault(account["account_ref"], set()).add(account["person_id"])
    assert len(persons_by_ref[kiosk["value"]]) >= 5


def test_malformed_rows_are_where_truth_says(out):
    bad = _malformed_lines(out)
    assert len(bad) >= 3
    for rel, lines in bad.items():
        encoding = EXPORT_FILES[rel][0]
        text = (out / rel).read_text(encoding=encoding).splitlines()
        for line in lines:
            record = text[line - 1]
            if rel.endswith(".jsonl"):
                with pytest.raises((json.JSONDecodeError, AssertionError)):
                    event = json.loads(record)
                    assert "userId" in event or "anonymousId" in event
            else:
                fields = next(csv.reader([record]))
                header = EXPORT_FILES[rel][1]
                assert (len(fields) != len(header) or "abc" in fields or "" == fields[0]
                        or any("2024-13-45" in f for f in fields)), record


def test_duplicate_export_overlaps_the_first(out):
    first = {_clean(r["订单编号"]) for r in _good_rows(out, "taobao/taobao_orders.csv")}
    second = {_clean(r["订单编号"]) for r in _good_rows(out, "taobao/taobao_orders_2.csv")}
    assert first & second and second - first
    flagged = {r["order_id"] for r in _rows(out, "truth/orders.csv") if r["in_duplicate_export"] == "1"}
    assert flagged == first & second


def test_refunds_and_cancellations_happen(out):
    statuses = {r["status"] for r in _rows(out, "truth/orders.csv")}
    assert {"completed", "refunded", "cancelled"} <= statuses
    taobao = _good_rows(out, "taobao/taobao_orders.csv") + _good_rows(out, "tmall/tmall_orders.csv")
    assert any(r["订单状态"] == "交易关闭" and r["退款金额"] not in ("", "0.00") for r in taobao)
    assert any(r["售后状态"] == "退款成功" for r in _good_rows(out, "douyin/douyin_orders.csv"))


def test_params_record_the_true_process(out):
    params = json.loads((out / "truth/params.json").read_text(encoding="utf-8"))
    for key in ("r", "alpha", "a", "b", "p", "q", "v", "period_start", "period_end", "timezone",
                "seed", "persons"):
        assert key in params
    assert params["seed"] == 7 and params["persons"] == PERSONS
    effects = _rows(out, "truth/channel_effects.csv")
    assert {e["channel"] for e in effects} == {r["channel"] for r in _rows(out, "ads/ad_spend.csv")}
    assert len(_rows(out, "truth/copurchase_pairs.csv")) >= 5
