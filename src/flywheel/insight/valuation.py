"""价值分层: the value page's distributions, aggregated from the latest scoring run at build time.

Tiers, concentration and clusters are already summarised in `value_runs.summary` by the scoring
run; what it leaves per person — CLV and P(alive) — is banded here so the page reads a few dozen rows.
"""

from __future__ import annotations

import json

import ibis

from flywheel.warehouse import Warehouse

CLV_BANDS = (0, 50, 100, 200, 500, 1000, 2000, 5000)
RECENCY_BANDS = (0, 30, 60, 90, 180, 270, 365, 540)
FREQUENCY_CAP = 8


def latest_value_run(wh: Warehouse) -> dict | None:
    runs = wh.table("value_runs")
    rows = wh.fetch(runs.order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(1)).to_pylist()
    return rows[0] if rows else None


def _band(value: ibis.Value, edges: tuple[int, ...], unit: str = "") -> ibis.Value:
    """`lo–hi` labels (the last is `lo+`), sortable by their numeric start."""
    branches = [(value < edges[i + 1], ibis.literal(f"{edges[i]}–{edges[i + 1]}{unit}"))
                for i in range(len(edges) - 1)]
    return ibis.cases(*branches, else_=ibis.literal(f"{edges[-1]}+{unit}"))


def value_cells(wh: Warehouse, run_id: str) -> ibis.Table:
    s = wh.table("person_scores")
    s = s.filter(s.run_id == run_id)
    buyers = s.filter(s.potential_value.notnull())
    clv = buyers.group_by(x=_band(buyers.potential_value, CLV_BANDS)).agg(
        persons=buyers.count(), total=buyers.potential_value.sum()).mutate(
        kind=ibis.literal("clv_band"), y=ibis.literal(""))
    t = wh.table("person_traits").select("person_id", "recency_days", "purchase_days")
    j = s.filter(s.p_alive.notnull()).join(t, "person_id")
    j = j.filter(j.recency_days.notnull() & j.purchase_days.notnull())
    freq = ibis.cases((j.purchase_days >= FREQUENCY_CAP, ibis.literal(f"{FREQUENCY_CAP}+")),
                      else_=j.purchase_days.cast("int64").cast("string"))
    alive = j.group_by(x=_band(j.recency_days, RECENCY_BANDS), y=freq).agg(
        persons=j.count(), total=j.p_alive.sum()).mutate(kind=ibis.literal("alive"))
    cols = ["kind", "x", "y", "persons", "total"]
    return clv.select(cols).union(alive.select(cols)).mutate(run_id=ibis.literal(run_id))


def value_summary(wh: Warehouse) -> dict | None:
    """The latest run's own summary (tiers, concentration, clusters, CLV totals) and the banded cells."""
    run = latest_value_run(wh)
    if run is None:
        return None
    cells = wh.table("metric_value_cells")
    rows = wh.fetch(cells.filter(cells.run_id == run["run_id"])).to_pylist()
    summary = json.loads(run["summary"]) if run.get("summary") else {}
    start = {label: i for i, label in enumerate(f"{a}–{b}" for a, b in zip(CLV_BANDS, CLV_BANDS[1:]))}
    start[f"{CLV_BANDS[-1]}+"] = len(CLV_BANDS)
    clv = sorted((r for r in rows if r["kind"] == "clv_band"), key=lambda r: start.get(r["x"], 99))
    recency = [f"{a}–{b}" for a, b in zip(RECENCY_BANDS, RECENCY_BANDS[1:])] + [f"{RECENCY_BANDS[-1]}+"]
    frequency = [str(n) for n in range(1, FREQUENCY_CAP)] + [f"{FREQUENCY_CAP}+"]
    alive = {(r["x"], r["y"]): r for r in rows if r["kind"] == "alive"}
    return {"run_id": run["run_id"], "as_of": run.get("as_of"), "summary": summary,
            "clv_bands": [{"band": r["x"], "persons": r["persons"], "clv_yuan": r["total"]} for r in clv],
            "alive": {"recency": recency, "frequency": frequency,
                      "cells": [{"recency": x, "frequency": y, "persons": c["persons"],
                                 "p_alive": c["total"] / c["persons"] if c["persons"] else None}
                                for (x, y), c in alive.items()]},
            "built": bool(rows)}
