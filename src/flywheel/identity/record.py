"""Write what a resolution decided: persons, the account mapping, merges, links, refusals, the run."""

from __future__ import annotations

import time
import json
from dataclasses import asdict, dataclass, field

import ibis

from flywheel.identity.graph import KEY
from flywheel.identity.persons import Placement
from flywheel.identity.rare import RARE_NAME, RARE_PHONE
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
    #: What the run had to give up on or skip, in words (a degenerate EM session, an unused rule).
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _rare_reason(id_type: ibis.Value) -> ibis.Value:
    """Why a person-level link on a rare value was made (see `identity.rare`)."""
    return ibis.cases(
        (id_type == RARE_PHONE, ibis.literal("masked phone only these two persons hold; no other name, phone, "
                                             "city or shared platform contradicts it; ")),
        (id_type == RARE_NAME, ibis.literal("full name only these two persons go by; no other masked phone, "
                                            "city or shared platform contradicts it; ")),
        else_=ibis.literal(""))


def record_run(wh: Warehouse, *, resolution_id: str, mode: str, now, started: float, evidence: ibis.Table,
               shown: list[ibis.Table] = (), placement: Placement, links: ibis.Table, refusals: ibis.Table, n_matches: int,
               match_details: ibis.Table | None = None, notes: list[str] | None = None) -> ResolveReport:
    stamp = ibis.literal(now)
    rid = ibis.literal(resolution_id)
    holders = evidence.join(placement.accounts, "node")
    per_value = holders.group_by(KEY).agg(person_id=holders.person_id.min(), accounts=holders.node.nunique())
    sources = holders.select(*KEY, "source").distinct()
    sources = sources.group_by(KEY).agg(sources=sources.source.group_concat(","))
    per_value = per_value.join(sources, KEY)
    ids = wh.table("identifiers")
    ids = ids.select(*[ids[c].cast("string").name(c) for c in (*KEY, "id_masked")])
    masked = ibis.union(ids, *shown).group_by(KEY).agg(id_masked=ibis._.id_masked.min())
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
        evidence=ibis.coalesce(explained, _rare_reason(link_rows.id_type) + ibis.literal("sources: ") + link_rows.sources),
        decided_at=stamp)
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
            seconds=round(time.perf_counter() - started, 3), notes=list(notes or []))
        run = {k: v for k, v in report.as_dict().items() if k not in ("seconds", "notes")}
        run["notes"] = json.dumps(report.notes, ensure_ascii=False) if report.notes else None
        wh.insert_from("identity_runs", ibis.memtable([run]).mutate(
            started_at=stamp, finished_at=ibis.now().cast("timestamp('UTC')")))
    return report
