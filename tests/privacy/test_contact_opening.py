"""Opening contact points: a person's address on a channel is the latest seen on any of their accounts;
only roles with `contacts.open` (all L4+) open them, the delivery step opens them for the role that
started a run without that role ever holding them, and every call leaves exactly one audit entry that
names no person in clear."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pytest

from flywheel.collect import ingest_paths
from flywheel.errors import InputError
from flywheel.privacy import Gate, NotPermitted, all_roles, contact_points, delivery_gate, latest_contacts
from flywheel.privacy.audit import AuditLog
from flywheel.privacy.roles import Actor, Role

ACTOR = "tester"
P1, P2 = "person-one-7f3a", "person-two-c81d"


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _shop(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    header = ["Name", "Email", "Phone", "Financial Status", "Created at", "Total", "Lineitem name"]
    return _csv(path, header, [[n, e, p, "paid", at, "10.00", "Tea"] for n, e, p, at in rows])


def _wecom(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    return _csv(path, ["external_userid", "follow_userid", "remark_mobiles", "createtime"],
                [[u, "staff1", m, at] for u, m, at in rows])


def _link(wh, person: str, accounts: list[tuple[str, str]]) -> None:
    wh.append("person_accounts", pa.table({"source": [a[0] for a in accounts], "account_key": [a[1] for a in accounts],
                                           "person_id": [person] * len(accounts),
                                           "linked_by": ["override"] * len(accounts)}))


@pytest.fixture
def shop(warehouse, tmp_path):
    """Person P1 with a Shopify account (two phones, March and June) and a WeCom contact (a phone in
    May); person P2 with a Shopify account only."""
    ingest_paths(warehouse, [
        _shop(tmp_path / "orders.csv", [("#1", "one@shop.cn", "13911110001", "2024-03-01 10:00:00 +0800"),
                                        ("#2", "one@shop.cn", "13911110002", "2024-06-01 10:00:00 +0800"),
                                        ("#3", "two@shop.cn", "13922220001", "2024-04-01 10:00:00 +0800")]),
        _wecom(tmp_path / "contacts.csv", [("wmP1", "13933330001", "2024-05-01 10:00:00")]),
    ])
    ids = warehouse.table("identifiers")
    rows = warehouse.fetch(ids.filter(ids.id_type == "email").select("id_masked", "account_key")).to_pylist()
    keys = {r["id_masked"]: r["account_key"] for r in rows}
    _link(warehouse, P1, [("shopify", keys["o***@shop.cn"]), ("wecom", "wmP1")])
    _link(warehouse, P2, [("shopify", keys["t***@shop.cn"])])
    return warehouse


def _gate(wh, role: Role) -> Gate:
    return Gate(wh.settings, wh, Actor(ACTOR, role), "contact test")


def _entries(wh) -> list[dict]:
    return list(AuditLog.for_settings(wh.settings).entries())


def test_a_persons_address_on_a_channel_is_the_latest_seen_on_any_of_their_accounts(shop, tmp_path):
    owner = all_roles()["owner"]
    with _gate(shop, owner) as gate:
        assert contact_points(gate, [P1, P2, "nobody"], "sms") == {P1: "+8613911110002", P2: "+8613922220001"}
        assert contact_points(gate, [P1, P2], "email") == {P1: "one@shop.cn", P2: "two@shop.cn"}
        assert contact_points(gate, [P1, P2], "wecom") == {P1: "wmP1"}
        assert contact_points(gate, [P1], "wechat") == {}
    ingest_paths(shop, [_wecom(tmp_path / "later.csv", [("wmP1", "13933330001", "2024-08-01 10:00:00")])])
    with _gate(shop, owner) as gate:
        assert contact_points(gate, [P1], "sms") == {P1: "+8613933330001"}, "seen again in August, on WeCom"
    planned = shop.fetch(latest_contacts(shop, "sms").order_by("person_id")).to_pylist()
    assert [(r["person_id"], r["value_masked"]) for r in planned] == [(P1, "139****0001"), (P2, "139****0001")]
    assert all(r["value"].startswith("sealed:v1:") for r in planned), "planning never opens an address"


def test_only_roles_allowed_l4_open_contact_points_and_each_call_is_audited_once(shop):
    for role in all_roles().values():
        before = len(_entries(shop))
        with _gate(shop, role) as gate:
            if "contacts.open" not in role.may:
                with pytest.raises(NotPermitted, match="may not contacts.open"):
                    contact_points(gate, [P1, P2], "email")
                assert len(_entries(shop)) == before, role.name
                continue
            assert role.level >= 4
            assert contact_points(gate, [P1, P2], "email", purpose="marketing_email") == {
                P1: "one@shop.cn", P2: "two@shop.cn"}
        [entry] = _entries(shop)[before:]
        assert (entry["action"], entry["actor"], entry["role"], entry["purpose"]) == (
            "contacts.open", ACTOR, role.name, "marketing_email")
        assert entry["detail"] == {"channel": "email", "contact_type": "email", "asked": 2, "opened": 2}
    below = Role("curious", 2, frozenset({"contacts.open"}))
    with pytest.raises(NotPermitted, match="contact points are L4"), _gate(shop, below) as gate:
        contact_points(gate, [P1], "email")
    with pytest.raises(InputError, match="Unknown channel 'fax'. Known: email, sms, wecom, wechat"), \
            _gate(shop, all_roles()["owner"]) as gate:
        contact_points(gate, [P1], "fax")


def test_the_delivery_step_opens_addresses_for_a_run_its_starter_cannot_read(shop):
    for role in all_roles().values():
        before = len(_entries(shop))
        with _gate(shop, role) as gate:
            if "contacts.deliver" not in role.may:
                with pytest.raises(NotPermitted, match="may not contacts.deliver"):
                    delivery_gate(gate)
                assert len(_entries(shop)) == before, role.name
                continue
            with delivery_gate(gate, "journey run") as sender:
                assert contact_points(sender, [P1, P2], "sms", purpose="marketing_sms") == {
                    P1: "+8613911110002", P2: "+8613922220001"}
                assert contact_points(sender, [P2], "email") == {P2: "two@shop.cn"}
        batch, single = _entries(shop)[before:]
        assert (batch["actor"], batch["role"], batch["action"]) == ("flywheel-delivery", "delivery", "contacts.open")
        assert batch["detail"]["on_behalf_of"] == {"actor": ACTOR, "role": role.name}
        assert batch["subject"] is None and batch["detail"]["asked"] == 2 and batch["detail"]["opened"] == 2
        assert single["subject"] and single["target"].startswith("sealed:v1:"), "one person: sealed with their key"
        text = json.dumps([batch, single])
        assert P1 not in text.replace('"opened"', "") and P2 not in text and "shop.cn" not in text
    assert "contacts.deliver" in all_roles()["marketer"].may and "contacts.open" not in all_roles()["marketer"].may
