"""Data-subject rights end to end on a simulated merchant: access copy, erasure that leaves nothing of
the person in any table or file, and suppression that keeps re-ingested exports from bringing them back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flywheel.cli import app
from flywheel.collect import ingest_paths
from flywheel.config import load_settings
from flywheel.privacy import Gate, all_roles, contact_points
from flywheel.privacy.audit import verify_settings
from flywheel.privacy.roles import Actor
from flywheel.privacy.footprint import footprint
from flywheel.privacy.subjects import find_subject
from flywheel.schema import TABLES
from flywheel.warehouse import Warehouse

pytestmark = pytest.mark.slow
PO = ["--role", "privacy_officer", "--json"]


def _cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def _pick_subject() -> str:
    """A person with orders, behaviour events and three or more accounts: the hardest to erase."""
    with Warehouse.open() as wh:
        pa_ = wh.table("person_accounts")
        events = wh.table("events").filter(lambda t: t.user_id.notnull()).select(account_key="user_id").distinct()
        orders = wh.table("orders").select("source", "account_key").distinct()
        with_orders = pa_.semi_join(orders, ["source", "account_key"]).select("person_id")
        with_events = pa_.semi_join(events, "account_key").select("person_id")
        sizes = pa_.group_by("person_id").agg(n=pa_.count())
        pick = (sizes.semi_join(with_orders, "person_id").semi_join(with_events, "person_id")
                .order_by([sizes.n.desc(), "person_id"]).limit(1))
        return wh.fetch(pick).column("person_id")[0].as_py()


def _fingerprints(person: str) -> set[str]:
    """Every id, key, hash and name of the person that no other person also has."""
    with Warehouse.open() as wh:
        subject = find_subject(wh, person)
        fp = footprint(wh, subject)
        mine: set[str] = set(subject.person_ids) | {k for _, k in subject.accounts} | set(fp.user_ids)
        mine |= set(fp.anonymous_ids) | set(fp.own_hashes) | {o.split("\x1f")[1] for o in fp.order_nodes}
        accounts = wh.table("accounts")
        nodes = [s + "\x1f" + k for s, k in subject.accounts]
        node = accounts.source + "\x1f" + accounts.account_key
        def names(rows):
            opened = wh.sealer.unseal("accounts", wh.fetch(rows.select("source", "account_key", "name")))
            return set(opened.column("name").to_pylist()) - {None}

        mine_sealed = set(wh.fetch(accounts.filter(node.isin(nodes)).select("name")).column(0).to_pylist()) - {None}
        mine |= (names(accounts.filter(node.isin(nodes))) - names(accounts.filter(~node.isin(nodes)))) | mine_sealed
        elsewhere = set(wh.fetch(accounts.filter(~node.isin(nodes)).select("account_key")).column(0).to_pylist())
        elsewhere |= {k[5:] for k in elsewhere if k.startswith("anon:")}
    return {m for m in mine - elsewhere if m and len(m) >= 6}  # a device id another person also uses stays theirs


def _contact_fingerprints(person: str) -> set[str]:
    """The person's raw e-mails and phones (E.164 and national form) that no other account shows, and
    their sealed forms."""
    with Warehouse.open() as wh:
        nodes = [s + "\x1f" + k for s, k in find_subject(wh, person).accounts]
        points = wh.table("contact_points")
        mine = (points.source + "\x1f" + points.account_key).isin(nodes)

        def contacts(rows):
            opened = wh.sealer.unseal("contact_points", wh.fetch(rows.select("source", "account_key", "value")))
            values = set(opened.column("value").to_pylist()) - {None}
            return values | {v[3:] for v in values if v.startswith("+86")}

        raw = contacts(points.filter(mine)) - contacts(points.filter(~mine))
        sealed = set(wh.fetch(points.filter(mine).select("value")).column(0).to_pylist())
    assert [v for v in raw if "@" in v] and [v for v in raw if v.startswith("+")], "the person has contact points"
    return raw | sealed


def _scan_tables(needles: set[str]) -> list[str]:
    found = []
    with Warehouse.open() as wh:
        for t in TABLES:
            for row in wh.fetch(wh.table(t.name)).to_pylist():
                text = json.dumps(row, ensure_ascii=False, default=str)
                found += [f"{t.name}: {n}" for n in needles if n in text]
    return found


def _scan_files(root: Path, needles: set[str]) -> list[str]:
    found = []
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        data = f.read_bytes()
        found += [f"{f.name}: {n}" for n in needles if n.encode() in data]
    return found


def test_erase_leaves_nothing_and_stays_erased(world, tmp_path):
    person = _pick_subject()
    other = next(p for p in _all_persons() if p != person)
    needles = _fingerprints(person)
    assert len(needles) >= 8 and not _scan_files(tmp_path, {"no such thing"})
    contacts = _contact_fingerprints(person)
    assert _scan_tables(contacts), "their sealed forms are stored before erasure"
    assert _scan_tables(needles), "the fingerprints must be findable before erasure"
    _cli(*PO, "consent", "record", person, "--purpose", "marketing_sms", "--evidence", "call centre")
    _cli(*PO, "privacy", "export", other, "--out", str(tmp_path / "before.json"))

    with Warehouse.open() as wh:
        points = wh.table("contact_points")
        nodes = [s + "\x1f" + k for s, k in find_subject(wh, person).accounts]
        sealed = wh.fetch(points.filter((points.source + "\x1f" + points.account_key).isin(nodes))
                          .select("source", "account_key", "value"))
    assert sealed.num_rows
    sizes = _sizes()
    erased = json.loads(_cli(*PO, "privacy", "erase", person, "--yes").stdout)
    after = _sizes()
    assert {t: sizes[t] - after[t] for t in sizes if sizes[t] != after[t]} == {
        t: n for t, n in erased["removed"].items() if t in sizes}, "exactly the person's rows go, nobody else's"
    assert erased["rows_removed"] > 0 and erased["keys_destroyed"] >= 1 and erased["suppressed"] >= len(
        [n for n in needles if not n.startswith("p")]) // 2

    assert _scan_tables(needles | contacts) == []
    assert _scan_files(tmp_path, needles | contacts) == []
    with Warehouse.open() as wh:  # a copy of a sealed address kept anywhere no longer opens: its salt is gone
        assert set(wh.sealer.unseal("contact_points", sealed).column("value").to_pylist()) == {None}
    _cli(*PO, "privacy", "export", other, "--out", str(tmp_path / "after.json"))
    before, after = (json.loads((tmp_path / f).read_text()) for f in ("before.json", "after.json"))
    assert before["data"] == after["data"]
    assert verify_settings(load_settings()).ok

    again = tmp_path / "again"
    shutil.copytree(world.data, again, ignore=shutil.ignore_patterns("truth"))
    with Warehouse.open() as wh:
        same = ingest_paths(wh, [world.data])
        assert all(f.already_applied for f in same.files)
        for f in sorted(p for p in again.rglob("*") if p.is_file()):
            f.write_bytes(f.read_bytes().rstrip(b"\r\n").rsplit(b"\n", 1)[0] + b"\n")
        changed = ingest_paths(wh, [again])
        suppressed = wh.table("quarantine").filter(lambda q: q.reason.contains("erased person")).count().execute()
    assert not any(f.already_applied for f in changed.files) and suppressed > 0
    _cli("identity", "resolve")
    assert _scan_tables(needles | contacts) == []
    with pytest.raises(Exception, match="No person"):
        with Warehouse.open() as wh:
            find_subject(wh, person)


def _sizes() -> dict[str, int]:
    with Warehouse.open() as wh:
        return {t.name: wh.count(t.name) for t in TABLES if t.name not in ("erasures", "suppressions", "subject_keys")}


def _all_persons() -> list[str]:
    with Warehouse.open() as wh:
        return wh.fetch(wh.table("persons").select("person_id").order_by("person_id")).column(0).to_pylist()


def test_access_copy_holds_everything_about_the_person_unmasked(world, tmp_path):
    person = _pick_subject()
    _cli(*PO, "consent", "withdraw", person, "--purpose", "personalization")
    _cli("--role", "service", "person", "show", person)
    out = tmp_path / "copy.json"
    summary = json.loads(_cli(*PO, "privacy", "export", person, "--out", str(out)).stdout)
    copy = json.loads(out.read_text(encoding="utf-8"))
    assert copy["person_id"] == person and summary["rows"] == sum(len(v) for v in copy["data"].values())
    assert {"accounts", "identifiers", "orders", "events", "consents", "person_traits", "person_scores"} <= set(copy["data"])
    with Warehouse.open() as wh:
        keys = {k for _, k in find_subject(wh, person).accounts}
    assert {a["account_key"] for a in copy["data"]["accounts"]} == keys
    names = [a["name"] for a in copy["data"]["accounts"] if a["name"]] + [
        o["receiver_name"] for o in copy["data"]["orders"] if o["receiver_name"]]
    assert names and not [n for n in names if n.startswith("sealed:")]  # opened for the subject
    addresses = {(c["id_type"], c["value"]) for c in copy["data"]["contact_points"]}
    assert {t for t, _ in addresses} >= {"email", "phone"} and not [v for _, v in addresses if v.startswith("sealed:")]
    with Warehouse.open() as wh, Gate.open(load_settings(), wh, "test", Actor("t", all_roles()["owner"])) as gate:
        for channel, id_type in (("email", "email"), ("sms", "phone")):
            assert (id_type, contact_points(gate, [person], channel)[person]) in addresses
    actions = [e["action"] for e in copy["audit_entries"]]
    assert actions == ["consent.withdraw", "read.unmasked"]
    assert person in copy["audit_entries"][0]["target"]  # opened with the person's key for their copy


def test_only_privacy_officer_and_owner_may_export_or_erase(world, tmp_path):
    person = _pick_subject()
    for role in ("analyst", "marketer", "service", "auditor"):
        for args in (["privacy", "export", person, "--out", str(tmp_path / "x.json")], ["privacy", "erase", person, "--yes"]):
            result = CliRunner().invoke(app, ["--role", role, *args])
            assert result.exit_code == 1 and "may not privacy." in str(result.exception)
    assert not (tmp_path / "x.json").exists()
    _cli("--role", "owner", "privacy", "export", person, "--out", str(tmp_path / "x.json"))
