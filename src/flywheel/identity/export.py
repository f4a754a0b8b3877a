"""`identity export`: the mapping other tools need, as CSV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

import pyarrow.csv as pacsv

from flywheel.errors import InputError
from flywheel.warehouse import Warehouse, account_persons

KINDS = ("accounts", "orders")


def export_mapping(wh: Warehouse, of: str, out: Path, disclose: Callable[[pa.Table], pa.Table] | None = None) -> int:
    """Write `source,account_key,person_id` (accounts) or `source,order_id,person_id` (orders);
    `disclose` applies the acting role's masking before anything reaches the file."""
    if of not in KINDS:
        raise InputError(f"--of must be one of {', '.join(KINDS)}. Got {of!r}.")
    persons = account_persons(wh)
    if of == "accounts":
        expr = persons.order_by(["source", "account_key"])
    else:
        orders = wh.table("orders")
        joined = orders.join(persons, ["source", "account_key"])
        expr = joined.select("source", "order_id", "person_id").order_by(["source", "order_id"])
    table = wh.fetch(expr)
    if disclose is not None:
        table = disclose(table)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, out)
    return table.num_rows
