"""Write what a resolution decided: persons, the account mapping, merges, links, refusals, the run."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import ibis

from flywheel.identity.graph import KEY
from flywheel.identity.persons import Placement
from flywheel.warehouse import Warehouse


@dataclass
class ResolveReport:
    resolution_id: str
    mode: str
    accounts: int
    persons: int
    new_persons: int
    merges: int
    links: int
    refusals: int
    probabilistic_links: int
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def record_run(wh: Warehouse, *, resolution_id: str, mode: str, now, started: float, evidence: ibis.Table,
               placement: Placement, links: ibis.Table, refusals: ibis.Table, n_matches: int,
               match_details: ibis.Table | None = None) -> ResolveReport:
    stamp = ibis.literal(now)
    rid = ibis.literal(resolution_id)
    holders = evidence.join(placement.accounts, "node")
    per_value = holders.group_by(KEY).agg(person_id=holders.person_id.min(), accounts=holders.node.nunique())
    sources = holders.select(*KEY, "source").distinct()
    sources = sources.group_by(KEY).agg(sources=sources.source.group_concat(","))
    per_value = per_value.join(sources, KEY)
    masked = wh.table("identifiers").group_by(KEY).agg(id_masked=ibis._.id_masked.min())
    link_rows = links.left_join(per_value, KEY).left_join(masked, KEY)
    if match_details is not None:
        link_rows = link_rows.left_join(match_details.rename(match_evidence="evidence"),
                                        link_rows.id_hash == match_details.id_hash)
        weight, explained = link_rows.match_weight, link_rows.match_evidence
    else:
        weight, explained = ibis.null("float64"), ibis.null("string")
    link_rows = link_rows.select(
        resolution_id=rid, person_id=link_rows.person_id,
        rule=ibis.cases((link_rows.rule == "match", ibis.literal("probabilistic")), else_=ibis.literal("deterministic")),
        id_type=link_rows.id_type, id_hash=link_rows.id_hash, id_masked=link_rows.id_masked,
        accounts=link_rows.accounts, match_weight=weight,
        evidence=ibis.coalesce(explained, ibis.literal("sources: ") + link_rows.sources), decided_at=stamp)
    refusal_rows = refusals.left_join(per_value, KEY).left_join(masked, KEY)
    refusal_rows = refusal_rows.select(
        resolution_id=rid, id_type=refusal_rows.id_type, id_hash=refusal_rows.id_hash,
        id_masked=refusal_rows.id_masked, reason=refusal_rows.reason, detail=refusal_rows.detail,
        persons=refusal_rows.persons, accounts=refusal_rows.accounts, decided_at=stamp)
    merges = placement.merges
    order = ibis.window(order_by=[merges.person_id, merges.other_person_id])
    merge_rows = merges.select(
        event_id=rid + ibis.literal(":merge:") + ibis.row_number().over(order).cast("string"),
        kind=ibis.literal("merge"), person_id=merges.person_id, other_person_id=merges.other_person_id,
        resolution_id=rid, detail=ibis.literal("new evidence joined the two persons; the older id is kept"),
        occurred_at=stamp)

    with wh.transaction():
        wh.replace("person_accounts", placement.accounts)
        wh.replace("persons", placement.persons)
        wh.insert_from("identity_links", link_rows)
        wh.insert_from("identity_refusals", refusal_rows)
        wh.insert_from("identity_events", merge_rows)
        n_merges = int(merges.count().execute())
        report = ResolveReport(
            resolution_id=resolution_id, mode=mode, accounts=wh.count("person_accounts"),
            persons=int(wh.table("persons").filter(ibis._.status == "active").count().execute()),
            new_persons=placement.new_persons, merges=n_merges, links=int(links.count().execute()),
            refusals=int(refusals.count().execute()), probabilistic_links=n_matches,
            seconds=round(time.perf_counter() - started, 3))
        run = {k: v for k, v in report.as_dict().items() if k != "seconds"}
        wh.insert_from("identity_runs", ibis.memtable([run]).mutate(
            started_at=stamp, finished_at=ibis.now().cast("timestamp('UTC')")))
    return report
