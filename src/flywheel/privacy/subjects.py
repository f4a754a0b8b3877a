"""A data subject: the current person an id leads to, every person id they have carried, and their accounts."""

from __future__ import annotations

from dataclasses import dataclass

import ibis

from flywheel.errors import InputError
from flywheel.warehouse import Warehouse, account_persons
from flywheel.warehouse.people import UNPLACED_PREFIX


class UnknownSubject(InputError):
    """No person or account with that id."""


@dataclass(frozen=True)
class Subject:
    person_id: str
    """The person as they stand now (a merged id leads to the person that absorbed it)."""
    person_ids: tuple[str, ...]
    """Every id the person has carried: the current one and those merged into it."""
    accounts: tuple[tuple[str, str], ...]
    """(source, account_key) of every account placed in the person."""

    @property
    def account_table(self) -> ibis.Table:
        return ibis.memtable({"source": [a[0] for a in self.accounts],
                              "account_key": [a[1] for a in self.accounts]},
                             schema={"source": "string", "account_key": "string"})


def find_subject(wh: Warehouse, person_id: str) -> Subject:
    persons = wh.table("persons")
    current, known = person_id, False
    for _ in range(64):
        row = wh.fetch(persons.filter(persons.person_id == current).select("status", "merged_into")).to_pylist()
        known = known or bool(row)
        if not row or row[0]["status"] != "merged" or not row[0]["merged_into"]:
            break
        current = row[0]["merged_into"]
    ids, frontier = {current}, [current]
    while frontier:
        absorbed = persons.filter(persons.merged_into.isin(frontier) & (persons.status == "merged"))
        frontier = [p for p in wh.fetch(absorbed.select("person_id")).column(0).to_pylist() if p not in ids]
        ids.update(frontier)
    if current.startswith(UNPLACED_PREFIX):
        mapping = account_persons(wh)
    else:  # a resolved person's accounts are all in person_accounts: no stand-in id to compute per account
        mapping = wh.table("person_accounts")
    accounts = wh.fetch(mapping.filter(mapping.person_id == current).select("source", "account_key")
                        .order_by(["source", "account_key"])).to_pylist()
    if not accounts and not known:
        raise UnknownSubject(f"No person {person_id!r}. `flywheel identity export --of accounts` lists them.")
    return Subject(current, tuple(sorted(ids)), tuple((a["source"], a["account_key"]) for a in accounts))
