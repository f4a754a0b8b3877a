"""`identity stats`: how well accounts are unified, and what was refused.

`identity_stats(gate)` is the entry point (every role may read it; the few person-level values in
it — the largest person's id, demoted identifiers — are disclosed for the acting role);
`identity_measures(wh)` computes the same dict undisclosed, for benchmarks and tests.

The merchant's headline figure is the cross-platform ID match rate: of the customers active on two
or more platforms, the share Flywheel knows as one person across them. A platform is where a
customer has one login: Taobao and Tmall share the Taobao account, the web shop's visitors and
Shopify orders are one site, WeCom and the mini-program are WeChat (`PLATFORMS`). Who is active on
several platforms is known only where the data shows it, so the rate is taken over the customers
the exports show on two or more platforms: persons linked across platforms, plus pairs of
single-platform persons on two platforms who hold a value (masked phone, full phone, name, address)
nobody else holds — plausibly one human, still split (one per pair). Customers whose accounts share
nothing at all are invisible to it, so it reads higher than the truth, and namesakes among the pairs
pull it down: docs/identity.md sets it beside the simulator's truth.
"""

from __future__ import annotations

import ibis

from flywheel.privacy import Gate
from flywheel.identity.evidence import node_of
from flywheel.identity.rare import account_values
from flywheel.warehouse import Warehouse

SIZE_BINS = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 10), (11, 20), (21, None))
#: Sources that share one customer login count as one platform; other sources are their own.
PLATFORMS = {"taobao": "taobao", "tmall": "taobao", "web": "webshop", "shopify": "webshop",
             "wecom": "wechat", "miniprogram": "wechat", "jd": "jd", "douyin": "douyin"}


def platform_of(source: ibis.Value) -> ibis.Value:
    return source.cases(*PLATFORMS.items(), else_=source)


def cross_platform(wh: Warehouse) -> dict:
    """Persons linked across platforms, single-platform persons that look split, and the rate."""
    placed = wh.table("person_accounts")
    placed = placed.mutate(platform=platform_of(placed.source), node=node_of(placed.source, placed.account_key))
    per_person = placed.group_by("person_id").agg(platforms=placed.platform.nunique())
    linked = int(per_person.filter(per_person.platforms >= 2).count().execute())
    single = per_person.filter(per_person.platforms == 1).select("person_id")
    values = account_values(wh)
    values = values.filter(values.kind.isin(["name", "masked", "phone"])).union(_addresses(wh))
    held = values.join(placed.select("node", "person_id", "platform"), "node").select(
        "person_id", "platform", "kind", "value").distinct()
    holders = held.group_by(["kind", "value"]).agg(persons=held.person_id.nunique(), platforms=held.platform.nunique())
    across = holders.filter((holders.persons == 2) & (holders.platforms == 2))
    apart = held.semi_join(across, ["kind", "value"]).semi_join(single, "person_id")
    left, right = apart.view(), apart.view()
    pairs = left.join(right, [left.kind == right.kind, left.value == right.value, left.person_id < right.person_id])
    split = int(pairs.select(a=left.person_id, b=right.person_id).distinct().count().execute())
    known = linked + split
    return {"persons_on_two_or_more_platforms": linked, "split_cross_platform_pairs": split,
            "cross_platform_match_rate": round(linked / known, 4) if known else None}


def _addresses(wh: Warehouse) -> ibis.Table:
    o = wh.table("orders")
    o = o.filter(o.receiver_address_hash.notnull())
    return o.select(node=node_of(o.source, o.account_key), kind=ibis.literal("address", "string"),
                    value=o.receiver_address_hash.cast("string"))


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
        **cross_platform(wh),
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
