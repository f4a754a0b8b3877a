"""Manual corrections that win over the rules: merge two persons, split accounts out of a person,
never link two accounts. Each is recorded (who, when, why) as account pairs and applied at once;
later resolutions respect them because the graph reads the overrides table, and for the same pair
of accounts the later decision wins (a split after a merge undoes that part of the merge).

Each takes the acting `Gate`: it needs `identity.override` and leaves an audit entry (the merged or
split person's id sealed with their data key), whichever edge calls it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import ibis
import pyarrow as pa

from flywheel.errors import InputError
from flywheel.identity.explain import UnknownPerson
from flywheel.privacy import Gate
from flywheel.warehouse import Warehouse


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _accounts_of(wh: Warehouse, person_id: str) -> list[tuple[str, str]]:
    placed = wh.table("person_accounts")
    rows = wh.fetch(placed.filter(placed.person_id == person_id).select("source", "account_key").order_by(
        ["source", "account_key"])).to_pylist()
    if not rows:
        raise UnknownPerson(f"No person {person_id!r} with accounts.")
    return [(r["source"], r["account_key"]) for r in rows]


def _record(wh: Warehouse, kind: str, pairs: list[tuple[tuple[str, str], tuple[str, str]]], actor: str,
            note: str | None, now: dt.datetime) -> list[str]:
    rows = [{"override_id": uuid.uuid4().hex, "kind": kind, "left_source": a[0], "left_account_key": a[1],
             "right_source": b[0], "right_account_key": b[1], "actor": actor, "note": note, "created_at": now}
            for a, b in pairs]
    wh.append("identity_overrides", pa.Table.from_pylist(rows))
    return [r["override_id"] for r in rows]


def _event(wh: Warehouse, kind: str, person_id: str, other: str | None, actor: str, detail: str,
           now: dt.datetime) -> None:
    wh.append("identity_events", pa.Table.from_pylist([{
        "event_id": uuid.uuid4().hex, "kind": kind, "person_id": person_id, "other_person_id": other,
        "actor": actor, "detail": detail, "occurred_at": now}]))


def merge_persons(gate: Gate, a: str, b: str, note: str | None = None) -> str:
    """Fold the younger of two persons into the older; returns the id kept."""
    gate.require("identity.override")
    kept = _merge(gate.warehouse, a, b, gate.actor.name, note)
    gate.audit("identity.merge", f"merge {a} and {b}: kept {kept}", person=kept, detail={"note": note})
    return kept


def split_person(gate: Gate, person_id: str, accounts: list[tuple[str, str]], note: str | None = None) -> str:
    """Move `accounts` out of `person_id` into a new person and never link the two groups again;
    returns the new person's id."""
    gate.require("identity.override")
    new_id = _split(gate.warehouse, person_id, accounts, gate.actor.name, note)
    gate.audit("identity.split", f"split {len(accounts)} account(s) of {person_id} into {new_id}", person=person_id,
               detail={"note": note})  # the new id only in the sealed target: the detail is in clear
    return new_id


def never_link(gate: Gate, a: tuple[str, str], b: tuple[str, str], note: str | None = None) -> None:
    """Record that two accounts are different people; takes effect at the next resolution
    (use `split_person` to separate accounts that are already in one person)."""
    gate.require("identity.override")
    override_id = _never_link(gate.warehouse, a, b, gate.actor.name, note)
    # The entry names the decision, not the account keys (L4): the log is append-only and read by
    # auditors; the pair stays in identity_overrides, which erasure clears.
    gate.audit("identity.never_link", f"never link {a[0]} and {b[0]} accounts (override {override_id})",
               detail={"note": note, "override_id": override_id})


def _merge(wh: Warehouse, a: str, b: str, actor: str, note: str | None) -> str:
    if a == b:
        raise InputError("Cannot merge a person with itself.")
    persons = wh.table("persons")
    rows = {r["person_id"]: r for r in wh.fetch(persons.filter(persons.person_id.isin([a, b]))).to_pylist()}
    for p in (a, b):
        if p not in rows or rows[p]["status"] != "active":
            raise UnknownPerson(f"No active person {p!r}.")
    kept, gone = sorted((a, b), key=lambda p: (rows[p]["created_at"], p))
    now = _now()
    with wh.transaction():
        _record(wh, "merge", [(k, g) for k in _accounts_of(wh, kept) for g in _accounts_of(wh, gone)],
                actor, note, now)
        placed = wh.table("person_accounts")
        wh.replace("person_accounts", placed.mutate(
            person_id=ibis.cases((placed.person_id == gone, ibis.literal(kept)), else_=placed.person_id),
            linked_by=ibis.cases((placed.person_id == gone, ibis.literal("override")), else_=placed.linked_by),
            linked_at=ibis.cases((placed.person_id == gone, ibis.literal(now)), else_=placed.linked_at)))
        p = wh.table("persons")
        wh.replace("persons", p.mutate(
            status=ibis.cases((p.person_id == gone, ibis.literal("merged")), else_=p.status),
            merged_into=ibis.cases((p.person_id == gone, ibis.literal(kept)), else_=p.merged_into),
            updated_at=ibis.cases((p.person_id == gone, ibis.literal(now)), else_=p.updated_at)))
        _event(wh, "override_merge", kept, gone, actor, note or "merged by hand", now)
    return kept


def _split(wh: Warehouse, person_id: str, accounts: list[tuple[str, str]], actor: str, note: str | None) -> str:
    held = _accounts_of(wh, person_id)
    moving = [a for a in held if a in set(accounts)]
    missing = [a for a in accounts if a not in set(held)]
    if missing:
        raise InputError(f"{missing[0][0]}:{missing[0][1]} is not an account of {person_id}.")
    staying = [a for a in held if a not in set(moving)]
    if not moving or not staying:
        raise InputError("A split needs at least one account to move and one to stay.")
    now = _now()
    new_id = "p" + hashlib.sha256(f"split\x1f{person_id}\x1f{now.isoformat()}\x1f{moving[0]}".encode()).hexdigest()[:16]
    with wh.transaction():
        _record(wh, "never_link", [(m, s) for m in moving for s in staying], actor, note, now)
        moved = ibis.memtable({"source": [a[0] for a in moving], "account_key": [a[1] for a in moving]}).mutate(
            moved=ibis.literal(True))
        placed = wh.table("person_accounts").left_join(moved, ["source", "account_key"])
        is_moved = placed.moved.fill_null(False)
        wh.replace("person_accounts", placed.select(
            "source", "account_key",
            person_id=ibis.cases((is_moved, ibis.literal(new_id)), else_=placed.person_id),
            linked_by=ibis.cases((is_moved, ibis.literal("override")), else_=placed.linked_by),
            linked_at=ibis.cases((is_moved, ibis.literal(now)), else_=placed.linked_at)))
        wh.append("persons", pa.Table.from_pylist([{"person_id": new_id, "created_at": now, "status": "active",
                                                    "updated_at": now}]))
        _event(wh, "split", person_id, new_id, actor,
               note or f"{len(moving)} account(s) moved out by hand", now)
    return new_id


def _never_link(wh: Warehouse, a: tuple[str, str], b: tuple[str, str], actor: str, note: str | None) -> str:
    accounts = wh.table("accounts")
    for s, k in (a, b):
        if int(accounts.filter((accounts.source == s) & (accounts.account_key == k)).count().execute()) == 0:
            raise InputError(f"No account {s}:{k}.")
    now = _now()
    return _record(wh, "never_link", [(a, b)], actor, note, now)[0]
