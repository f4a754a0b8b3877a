"""Probabilistic links for accounts no shared identifier joins: one record per account (its usual
name, masked phone, address hash and place), scored by the Fellegi–Sunter model in
`identity.matching`; accepted pairs become evidence the graph links on, under the same limits.

The model is trained on every eligible account, including those the deterministic steps already
joined: those pairs are the positives expectation maximisation learns the m probabilities from.
(The person-level combination — a WeCom name with the mini-program's phone — is the composite
`name_phone` key of the deterministic graph.)
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

import ibis
import pyarrow as pa

from flywheel.identity.evidence import PHONE_TYPES, node_of, without_secondary
from flywheel.identity.matching import match_records
from flywheel.identity.receivers import secondary_receivers
from flywheel.identity.rules import IdentityRules
from flywheel.warehouse import Warehouse

log = logging.getLogger(__name__)

ROLES = {"full_name": "full_name", "phone_masked": "phone_masked", "address_hash": "address_hash",
         "province": "province", "city": "city", "district": "district"}
MATCH = "match"


@dataclass
class MatchEvidence:
    evidence: ibis.Table | None   # node, id_type ('match'), id_hash (the pair's key); None: no pair accepted
    details: ibis.Table | None    # id_hash, match_weight, evidence (JSON)
    pairs: int
    notes: tuple[str, ...] = ()   # what the model had to give up on (a degenerate EM session, too few records)


def match_accounts(wh: Warehouse, nodes: ibis.Table, persons: ibis.Table, rules: IdentityRules) -> MatchEvidence | None:
    accounts = nodes.select("node", comp=nodes.node)
    records = _open_names(wh, wh.fetch(_person_records(wh, accounts, rules)))
    if records.num_rows < 2:
        return None
    matches = match_records(records, ROLES, "record_id", threshold=rules.match_threshold,
                            progress=lambda msg: log.info("matching: %s", msg))
    pairs = matches.pairs.to_pylist()
    log.info("probabilistic matching: %d records, %d pairs at p ≥ %s", records.num_rows, len(pairs),
             rules.match_threshold)
    anchors = dict(zip(records["record_id"].to_pylist(), records["anchor"].to_pylist()))
    rows, details = [], []
    for p in pairs:
        key = hashlib.sha256(f"{p['left_id']}\x1f{p['right_id']}".encode()).hexdigest()
        rows += [(anchors[p["left_id"]], key), (anchors[p["right_id"]], key)]
        shown = {e["comparison"]: {"level": e["level"], "weight": round(e["match_weight"], 2)}
                 for e in p["evidence"]}
        details.append({"id_hash": key, "match_weight": float(p["match_weight"]),
                        "evidence": json.dumps({"match_probability": round(p["match_probability"], 6),
                                                "comparisons": shown}, ensure_ascii=False)})
    if not rows:
        return MatchEvidence(None, None, 0, matches.warnings)
    evidence = ibis.memtable(pa.table({"node": [r[0] for r in rows], "id_type": [MATCH] * len(rows),
                                       "id_hash": [r[1] for r in rows]}))
    return MatchEvidence(wh.materialize("match_evidence", evidence),
                         wh.materialize("match_details", ibis.memtable(pa.Table.from_pylist(details))),
                         len(pairs), matches.warnings)


def _open_names(wh: Warehouse, records: pa.Table) -> pa.Table:
    """Names are sealed at rest; the matcher compares them in clear, in memory only."""
    opened = wh.sealer.open_nodes(records["name_node"].to_pylist(), records["full_name"].to_pylist())
    records = records.set_column(records.column_names.index("full_name"), "full_name", pa.array(opened, pa.string()))
    return records.drop_columns(["name_node"])


def _names(names: ibis.Table) -> ibis.Table:
    """Per person its most frequent name (by comparison key; ties → smallest key) and one sealed copy
    of it with the account it was sealed for."""
    v = names.filter(names.name_key.notnull())
    counted = v.group_by(["comp", "name_key"]).agg(n=v.count(), name_node=v.node.min(), name=v.name.argmin(v.node))
    w = ibis.window(group_by="comp", order_by=[ibis.desc("n"), "name_key"])
    ranked = counted.mutate(rank=ibis.row_number().over(w))
    return ranked.filter(ranked.rank == 0).select("comp", "name", "name_node")


def _mode(values: ibis.Table, column: str) -> ibis.Table:
    """The most frequent non-null value of `column` per person (ties → smallest)."""
    v = values.filter(values[column].notnull())
    counted = v.group_by(["comp", column]).agg(n=v.count())
    w = ibis.window(group_by="comp", order_by=[ibis.desc("n"), column])
    ranked = counted.mutate(rank=ibis.row_number().over(w))
    return ranked.filter(ranked.rank == 0).select("comp", column)


def _person_records(wh: Warehouse, persons: ibis.Table, rules: IdentityRules) -> ibis.Table:
    accounts, orders, ids = wh.table("accounts"), wh.table("orders"), wh.table("identifiers")
    acc = accounts.select(node=node_of(accounts.source, accounts.account_key), source=accounts.source,
                          name=accounts.name, name_key=accounts.name_key, province=accounts.province,
                          city=accounts.city)
    ords = orders.select(node=node_of(orders.source, orders.account_key), name=orders.receiver_name,
                         name_key=orders.receiver_name_key,
                         address_hash=orders.receiver_address_hash, province=orders.province,
                         city=orders.city, district=orders.district)
    phones = ids.filter(ids.id_type.isin(PHONE_TYPES)).select(
        node=node_of(ids.source, ids.account_key), phone_masked=ids.id_masked)
    # The buyer's receivers only: a spouse's name and phone on a few orders say nothing of the buyer.
    secondary = secondary_receivers(wh)
    phones = without_secondary(phones, secondary, "masked", "phone_masked")
    eligible = persons.join(acc, "node")
    if rules.match_sources:
        eligible = eligible.filter(eligible.source.isin(list(rules.match_sources)))
    eligible = eligible.select("comp").distinct()
    in_scope = persons.semi_join(eligible, "comp")
    named = without_secondary(acc.select("node", "name", "name_key").union(ords.select("node", "name", "name_key")),
                              secondary, "name", "name_key")
    names = in_scope.join(named, "node")
    places = in_scope.join(ords.select("node", "province", "city", "district").union(
        acc.select("node", "province", "city", district=ibis.null("string"))), "node")
    record = eligible.left_join(_names(names), "comp").drop("comp_right")
    for part, column in ((in_scope.join(phones, "node"), "phone_masked"),
                         (in_scope.join(ords.select("node", "address_hash"), "node"), "address_hash"),
                         (places, "province"), (places, "city"), (places, "district")):
        record = record.left_join(_mode(part, column), "comp").drop("comp_right")
    anchor = in_scope.group_by("comp").agg(anchor=in_scope.node.min())
    record = record.join(anchor, "comp")
    record = record.filter(record.name.notnull() | record.phone_masked.notnull())
    return record.select(record_id="comp", anchor="anchor", full_name="name", name_node="name_node",
                         phone_masked="phone_masked",
                         address_hash="address_hash", province="province", city="city",
                         district="district").order_by("record_id")
