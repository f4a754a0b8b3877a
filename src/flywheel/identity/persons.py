"""Stable person ids: the older person keeps its id when two join; a new person's id comes from its
first account, so the same data always gives the same ids on any engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis

from flywheel.warehouse import Warehouse

PREFIX = "p"


@dataclass
class Placement:
    """The outcome of placing components into persons."""

    accounts: ibis.Table   # node, source, account_key, person_id, linked_by, linked_at
    persons: ibis.Table    # the whole persons table after the run
    merges: ibis.Table     # person_id (kept), other_person_id (absorbed)
    new_persons: int


def place(wh: Warehouse, nodes: ibis.Table, final: ibis.Table, salt: str, now, resolution_id: str) -> Placement:
    """Give every component a person id.

    `nodes(node, source, account_key, first_seen_at)`, `final(node, comp, via)`. A previous person
    stays with the component holding most of its accounts (its home); a component that is home to
    several previous persons keeps the oldest (created first; among persons created in the same run,
    the one whose first account appeared first) and records the others as merged into it.
    """
    previous = wh.table("person_accounts")
    prev = nodes.join(previous, ["source", "account_key"]).select(
        "node", "first_seen_at", prev_person=previous.person_id, prev_linked_at=previous.linked_at)
    earliest = prev.group_by("prev_person").agg(earliest=prev.first_seen_at.min())
    known = wh.table("persons").filter(ibis._.status == "active").select("person_id", "created_at")

    shares = final.join(prev, "node").group_by(["comp", "prev_person"]).agg(n=ibis._.node.count())
    by_person = ibis.window(group_by="prev_person", order_by=[ibis.desc("n"), "comp"])
    home = shares.mutate(rank=ibis.row_number().over(by_person)).filter(ibis._.rank == 0)
    home = home.join(known, home.prev_person == known.person_id).join(earliest, "prev_person").select(
        "comp", "prev_person", "created_at", "earliest")
    by_comp = ibis.window(group_by="comp", order_by=["created_at", "earliest", "prev_person"])
    ranked = wh.materialize("place_ranked", home.mutate(rank=ibis.row_number().over(by_comp)))
    kept = ranked.filter(ranked.rank == 0).select("comp", person_id="prev_person")
    merges = ranked.filter(ranked.rank > 0).join(kept, "comp").select(
        "person_id", other_person_id=ranked.prev_person)

    fresh = final.anti_join(kept, "comp").join(nodes, "node")
    first = ibis.window(group_by="comp", order_by=["first_seen_at", "node"])
    anchors = fresh.mutate(rank=ibis.row_number().over(first)).filter(ibis._.rank == 0)
    candidate = ibis.literal(PREFIX) + (ibis.literal(salt) + anchors.node).hexdigest("sha256").substr(0, 16)
    anchors = anchors.select("comp", "node", candidate=candidate)
    taken = wh.table("persons").select(taken_id="person_id")
    checked = anchors.left_join(taken, anchors.candidate == taken.taken_id)
    alternative = ibis.literal(PREFIX) + (ibis.literal(salt + "#" + resolution_id) + checked.node).hexdigest(
        "sha256").substr(0, 16)
    created = wh.materialize("place_created", checked.select(
        "comp", person_id=ibis.cases((checked.taken_id.isnull(), checked.candidate), else_=alternative)))

    ids = kept.union(created)
    placed = final.join(ids, "comp").join(nodes, "node")
    size = placed.group_by("person_id").agg(size=ibis._.node.count())
    placed = placed.join(size, "person_id").left_join(prev.drop("first_seen_at"), "node")
    stayed = placed.prev_person == placed.person_id
    accounts = placed.select(
        "node", "source", "account_key", "person_id",
        linked_by=ibis.cases((placed.size == 1, ibis.literal("singleton")), else_=placed.via),
        linked_at=ibis.cases((stayed.fill_null(False), placed.prev_linked_at), else_=ibis.literal(now)),
    )
    accounts = wh.materialize("place_accounts", accounts)

    absorbed = merges.select(absorbed="other_person_id", into="person_id")
    everyone = wh.table("persons").left_join(absorbed, ibis._.person_id == absorbed.absorbed)
    updated = everyone.select(
        "person_id", "created_at",
        status=ibis.cases((everyone.absorbed.notnull(), ibis.literal("merged")), else_=everyone.status),
        merged_into=ibis.coalesce(everyone.into, everyone.merged_into),
        updated_at=ibis.cases((everyone.absorbed.notnull(), ibis.literal(now)), else_=everyone.updated_at),
    )
    new_rows = created.select("person_id", created_at=ibis.literal(now), status=ibis.literal("active"),
                              merged_into=ibis.null("string"), updated_at=ibis.literal(now))
    n_new = int(created.count().execute())
    return Placement(accounts, wh.materialize("place_persons", wh.typed("persons", updated).union(wh.typed("persons", new_rows))),
                     wh.materialize("place_merges", merges), n_new)
