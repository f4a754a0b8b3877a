"""Assemble every trait family into one wide per-person expression and store it as `person_traits`."""

from __future__ import annotations

import datetime as dt
import logging

import ibis
import pyarrow as pa

from flywheel.errors import InputError
from flywheel.schema import table as catalog_table
from flywheel.value.traits import behaviour, lifecycle, products, profile, purchases, social
from flywheel.value.traits.base import TraitContext
from flywheel.warehouse import Warehouse

log = logging.getLogger(__name__)

FAMILIES = (purchases, products, behaviour, social, profile)
KEY_FIELDS = ("person_id", "as_of", "run_id")


def trait_fields():
    """The catalog's trait fields of `person_traits`, in table order."""
    return [f for f in catalog_table("person_traits").fields if f.name not in KEY_FIELDS]


def units() -> dict[str, str]:
    merged: dict[str, str] = {}
    for module in (*FAMILIES, lifecycle):
        merged.update(module.UNITS)
    return merged


def default_as_of(wh: Warehouse) -> dt.datetime:
    """The latest order or event time: scoring simulated data gives the same answer on any day."""
    orders, events = wh.table("orders"), wh.table("events")
    found = [wh.fetch(orders.aggregate(t=orders.created_at.max())).column("t")[0].as_py(),
             wh.fetch(events.aggregate(t=events.timestamp.max())).column("t")[0].as_py()]
    found = [t for t in found if t is not None]
    if not found:
        raise InputError("the warehouse holds no orders or events to score; ingest exports first")
    return max(found)


def trait_expression(wh: Warehouse, as_of: dt.datetime, run_id: str = "") -> ibis.Table:
    """One row per person with every trait of the catalog, typed as declared."""
    ctx = TraitContext.create(wh, as_of)
    base = ctx.accounts.select("person_id").distinct()
    parts = [part for module in FAMILIES for part in module.tables(ctx)]
    wide = base
    for n, part in enumerate(parts):
        part = part.rename({f"key_{n}": "person_id"})
        wide = wide.left_join(part, base.person_id == part[f"key_{n}"])
    wide = wide.select(*[c for c in wide.columns if not c.startswith("key_")])
    wide = wide.mutate(**lifecycle.derive(ctx, wide))
    zero = set().union(*(m.ZERO for m in FAMILIES))
    columns = {"person_id": wide.person_id,
               "as_of": ibis.literal(ctx.as_of).cast("timestamp('UTC')"),
               "run_id": ibis.literal(run_id)}
    for f in trait_fields():
        value = wide[f.name]
        if f.name in zero:
            value = value.fill_null(False if f.type == "boolean" else 0)
        columns[f.name] = value.cast(f.dtype)
    return wide.select(**columns).order_by("person_id")


def compute_traits(wh: Warehouse, as_of: dt.datetime | None = None, run_id: str = "",
                   store: bool = True) -> pa.Table:
    """Compute every person's traits in the warehouse; store them as `person_traits` and return them."""
    as_of = as_of or default_as_of(wh)
    traits = wh.fetch(trait_expression(wh, as_of, run_id))
    if store:
        schema = catalog_table("person_traits").schema
        wh.con.drop_table("person_traits", force=True)  # Spark cannot overwrite a table by schema alone
        wh.con.create_table("person_traits", schema=schema)
        wh.append("person_traits", traits)
    log.info("computed %d traits for %d persons as of %s", len(trait_fields()), traits.num_rows, as_of)
    return traits
