"""`identity explain PERSON`: the accounts, the identifiers, the links with their evidence, and the
links that were refused and why — everything needed to trust or correct a person.

`explain(gate, person)` is the entry point: it checks `read.persons` and returns the story as the
acting role may see it; `person_story(wh, person)` is the undisclosed story it is made from.
"""

from __future__ import annotations

import ibis

from flywheel.errors import InputError
from flywheel.identity.evidence import node_of
from flywheel.privacy import Gate
from flywheel.warehouse import Warehouse

SECTIONS = {"accounts": "accounts", "identifiers": "identifiers", "links": "identity_links",
            "refusals": "identity_refusals", "events": "identity_events", "overrides": "identity_overrides"}
"""Each list of the story and the catalog table its rows come from."""
FIELDS = {"accounts": {"linked_by": "person_accounts.linked_by", "linked_at": "person_accounts.linked_at"},
          "identifiers": {"account": "accounts.display_key"}}
"""Columns of a section that come from another table than the section's own."""
DERIVED_LEVELS = {"ref": 2}
"""`ref`: 6 hex digits of a keyed hash, a handle to tell identifiers apart (not the hash itself)."""
PERSON_FIELDS = {"asked_for": "persons.person_id"}
PERSON_LEVELS = {"status": 2}
"""`status` reads "merged into <person id>" for a merged person."""


class UnknownPerson(InputError):
    """No person with that id."""


def _rows(wh: Warehouse, expr: ibis.Table, drop: tuple[str, ...] = ()) -> list[dict]:
    """Rows of `expr` without the `drop` columns (sort keys that are not shown: the order is total,
    so the same story reads the same every time)."""
    rows = wh.fetch(expr).to_pylist()
    return [{k: v for k, v in r.items() if k not in drop} for r in rows] if drop else rows


def explain(gate: Gate, person_id: str) -> dict:
    """Why a person is who they are, as the acting role may see it, with the `disclosure` summary."""
    gate.require("read.persons")
    story = person_story(gate.warehouse, person_id)
    gate.about(story["person_id"])
    d = gate.disclosure
    shown = d.record("persons", {k: v for k, v in story.items() if k not in SECTIONS}, PERSON_LEVELS,
                     fields=PERSON_FIELDS)
    shown |= {k: d.records(table, story[k], DERIVED_LEVELS, fields=FIELDS.get(k)) for k, table in SECTIONS.items()}
    return gate.disclosed(shown)


def person_story(wh: Warehouse, person_id: str) -> dict:
    """The accounts, identifiers, links, refusals, events and overrides of a person, undisclosed."""
    persons = wh.table("persons")
    found = _rows(wh, persons.filter(persons.person_id == person_id))
    if not found:
        raise UnknownPerson(f"No person {person_id!r}. `flywheel identity export --of accounts` lists them.")
    person = found[0]
    target = person["merged_into"] if person["status"] == "merged" and person["merged_into"] else person_id
    absorbed = persons.filter(persons.merged_into == target).select("person_id")
    ids_of_person = [target] + [r["person_id"] for r in _rows(wh, absorbed)]

    links_map = wh.table("person_accounts").filter(ibis._.person_id == target)
    accounts = wh.table("accounts")
    acc = accounts.join(links_map, ["source", "account_key"])
    account_rows = _rows(wh, acc.select("source", "display_key", "account_key_type", "name_masked", "linked_by",
                                        "linked_at", "first_seen_at", "account_key")
                         .order_by(["first_seen_at", "source", "account_key"]), drop=("account_key",))
    ids = wh.table("identifiers")
    held = ids.join(links_map.select("source", "account_key"), ["source", "account_key"])
    identifier_rows = _rows(wh, held.join(accounts.select("source", "account_key", "display_key"),
                                          ["source", "account_key"]).select(
        "id_type", "id_masked", "is_partial", "source", account="display_key", first_seen_at=held.first_seen_at,
        ref=held.id_hash.substr(0, 6), id_hash=held.id_hash, account_key=held.account_key,
    ).order_by(["id_type", "id_masked", "source", "id_hash", "account_key"]), drop=("id_hash", "account_key"))
    values = held.select("id_type", "id_hash").distinct()

    links = wh.table("identity_links")
    value_keys = values.select(k=values.id_type + ibis.literal(":") + values.id_hash).k
    mine = links.filter(links.person_id.isin(ids_of_person)
                        | (links.id_type + ibis.literal(":") + links.id_hash).isin(value_keys))
    link_rows = _latest(wh, mine, ["rule", "id_type", "id_masked", "accounts", "match_weight", "evidence",
                                   "decided_at", "resolution_id", "ref"])
    refusals = wh.table("identity_refusals").semi_join(values, ["id_type", "id_hash"])
    refusal_rows = _latest(wh, refusals, ["id_type", "id_masked", "reason", "detail", "persons", "accounts",
                                          "decided_at", "resolution_id", "ref"])
    events = wh.table("identity_events")
    event_rows = _rows(wh, events.filter(events.person_id.isin(ids_of_person)
                                         | events.other_person_id.isin(ids_of_person))
                       .order_by(["occurred_at", "event_id"]))
    overrides = wh.table("identity_overrides")
    nodes = links_map.select(node=node_of(links_map.source, links_map.account_key))
    o = overrides.mutate(a=node_of(overrides.left_source, overrides.left_account_key),
                         b=node_of(overrides.right_source, overrides.right_account_key))
    o = o.filter(o.a.isin(nodes.node) | o.b.isin(nodes.node))
    override_rows = _rows(wh, o.select("override_id", "kind", "left_source", "right_source", "actor", "note",
                                       "created_at").order_by(["created_at", "override_id"]))
    return {
        "person_id": target,
        "asked_for": person_id,
        "status": person["status"] if target == person_id else f"merged into {target}",
        "created_at": person["created_at"],
        "accounts": account_rows,
        "identifiers": identifier_rows,
        "links": link_rows,
        "refusals": refusal_rows,
        "events": event_rows,
        "overrides": override_rows,
    }


def _latest(wh: Warehouse, table: ibis.Table, columns: list[str]) -> list[dict]:
    """The most recent decision per identifier value (runs repeat earlier decisions)."""
    w = ibis.window(group_by=["id_type", "id_hash"], order_by=ibis.desc("decided_at"))
    ranked = table.mutate(rank=ibis.row_number().over(w), ref=table.id_hash.substr(0, 6))
    latest = ranked.filter(ranked.rank == 0).select(*columns, key=ranked.id_hash)
    return _rows(wh, latest.order_by(["id_type", "id_masked", "key"]), drop=("key",))
