"""Person of every account, as an Ibis expression any capability can join on.

Identity resolution writes `person_accounts`; before it has run (or for an account it has not seen
yet) an account stands alone as its own person, so everything downstream works from the first ingest.
"""

from __future__ import annotations

import ibis

from flywheel.warehouse.store import Warehouse


def unresolved_person_id(source: ibis.Value, account_key: ibis.Value) -> ibis.Value:
    """The id an account carries until identity resolution places it: `a:<source>:<account key>`."""
    return ibis.literal("a:") + source + ibis.literal(":") + account_key


def account_persons(wh: Warehouse) -> ibis.Table:
    """`source, account_key, person_id` for every account in the warehouse."""
    accounts = wh.table("accounts").select("source", "account_key")
    linked = wh.table("person_accounts").select(
        "source", "account_key", linked_person="person_id")
    joined = accounts.left_join(linked, ["source", "account_key"])
    return joined.select(
        "source", "account_key",
        person_id=ibis.coalesce(joined.linked_person,
                                unresolved_person_id(joined.source, joined.account_key)),
    )
