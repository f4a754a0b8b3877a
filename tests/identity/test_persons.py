"""Person ids are stable, incremental data joins existing persons, and overrides win over rules."""

from __future__ import annotations

import pytest
from identity_world import World, partition, persons_of

from flywheel.errors import InputError
from flywheel.identity import explain, merge_persons, never_link, resolve, split_person
from flywheel.privacy import Gate


def _resolve(wh, **kw):
    return resolve(wh, matcher=None, **kw)


def _gate(wh) -> Gate:
    """The acting gate of these calls: the default role (analyst) may read persons and override."""
    return Gate.open(wh.settings, wh, "test")


def _world(wh):
    w = World(wh)
    accounts = {
        "web": w.account("web", "u1", user_id="u1", phone="13912340001"),
        "tb": w.account("taobao", "tb_1", phone="13912340001"),
        "jd": w.account("jd", "pin_2", phone="13712340002"),
    }
    w.land()
    return w, accounts


def test_rerunning_on_the_same_data_changes_nothing(warehouse):
    _world(warehouse)
    first = _resolve(warehouse)
    before = persons_of(warehouse)
    again = _resolve(warehouse)
    full = _resolve(warehouse, full=True)
    assert persons_of(warehouse) == before
    assert (first.new_persons, again.new_persons, full.new_persons) == (2, 0, 0)
    assert (again.merges, full.merges) == (0, 0)
    assert again.mode == "incremental" and full.mode == "full"


def test_a_new_batch_links_into_existing_persons(warehouse):
    w, acc = _world(warehouse)
    _resolve(warehouse)
    before = persons_of(warehouse)
    wecom = w.account("wecom", "wm_1", phone="13912340001")
    w.land()
    report = _resolve(warehouse)
    after = persons_of(warehouse)
    assert report.mode == "incremental" and report.new_persons == 0
    assert after[wecom] == before[acc["web"]]
    assert {k: after[k] for k in before} == before


def test_new_evidence_joining_two_persons_keeps_the_older_id_and_records_a_merge(warehouse):
    w, acc = _world(warehouse)
    _resolve(warehouse)
    before = persons_of(warehouse)
    older, younger = before[acc["web"]], before[acc["jd"]]
    w.account("shopify", "bridge", phone=["13912340001", "13712340002"])
    w.land()
    report = _resolve(warehouse)
    after = persons_of(warehouse)
    assert report.merges == 1
    assert set(after.values()) == {older}
    events = warehouse.fetch(warehouse.table("identity_events")).to_pylist()
    assert [(e["kind"], e["person_id"], e["other_person_id"]) for e in events] == [("merge", older, younger)]
    story = explain(_gate(warehouse), younger)
    assert story["person_id"] == older and story["status"] == f"merged into {older}"


def test_manual_merge_split_and_never_link_win_over_the_rules(warehouse):
    _w, acc = _world(warehouse)
    _resolve(warehouse)
    people = persons_of(warehouse)
    kept = merge_persons(_gate(warehouse), people[acc["web"]], people[acc["jd"]], note="same customer")
    assert set(persons_of(warehouse).values()) == {kept}
    _resolve(warehouse, full=True)
    assert set(persons_of(warehouse).values()) == {kept}, "a manual merge survives a full recompute"

    new_id = split_person(_gate(warehouse), kept, [acc["tb"]], note="different buyer")
    assert persons_of(warehouse)[acc["tb"]] == new_id
    _resolve(warehouse, full=True)
    after = persons_of(warehouse)
    assert after[acc["tb"]] != after[acc["web"]], "the shared phone no longer joins a split account"
    kinds = {o["kind"] for o in explain(_gate(warehouse), after[acc["web"]])["overrides"]}
    assert kinds == {"merge", "never_link"}
    with pytest.raises(InputError):
        split_person(_gate(warehouse), after[acc["web"]], [("taobao", "nobody")])


def test_never_link_applies_from_the_next_resolution(warehouse):
    w = World(warehouse)
    a = w.account("jd", "p1", phone="13911112222")
    b = w.account("douyin", "d1", phone="13911112222")
    w.land()
    never_link(_gate(warehouse), a, b, note="two brothers sharing a phone")
    _resolve(warehouse)
    assert partition(warehouse) == {frozenset({a}), frozenset({b})}
    [refusal] = warehouse.fetch(warehouse.table("identity_refusals")).to_pylist()
    assert refusal["reason"] == "never_link"
