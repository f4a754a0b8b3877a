"""`identity stats`: how well accounts are unified, and what was refused.

`identity_stats(gate)` is the entry point (every role may read it; the few person-level values in
it — the largest person's id, demoted identifiers — are disclosed for the acting role);
`identity_measures(wh)` computes the same dict undisclosed, for benchmarks and tests.
"""

from __future__ import annotations

import ibis

from flywheel.privacy import Gate
from flywheel.warehouse import Warehouse

SIZE_BINS = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 10), (11, 20), (21, None))


def identity_measures(wh: Warehouse) -> dict:
    placed = wh.table("person_accounts")
    sizes = placed.group_by("person_id").agg(accounts=placed.account_key.count(),
                                             sources=placed.source.nunique())
    rows = wh.fetch(sizes).to_pylist()
    histogram = {}
    for low, high in SIZE_BINS:
        label = str(low) if low == high else (f"{low}-{high}" if high else f"{low}+")
        histogram[label] = sum(1 for r in rows if r["accounts"] >= low and (high is None or r["accounts"] <= high))
    largest = max(rows, key=lambda r: (r["accounts"], r["person_id"]), default=None)
    persons = len(rows)
    accounts = sum(r["accounts"] for r in rows)
    multi_source = sum(1 for r in rows if r["sources"] >= 2)
    in_multi = sum(r["accounts"] for r in rows if r["accounts"] >= 2)
    runs = wh.table("identity_runs")
    last = wh.fetch(runs.order_by(ibis.desc("started_at")).limit(1)).to_pylist()
    refusals = wh.table("identity_refusals")
    latest = ibis.window(group_by=["id_type", "id_hash"], order_by=ibis.desc("decided_at"))
    current = refusals.mutate(rank=ibis.row_number().over(latest))
    current = current.filter(current.rank == 0)
    links = wh.table("identity_links")
    linked = links.group_by(["id_type", "id_hash"]).agg(linked_at=links.decided_at.max())
    current = current.left_join(linked, ["id_type", "id_hash"])
    current = current.filter(current.linked_at.isnull() | (current.linked_at < current.decided_at))
    demoted = wh.fetch(current.filter(current.reason == "high_degree").select(
        "id_type", "id_masked", "persons", "accounts").order_by([ibis.desc("persons"), "id_type", "id_masked"])
    ).to_pylist()
    by_reason = {x["reason"]: x["n"] for x in wh.fetch(current.group_by("reason").agg(n=current.count())).to_pylist()}
    return {
        "persons": persons,
        "accounts": accounts,
        "cross_platform_link_rate": round(multi_source / persons, 4) if persons else 0.0,
        "linked_account_share": round(in_multi / accounts, 4) if accounts else 0.0,
        "cluster_sizes": histogram,
        "largest_cluster": {"person_id": largest["person_id"], "accounts": largest["accounts"]} if largest else None,
        "demoted_identifiers": demoted,
        "refusals_by_reason": by_reason,
        "last_run": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in last[0].items()} if last else None,
    }


def identity_stats(gate: Gate) -> dict:
    """The unification measures as the acting role may see them."""
    stats = identity_measures(gate.warehouse)
    if stats["largest_cluster"]:
        stats["largest_cluster"] = gate.disclosure.record("person_accounts", stats["largest_cluster"], {"accounts": 1})
    stats["demoted_identifiers"] = gate.disclosure.records("identity_refusals", stats["demoted_identifiers"])
    return stats
