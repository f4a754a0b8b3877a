"""Evidence that accounts belong together: `(node, id_type, id_hash)` rows the graph links on.

Besides the stored identifiers there is one composite key, `name_phone`: the receiver or contact
name together with the masked phone (`138****1234`). Marketplaces show buyers only by nickname,
receiver name and a masked phone, so neither half identifies anyone alone, but the pair does —
and a full phone masks to the same form, so a Taobao buyer meets their WeCom contact this way.
"""

from __future__ import annotations

import ibis

from flywheel.identity.rules import IdentityRules
from flywheel.warehouse import Warehouse

SEP = "\x1f"
NAME_PHONE = "name_phone"
PHONE_TYPES = ("phone", "phone_masked")


def node_of(source: ibis.Value, account_key: ibis.Value) -> ibis.Value:
    return source + ibis.literal(SEP) + account_key


def build_evidence(wh: Warehouse, rules: IdentityRules, hasher, nodes: ibis.Table,
                   secondary: ibis.Table | None = None) -> ibis.Table:
    """The stored identifiers of the types the rules name, minus blocked values and the phones of
    an account's secondary receivers (`identity.receivers`)."""
    ids = wh.table("identifiers")
    evidence = ids.filter(~ids.is_partial.fill_null(False) & ids.id_type.isin(rules.priority)).select(
        node=node_of(ids.source, ids.account_key), id_type=ids.id_type, id_hash=ids.id_hash, run_id=ids.run_id)
    blocked = rules.blocked_hashes(hasher)
    if blocked:
        table = ibis.memtable({"id_type": [t for t, _ in blocked], "id_hash": [h for _, h in blocked]})
        evidence = evidence.anti_join(table, ["id_type", "id_hash"])
    if secondary is not None:
        phones = secondary.filter(secondary.kind == "phone").select("node", id_type=ibis.literal("phone", "string"),
                                                                    id_hash="value")
        evidence = evidence.anti_join(phones, ["node", "id_type", "id_hash"])
    return wh.materialize("evidence", evidence.semi_join(nodes, "node").distinct())


def phone_masks(wh: Warehouse, nodes: ibis.Table) -> ibis.Table:
    """`(node, id_type='phone', id_hash=<masked form>)`: every phone an account shows, full or masked,
    secondary receivers included. The phone limit counts these: two different masks are two phones
    for certain, so an office phone typed by colleagues cannot join them past their own phones."""
    ids = wh.table("identifiers")
    # A phone stored without its mask (only loaders that bypass ingest do that) counts by its hash.
    shown = ids.filter(ids.id_type.isin(PHONE_TYPES)).select(
        node=node_of(ids.source, ids.account_key), id_type=ibis.literal("phone", "string"),
        id_hash=ibis.coalesce(ids.id_masked, ibis.literal("h:") + ids.id_hash).cast("string"))
    return shown.semi_join(nodes, "node").distinct()


def without_secondary(rows: ibis.Table, secondary: ibis.Table | None, kind: str, value: str) -> ibis.Table:
    """`rows(node, …)` minus those whose `value` column is a secondary receiver's `kind` of that node."""
    if secondary is None:
        return rows
    drop = secondary.filter(secondary.kind == kind).select(node="node", **{value: "value"})
    return rows.anti_join(drop, ["node", value])


def name_phone_evidence(wh: Warehouse, persons: ibis.Table, salt: str,
                        secondary: ibis.Table | None = None) -> ibis.Table:
    """Composite keys of each current person: every name it goes by × every masked phone it holds.

    Built per person, not per account, because the name and the phone often sit on different
    accounts of the same person (a WeCom contact's name, the mini-program's phone) until the
    stronger identifiers have joined them.
    """
    accounts = wh.table("accounts")
    orders = wh.table("orders")
    names = accounts.filter(accounts.name_key.notnull()).select(
        node=node_of(accounts.source, accounts.account_key), name=accounts.name_key).union(
        orders.filter(orders.receiver_name_key.notnull()).select(
            node=node_of(orders.source, orders.account_key), name=orders.receiver_name_key))
    names = without_secondary(names, secondary, "name", "name")
    ids = wh.table("identifiers")
    phones = ids.filter(ids.id_type.isin(PHONE_TYPES) & ids.id_masked.notnull()).select(
        node=node_of(ids.source, ids.account_key), masked=ids.id_masked)
    phones = without_secondary(phones, secondary, "masked", "masked")
    person_names = names.join(persons, "node").select("comp", "name").distinct()
    person_phones = phones.join(persons, "node").select("comp", "masked").distinct()
    anchor = persons.group_by("comp").agg(node=persons.node.min())
    keys = person_names.join(person_phones, "comp").join(anchor, "comp")
    digest = (ibis.literal(salt) + ibis.literal(SEP) + keys.masked + ibis.literal(SEP) + keys.name).hexdigest("sha256")
    return wh.materialize("name_phone", keys.select(
        "node", id_type=ibis.literal(NAME_PHONE, "string"), id_hash=digest.cast("string")).distinct())
