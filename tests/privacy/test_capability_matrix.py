"""The role × capability matrix, without the CLI: every capability that shows, writes or changes
person-level data, called directly with a gate for every role of roles.yaml. A role without the right
is refused and leaves no trace; a role with it sees every field its level allows exactly as stored
and none above, and the capability itself writes the audit entry — so any edge (CLI, scheduler, HTTP)
that calls it gets the same checks and the same trail."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from privacy_views import leaks, norm, prepare_case, problems, reveals, stored_values, views

from flywheel.identity import merge_persons, never_link, split_person
from flywheel.privacy import (
    Gate,
    NotPermitted,
    all_roles,
    consent_record,
    consent_withdraw,
    contact_points,
    erase_person,
)
from flywheel.privacy.audit import AuditLog, verify_settings
from flywheel.privacy.roles import Actor
from flywheel.privacy.subjects import UnknownSubject, find_subject
from flywheel.server import add_source
from flywheel.warehouse import Warehouse

pytestmark = pytest.mark.slow
ACTOR = "tester"


def _gate(wh, role) -> Gate:
    return Gate(wh.settings, wh, Actor(ACTOR, role), "capability matrix")


def _new_entries(log: AuditLog, before: int) -> list[dict]:
    return list(log.entries())[before:]


def _count(log: AuditLog) -> int:
    return sum(1 for _ in log.entries())


@dataclass
class Targets:
    """Persons and accounts one role's changes act on (each role its own, so refusals change nothing)."""
    merge: tuple[str, str]
    split: str
    split_account: tuple[str, str]
    link: tuple[tuple[str, str], tuple[str, str]]
    erase: str


def _targets(wh, avoid: str) -> list[Targets]:
    pa_ = wh.table("person_accounts")
    rows = wh.fetch(pa_.filter(pa_.person_id != avoid).order_by(["person_id", "source", "account_key"])).to_pylist()
    accounts: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        accounts.setdefault(r["person_id"], []).append((r["source"], r["account_key"]))
    multi = [p for p, a in accounts.items() if len(a) >= 2]
    single = [p for p, a in accounts.items() if len(a) == 1]
    n = len(all_roles())
    assert len(multi) >= 2 * n and len(single) >= 3 * n
    return [Targets(merge=(single[3 * i], single[3 * i + 1]), split=multi[2 * i],
                    split_account=accounts[multi[2 * i]][0],
                    link=(accounts[multi[2 * i + 1]][0], accounts[single[3 * i + 2]][0]),
                    erase=multi[2 * i + 1]) for i in range(n)]


def _changes(case, t: Targets, role) -> list[tuple[str, str, object]]:
    """(audit action, the right it needs, the call) of every change a role may be asked to make."""
    return [
        ("consent.record", "consent.record",
         lambda gate: consent_record(gate, case.person, ["marketing_email"], "granted", evidence="capability test")),
        ("consent.withdraw", "consent.withdraw", lambda gate: consent_withdraw(gate, case.person, ["marketing_email"])),
        ("identity.merge", "identity.override", lambda gate: merge_persons(gate, *t.merge)),
        ("identity.split", "identity.override", lambda gate: split_person(gate, t.split, [t.split_account])),
        ("identity.never_link", "identity.override", lambda gate: never_link(gate, *t.link)),
        ("keys.create", "keys.manage", lambda gate: add_source(gate, f"web-{role.name.replace('_', '-')}")),
        ("contacts.open", "contacts.open", lambda gate: contact_points(gate, [case.person], "sms")),
        ("privacy.erase", "privacy.erase", lambda gate: erase_person(gate, t.erase)),
    ]


def _changed(wh, action: str, t: Targets, result) -> bool:
    """Whether the change took effect."""
    if action == "identity.merge":
        return find_subject(wh, t.merge[1]).person_id == find_subject(wh, t.merge[0]).person_id
    if action == "identity.split":
        return find_subject(wh, result).accounts == (t.split_account,)
    if action == "privacy.erase":
        try:
            find_subject(wh, t.erase)
        except UnknownSubject:
            return True
        return False
    if action.startswith("consent."):
        return [r["purpose"] for r in result["recorded"]] == ["marketing_email"]
    if action == "contacts.open":
        return len(result) == 1 and next(iter(result.values())).startswith("+")
    return bool(result) or action == "identity.never_link"


def test_capabilities_disclose_exactly_what_each_role_may_see_and_audit_themselves(world, tmp_path):
    with Warehouse.open() as wh:
        case = prepare_case(wh, tmp_path)
        secrets = stored_values(wh, 3)
        person_ids = set(wh.fetch(wh.table("persons").select("person_id")).column(0).to_pylist())
        targets = dict(zip(all_roles(), _targets(wh, case.person)))
        log = AuditLog.for_settings(wh.settings)
        checked = refused = 0
        for role in all_roles().values():
            for view in views():
                before = _count(log)
                with _gate(wh, role) as gate:
                    if view.action is not None and view.action not in role.may:
                        with pytest.raises(NotPermitted, match=f"may not {view.action}"):
                            view.call(gate, case)
                        result = None
                    else:
                        result = view.call(gate, case)
                entries = _new_entries(log, before)
                if result is None:
                    assert entries == [], (role.name, view.name, entries)
                    refused += 1
                    continue
                shown = norm(result)
                cells = view.cells(shown, wh, case)
                wrong = problems(role, cells)
                assert not wrong, (view.name, wrong[:3], f"{len(wrong)} cells in all")
                if view.masked:
                    text = json.dumps(shown, ensure_ascii=False) + (
                        case.file(view.written).read_text(encoding="utf-8") if view.written else "")
                    leaked = leaks(role, text, secrets, view.shows)
                    assert not leaked, (role.name, view.name, leaked)
                    if role.level < 2:
                        assert not [p for p in person_ids if p in text], (role.name, view.name)
                expected = ["privacy.export"] if view.name == "privacy export" else (
                    ["read.unmasked"] if reveals(role, cells) else [])
                assert [e["action"] for e in entries] == expected, (role.name, view.name)
                assert all(e["role"] == role.name and e["actor"] == ACTOR for e in entries), (role.name, view.name)
                checked += 1

            t = targets[role.name]
            for action, right, call in _changes(case, t, role):
                before = _count(log)
                gate = _gate(wh, role)
                if right not in role.may:
                    with pytest.raises(NotPermitted, match=f"may not {right}"):
                        call(gate)
                    assert _new_entries(log, before) == [], (role.name, action)
                    if action in ("identity.merge", "privacy.erase"):
                        assert not _changed(wh, action, t, None), (role.name, action)
                    refused += 1
                    continue
                result = call(gate)
                gate.close()
                entries = _new_entries(log, before)
                assert [(e["action"], e["role"], e["actor"]) for e in entries] == [(action, role.name, ACTOR)], (
                    role.name, action, entries)
                assert _changed(wh, action, t, result), (role.name, action)
                checked += 1
        log.close()
    assert checked >= 50 and refused >= 25, (checked, refused)
    assert verify_settings(wh.settings).ok

