"""The consent ledger: what each person allows, per purpose, decided from every account's records.

Per account the latest record for a purpose decides (ties: the more restrictive). A person who has
several accounts — or several merged persons — takes the most restrictive status per purpose:
withdrawn < denied < granted. Nothing is cached: a withdrawal recorded now changes the very next
selection. `only_allowed()` is the check every feature that selects persons for a purpose calls.

The `consent_*` entry points take the acting `Gate`: they check the role's right, disclose what it
may see and write the audit entry (one per purpose recorded) themselves.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.csv as pacsv

from flywheel.errors import InputError
from flywheel.privacy.gate import Gate
from flywheel.privacy.subjects import Subject, find_subject
from flywheel.schema.purposes import BUNDLE_WORDS, PURPOSES, expand, purpose
from flywheel.warehouse import Warehouse, account_persons

STATUSES = ("granted", "denied", "withdrawn")
LEGAL_BASES = ("consent", "separate_consent", "contract", "legal_obligation", "vital_interest",
               "public_interest", "legitimate_interest")


class ConsentError(InputError):
    """A consent record the ledger cannot accept as given."""


def _strictness(status: ibis.Value) -> ibis.Value:
    return status.cases(("withdrawn", 0), ("denied", 1), ("granted", 2), else_=1)


def account_consents(wh: Warehouse, purpose_name: str | None = None, accounts: ibis.Table | None = None) -> ibis.Table:
    """The deciding record per account and purpose (of one purpose, of some accounts: whole ranking
    groups are left out before ranking, so the decision for those kept is the same)."""
    c = wh.table("consents")
    if purpose_name is not None:
        c = c.filter(c.purpose == purpose_name)
    if accounts is not None:
        c = c.semi_join(accounts, ["source", "account_key"])
    w = ibis.window(group_by=["source", "account_key", "purpose"],
                    order_by=[ibis.desc("recorded_at"), _strictness(c.status)])
    ranked = c.mutate(rank=ibis.row_number().over(w))
    return ranked.filter(ranked.rank == 0).drop("rank")


def person_consents(wh: Warehouse, purpose_name: str | None = None, persons: ibis.Table | None = None,
                    accounts: ibis.Table | None = None) -> ibis.Table:
    """`person_id, purpose, status, recorded_at`: the most restrictive account status per purpose
    (of one purpose; of `persons` only, read from their accounts' records only). `accounts`:
    `account_persons` when the caller already has it (materialised, or narrowed to `persons`)."""
    given = accounts is not None
    accounts = accounts if given else account_persons(wh)
    if persons is not None:
        accounts = accounts.view().semi_join(persons.view(), "person_id")
    narrowed = accounts.select("source", "account_key") if persons is not None or given else None
    c = account_consents(wh, purpose_name, narrowed).join(accounts, ["source", "account_key"])
    c = c.mutate(strictness=_strictness(c.status))
    w = ibis.window(group_by=["person_id", "purpose"], order_by=["strictness", ibis.desc("recorded_at")])
    ranked = c.mutate(rank=ibis.row_number().over(w))
    return ranked.filter(ranked.rank == 0).select("person_id", "purpose", "status", "recorded_at", "source")


def allowed(wh: Warehouse, purpose_name: str, persons: ibis.Table | None = None,
            accounts: ibis.Table | None = None) -> ibis.Table:
    """`person_id` of every person (of `persons`, a table with `person_id`) the purpose may be
    applied to now."""
    p = purpose(purpose_name)
    decided = person_consents(wh, p.name, persons, accounts)
    if not p.opt_out:
        return decided.filter(decided.status == "granted").select("person_id")
    everyone = (persons if persons is not None else accounts if accounts is not None else account_persons(wh)
                ).select("person_id").distinct()
    objected = decided.filter(decided.status != "granted").select("person_id")
    return everyone.anti_join(objected, "person_id")


def only_allowed(wh: Warehouse, persons: ibis.Table, purpose_name: str, person_col: str = "person_id",
                 accounts: ibis.Table | None = None, narrow: bool = True) -> ibis.Table:
    """`persons` without those the purpose may not be applied to. Call it on every targeting list,
    recommendation or other personalised selection. Only the records of `persons`' accounts are read
    (`accounts`: `account_persons` of `persons` at least, when the caller has it at hand), unless
    `narrow` is false: for `persons` that are most of everyone, narrowing first costs more than it saves."""
    if not narrow:
        ok = allowed(wh, purpose_name).rename(__allowed_person="person_id")
    else:
        view = persons.view()
        wanted = view.select(person_id=view[person_col]).distinct()
        ok = allowed(wh, purpose_name, wanted if accounts is None else None, accounts).rename(__allowed_person="person_id")
    kept = persons.join(ok, persons[person_col] == ok["__allowed_person"])
    return kept.select(*persons.columns)


def is_allowed(wh: Warehouse, person_id: str, purpose_name: str) -> bool:
    ok = allowed(wh, purpose_name)
    return bool(ok.filter(ok.person_id == person_id).count().execute())


def record_consent(wh: Warehouse, subject: Subject, purposes: list[str], status: str, *, actor: str,
                   legal_basis: str = "consent", notice_version: str | None = None,
                   evidence: str | None = None, recorded_at: dt.datetime | None = None) -> list[dict]:
    """Record a choice for every account of the person; returns the purposes and statuses written.

    A grant that names several purposes may not include one needing separate consent, and a bundle
    word ("all") never expands to them. A withdrawal of "all" withdraws every purpose the person has
    a record for, separate ones included."""
    if status not in STATUSES:
        raise ConsentError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    if legal_basis not in LEGAL_BASES:
        raise ConsentError(f"legal basis must be one of {', '.join(LEGAL_BASES)}; got {legal_basis!r}")
    if not subject.accounts:
        raise ConsentError(f"person {subject.person_id} has no accounts to record consent on")
    names = _purposes(wh, subject, purposes, status)
    if status == "granted" and len(names) > 1:
        separate = [n for n in names if purpose(n).separate]
        if separate:
            raise ConsentError(f"{', '.join(separate)} needs its own, separate consent (PIPL Arts. 23, 29, 39; "
                               "GDPR Art. 7(2)): record the grant for that purpose alone")
    when = recorded_at or dt.datetime.now(dt.timezone.utc)
    note = f"flywheel consent {status} by {actor}" + (f": {evidence}" if evidence else "")
    rows = [{"source": s, "account_key": k, "purpose": n, "status": status, "legal_basis": legal_basis,
             "notice_version": notice_version, "recorded_at": when, "evidence": note, "run_id": None}
            for n in names for s, k in subject.accounts]
    wh.append("consents", pa.Table.from_pylist(rows))
    return [{"purpose": n, "status": status} for n in names]


def _purposes(wh: Warehouse, subject: Subject, purposes: list[str], status: str) -> list[str]:
    if not purposes:
        raise ConsentError("name at least one purpose (or `all`)")
    bundle = [p for p in purposes if p.lower() in BUNDLE_WORDS]
    names = expand(purposes)
    if bundle and status != "granted":
        names += [p for p in consent_story(wh, subject)["effective"] if p not in names]
    for n in names:
        try:
            purpose(n)
        except ValueError as e:
            raise ConsentError(str(e)) from None
    return names


def consent_story(wh: Warehouse, subject: Subject) -> dict:
    """The person's effective status per purpose and every record behind it, newest first."""
    c = wh.table("consents").join(subject.account_table, ["source", "account_key"])
    history = wh.fetch(c.order_by([ibis.desc("recorded_at"), "purpose", "source"])).to_pylist()
    decided = person_consents(wh)
    decided = wh.fetch(decided.filter(decided.person_id == subject.person_id)).to_pylist()
    effective = {r["purpose"]: r["status"] for r in sorted(decided, key=lambda r: r["purpose"])}
    defaults = {p.name: ("allowed until objected" if p.opt_out else "not granted")
                for p in PURPOSES.values() if p.name not in effective}
    return {"person_id": subject.person_id, "effective": effective, "defaults": defaults, "history": history}


def consent_record(gate: Gate, person_id: str, purposes: list[str], status: str = "granted", *,
                   legal_basis: str = "consent", notice_version: str | None = None,
                   evidence: str | None = None) -> dict:
    """Record a person's choice (see `record_consent`); a withdrawal needs `consent.withdraw`, any
    other status `consent.record`. Returns `{person_id, recorded: [{purpose, status}]}`."""
    action = "consent.withdraw" if status == "withdrawn" else "consent.record"
    gate.require(action)
    subject = find_subject(gate.warehouse, person_id)
    written = record_consent(gate.warehouse, subject, purposes, status, actor=gate.actor.name,
                             legal_basis=legal_basis, notice_version=notice_version, evidence=evidence)
    for w in written:
        gate.audit(action, f"{w['purpose']} {status} for {subject.person_id}", person=subject.person_id,
                   purpose=w["purpose"], detail={"legal_basis": legal_basis, "notice_version": notice_version})
    return {"person_id": subject.person_id, "recorded": written}


def consent_withdraw(gate: Gate, person_id: str, purposes: list[str], evidence: str | None = None) -> dict:
    """Withdraw consent for these purposes (`all`: every purpose the person has a record for)."""
    return consent_record(gate, person_id, purposes, "withdrawn", evidence=evidence)


def consent_show(gate: Gate, person_id: str) -> dict:
    """The person's consent story (`consent_story`) as the acting role may see it, with `disclosure`."""
    gate.require("read.persons")
    subject = find_subject(gate.warehouse, person_id)
    gate.about(subject.person_id)
    story = consent_story(gate.warehouse, subject)
    story["history"] = gate.disclosure.records("consents", story["history"])
    return gate.disclosed(story)


def consent_audience(gate: Gate, purpose_name: str, out: Path) -> dict:
    """Write the ids of the persons the purpose may be applied to now as CSV (`person_id`).
    Returns `{purpose, persons, out}`."""
    gate.require("read.persons")
    wh = gate.warehouse
    ids = gate.disclosure.arrow("persons", wh.fetch(allowed(wh, purpose_name).order_by("person_id")))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(ids, out)
    return {"purpose": purpose_name, "persons": ids.num_rows, "out": str(out)}
