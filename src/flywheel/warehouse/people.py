"""Person of every account, as an Ibis expression any capability can join on.

Identity resolution writes `person_accounts`; before it has run (or for an account it has not seen
yet) an account stands alone as its own person, so everything downstream works from the first ingest.
That stand-in id is a keyed hash of the account (`a` + 16 hex digits), never the account key itself:
person ids are L2 (pseudonymous), account keys L4.
"""

from __future__ import annotations

import functools
import hmac
from pathlib import Path

import ibis

from flywheel.keys import load_or_create_key
from flywheel.warehouse.store import Warehouse

UNPLACED_PREFIX = "a"


@functools.cache
def _salt(key_file: Path) -> str:
    return hmac.new(load_or_create_key(key_file), b"flywheel unplaced account", "sha256").hexdigest()[:32]


def unplaced_salt(wh: Warehouse) -> str:
    """The merchant's salt for stand-in person ids (derived from the identifier key)."""
    return _salt(Path(wh.settings.key_file).expanduser())


def unresolved_person_id(source: ibis.Value, account_key: ibis.Value, salt: str) -> ibis.Value:
    """The id an account carries until identity resolution places it: `a` + sha256(salt:source:key)[:16]."""
    digest = (ibis.literal(f"{salt}:") + source + ibis.literal(":") + account_key).hexdigest("sha256")
    return ibis.literal(UNPLACED_PREFIX) + digest.substr(0, 16)


def account_persons(wh: Warehouse, keys: ibis.Table | None = None, flag: bool = False) -> ibis.Table:
    """`source, account_key, person_id` for every account in the warehouse, or for the accounts of
    `keys` (`source, account_key`) only: both sides are narrowed before the join, so looking up a
    few thousand accounts reads the tables once instead of joining them all. `flag` adds `placed`
    (identity resolution has placed the account)."""
    accounts = wh.table("accounts").select("source", "account_key")
    linked = wh.table("person_accounts").select("source", "account_key", "person_id")
    if keys is not None:
        on = ["source", "account_key"]
        keys = keys.select(*on).distinct()
        linked = linked.semi_join(keys, on)
        # a placed account exists (erasure removes both), so only the others are looked for in
        # `accounts`: one pass over a million accounts fewer when identity has placed them all
        alone = accounts.semi_join(keys.anti_join(linked, on), on)
        return linked.mutate(**({"placed": ibis.literal(True)} if flag else {})).union(alone.select(
            *on, person_id=unresolved_person_id(alone.source, alone.account_key, unplaced_salt(wh)),
            **({"placed": ibis.literal(False)} if flag else {})))
    joined = accounts.left_join(linked.rename(linked_person="person_id"), ["source", "account_key"])
    extra = {"placed": joined.linked_person.notnull()} if flag else {}
    return joined.select(
        "source", "account_key",
        person_id=ibis.coalesce(joined.linked_person,
                                unresolved_person_id(joined.source, joined.account_key, unplaced_salt(wh))),
        **extra,
    )
