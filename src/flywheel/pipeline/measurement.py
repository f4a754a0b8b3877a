"""The demo's measurement: attribution over every model, channel economics with the advisor, the
example journey's holdout as an experiment, tomorrow's budget — and, beside them, what the
simulator knows: the orders each channel truly caused (`truth/orders.csv`, `incremental_channel`)."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from pathlib import Path


def run_measurement(wh, data_dir: Path | None = None, progress=None) -> dict:
    """Everything the report's measurement section shows, computed once and stored where it is stored."""
    from flywheel.errors import InputError
    from flywheel.measure import (
        Window,
        analyze_experiment,
        channel_report,
        default_as_of,
        list_experiments,
        recommend,
        run_attribution,
        warehouse_arms,
    )

    window = Window(as_of=default_as_of(wh))
    attribution = run_attribution(wh, window, progress=progress)
    channels = channel_report(wh, attribution["run_id"], "markov")
    tests = {}
    for name, exp in list_experiments(wh).items():
        if exp.source == "journey":
            try:
                tests[name] = {m: analyze_experiment(wh, name, m) for m in ("fixed", "sequential", "bayesian")}
            except InputError as e:
                tests[name] = {"error": str(e)}
    try:
        arms, basis = warehouse_arms(wh, attribution["run_id"], "markov")
        budget = dict(recommend(arms, "rate", floor=0.02, max_change=0.1) if all(a.share is not None for a in arms)
                      else recommend(arms, "rate", floor=0.02), basis=basis)
    except InputError as e:
        budget = {"error": str(e)}
    out = {"attribution": attribution, "channels": channels, "experiments": tests, "budget": budget}
    if data_dir is not None and (Path(data_dir) / "truth" / "orders.csv").exists():
        out["truth"] = true_incremental_orders(Path(data_dir) / "truth", window.as_of)
    return out


def true_incremental_orders(truth_dir: Path, as_of: dt.datetime) -> dict:
    """GMV orders each channel caused (the simulator marks them) up to `as_of`, and its true effect per touch."""
    from flywheel.schema.orders import GMV_STATUSES

    counts: Counter[str] = Counter()
    cutoff = as_of.astimezone(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
    with open(truth_dir / "orders.csv", encoding="utf-8", newline="") as handle:
        for r in csv.DictReader(handle):
            channel = r.get("incremental_channel") or ""
            if channel and r["status"] in GMV_STATUSES and dt.datetime.fromisoformat(r["created_at"]) <= cutoff:
                counts[channel] += 1
    effects = {}
    with open(truth_dir / "channel_effects.csv", encoding="utf-8", newline="") as handle:
        for r in csv.DictReader(handle):
            effects[r["channel"]] = float(r["incremental_conversion_per_touchpoint"])
    return {"orders": {c: counts.get(c, 0) for c in effects}, "effect_per_touch": effects}
