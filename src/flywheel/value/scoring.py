"""`score()`: traits, tiers, RFM, clusters, CLV and value scores for every person, kept per run.

Each run appends to `person_scores` and `value_runs`, so the next run can compare: a person whose
potential value fell by more than `alert_drop` since the previous run gets a row in `value_alerts`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa

from flywheel.value.clusters import cluster_persons
from flywheel.errors import InputError
from flywheel.value.potential import PURCHASE_MODELS, predict_potential
from flywheel.value.rfm import rfm_scores
from flywheel.value.tiers import assign_tiers, load_tiers
from flywheel.value.traits import compute_traits, default_as_of
from flywheel.value.traits.purchases import purchases
from flywheel.value.traits.base import TraitContext
from flywheel.value.worth import ValueSettings, concentration, value_scores
from flywheel.warehouse import Warehouse

log = logging.getLogger(__name__)

STEPS = ("traits", "tiers", "rfm", "clusters", "clv", "values", "store")


@dataclass
class ScoreOptions:
    as_of: dt.datetime | None = None
    tiers_file: Path | None = None
    k: int = 8
    horizon_weeks: int = 52
    model: str = "mbgnbd"
    alert_drop: float = 0.20
    value: ValueSettings = field(default_factory=ValueSettings)


def _run_id(now: dt.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def _previous_run(wh: Warehouse) -> str | None:
    runs = wh.table("value_runs")
    latest = runs.order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(1).select("run_id")
    rows = wh.fetch(latest).column("run_id").to_pylist()
    return rows[0] if rows else None


def _alerts(wh: Warehouse, run_id: str, previous: str | None, scores: pd.DataFrame, drop: float) -> pd.DataFrame:
    if previous is None:
        return pd.DataFrame()
    before = wh.table("person_scores")
    before = before.filter(before.run_id == previous).select("person_id", previous_value="potential_value")
    before = wh.fetch(before).to_pandas().set_index("person_id")
    joined = scores.join(before, how="inner")
    joined = joined[(joined["previous_value"] > 0) & joined["potential_value"].notna()]
    share = (joined["previous_value"] - joined["potential_value"]) / joined["previous_value"]
    hit = joined[share > drop]
    return pd.DataFrame({
        "run_id": run_id, "person_id": hit.index, "previous_run_id": previous,
        "previous_value": hit["previous_value"].to_numpy(), "potential_value": hit["potential_value"].to_numpy(),
        "drop_share": share[share > drop].to_numpy(), "churn_probability": hit["churn_probability"].to_numpy(),
        "tier": hit["tier"].to_numpy(),
    })


def score(wh: Warehouse, options: ScoreOptions | None = None,
          progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Run every value step on the warehouse; returns the run's summary (also stored in value_runs)."""
    options = options or ScoreOptions()
    tick = progress or (lambda step, done, total: None)
    started = dt.datetime.now(dt.timezone.utc)
    run_id = _run_id(started)
    rules = load_tiers(options.tiers_file)  # fail on a bad file or option before any work
    if options.model not in PURCHASE_MODELS:
        raise InputError(f"purchase model must be one of {', '.join(PURCHASE_MODELS)}. Got {options.model!r}.")
    as_of = options.as_of or default_as_of(wh)
    previous = _previous_run(wh)

    tick("traits", 0, len(STEPS))
    traits = compute_traits(wh, as_of, run_id).to_pandas().set_index("person_id")
    tick("tiers", 1, len(STEPS))
    tiers = wh.fetch(assign_tiers(wh.table("person_traits"), rules)).to_pandas().set_index("person_id")
    scores = pd.DataFrame(index=traits.index)
    scores["tier"] = tiers["tier"].reindex(traits.index)
    tick("rfm", 2, len(STEPS))
    scores = scores.join(rfm_scores(traits))
    tick("clusters", 3, len(STEPS))
    clusters = cluster_persons(traits, options.k)
    scores["cluster"] = clusters.labels
    scores["cluster_label"] = [clusters.descriptions[c] for c in clusters.labels]
    tick("clv", 4, len(STEPS))
    ctx = TraitContext.create(wh, as_of)
    tx = wh.fetch(purchases(ctx).select("person_id", "created_at", "paid")).to_pandas()
    potential = predict_potential(tx, as_of, wh.settings.timezone, options.horizon_weeks,
                                  model=options.model)
    scores = scores.join(potential.frame.drop(columns="potential_value"), how="left")
    tick("values", 5, len(STEPS))
    scores = scores.join(value_scores(traits, potential.frame["potential_value"].reindex(traits.index),
                                      options.value))
    tick("store", 6, len(STEPS))
    alerts = _alerts(wh, run_id, previous, scores, options.alert_drop)
    summary = _summary(traits, scores, clusters, potential, rules, options, run_id, as_of, alerts)
    _store(wh, run_id, as_of, started, scores, alerts, summary, rules, options, potential.models)
    tick("done", len(STEPS), len(STEPS))
    return summary


def _summary(traits, scores, clusters, potential, rules, options, run_id, as_of, alerts) -> dict:
    gmv = traits["gmv"]
    tier_rows = []
    for tier in rules.tiers:
        members = scores.index[scores["tier"] == tier.name]
        tier_rows.append({"tier": tier.name, "description": tier.description, "persons": len(members),
                          "gmv": round(float(gmv.reindex(members).sum()), 2),
                          "gmv_share": float(gmv.reindex(members).sum() / gmv.sum()) if gmv.sum() else 0.0})
    p = scores["p_alive"]
    return {
        "run_id": run_id, "as_of": as_of.isoformat(), "persons": int(len(traits)),
        "buyers": int((traits["orders"] > 0).sum()), "traits": int(traits.shape[1] - 2),
        "tiers": tier_rows,
        "rfm_segments": {k: int(v) for k, v in scores["rfm_segment"].value_counts().items()},
        "lifecycle": {k: int(v) for k, v in traits["lifecycle_stage"].value_counts().items()},
        "clusters": [{"cluster": c, "persons": clusters.sizes[c], "description": clusters.descriptions[c]}
                     for c in sorted(clusters.sizes)],
        "clv": {"models": potential.models, "holdout": potential.holdout,
                "total": float(scores["potential_value"].sum()),
                "mean_p_alive": float(p.mean()) if p.notna().any() else None},
        "concentration": concentration(gmv),
        "high_potential_low_activity": int(scores["high_potential_low_activity"].sum()),
        "kocs": int(scores["is_koc"].sum()),
        "alerts": int(len(alerts)),
        "weights": dict(zip(("current", "potential", "social", "content"), options.value.weights)),
    }


def _store(wh, run_id, as_of, started, scores, alerts, summary, rules, options, models) -> None:
    rows = scores.reset_index().assign(run_id=run_id, as_of=pd.Timestamp(as_of))
    wh.append("person_scores", pa.Table.from_pandas(rows, preserve_index=False))
    if len(alerts):
        wh.append("value_alerts", pa.Table.from_pandas(alerts, preserve_index=False))
    settings = {"k": options.k, "model": options.model, "horizon_weeks": options.horizon_weeks, "alert_drop": options.alert_drop,
                "value": options.value.__dict__}
    record = {
        "run_id": [run_id], "as_of": [as_of], "started_at": [started],
        "finished_at": [dt.datetime.now(dt.timezone.utc)], "engine": [wh.engine.name],
        "persons": [summary["persons"]], "buyers": [summary["buyers"]],
        "tiers_file": [f"{rules.source} sha256:{rules.sha256}"],
        "settings": [json.dumps(settings, default=list)], "models": [json.dumps(models)],
        "summary": [json.dumps(summary)],
    }
    wh.append("value_runs", pa.table(record))
