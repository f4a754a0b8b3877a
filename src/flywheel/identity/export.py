"""`identity export`: the mapping other tools need, as CSV, disclosed for the acting role."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv

from flywheel.errors import InputError
from flywheel.privacy import Gate
from flywheel.warehouse import account_persons

KINDS = ("accounts", "orders")
COLUMNS = {
    "accounts": {"source": "accounts.source", "account_key": "accounts.account_key",
                 "person_id": "person_accounts.person_id"},
    "orders": {"source": "orders.source", "order_id": "orders.order_id", "person_id": "person_accounts.person_id"},
}
"""The catalog field each exported column comes from: the disclosure grades it by that field (the
person id is L2, pseudonymous, in clear for every role that may read persons)."""


def export_mapping(gate: Gate, of: str, out: Path) -> int:
    """Write `source,account_key,person_id` (accounts) or `source,order_id,person_id` (orders) as the
    acting role may see them; returns the rows written. Needs `read.persons`."""
    gate.require("read.persons")
    if of not in KINDS:
        raise InputError(f"--of must be one of {', '.join(KINDS)}. Got {of!r}.")
    wh = gate.warehouse
    persons = account_persons(wh)
    if of == "accounts":
        expr = persons.order_by(["source", "account_key"])
    else:
        orders = wh.table("orders")
        joined = orders.join(persons, ["source", "account_key"])
        expr = joined.select("source", "order_id", "person_id").order_by(["source", "order_id"])
    table = gate.disclosure.arrow(of, wh.fetch(expr), fields=COLUMNS[of])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, out)
    return table.num_rows
