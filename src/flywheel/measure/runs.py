"""`flywheel attribution run`: every model over the warehouse's paths, stored per channel, campaign and day.

Rule-based models weigh each touch inside the warehouse. Markov and Shapley need the aggregated
paths (one row per distinct path, fetched), credit channels, and their credit is spread over a
channel's campaigns and days as the channel's linear credit is: the chain has no campaign or day
state of its own. Value credits are whole cents that add up to the attributed value exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import uuid
from collections import defaultdict
from decimal import Decimal

import pyarrow as pa

from flywheel.errors import InputError
from flywheel.measure import touches as tq
from flywheel.measure.models import EXACT_SHAPLEY_MAX, attribute
from flywheel.measure.paths import Paths

PATH_MODELS = ("markov", "shapley", "shapley_exact")
RUN_MODELS = tq.RULE_MODELS + PATH_MODELS
DEFAULT_MODELS = tq.RULE_MODELS + ("markov", "shapley")
_MEASURES = ("conversions", "value", "new", "clv", "scored")


def parse_models(text: str) -> tuple[str, ...]:
    """`all`, or a comma list of models."""
    if text.strip() == "all":
        return DEFAULT_MODELS
    models = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in models if m not in RUN_MODELS]
    if unknown or not models:
        raise InputError(f"--models: unknown model {', '.join(unknown) or '(none)'}; `all` or a comma list of "
                         f"{', '.join(RUN_MODELS)}")
    return models


def run_attribution(wh, window: tq.Window, models: tuple[str, ...] = DEFAULT_MODELS, order: int = 1,
                    progress=None) -> dict:
    """Run `models` over the conversions `window` selects, store them, and return the run."""
    if window.window_days <= 0:
        raise InputError(f"--window must be a positive number of days; got {window.window_days:g}")
    if window.conversions not in ("every", "first"):
        raise InputError(f"--conversions is every or first; got {window.conversions!r}")
    if window.value not in ("paid", "clv"):
        raise InputError(f"--value is paid or clv; got {window.value!r}")
    started, clock = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    step = _stepper(progress, 5)
    clv = _clv(wh)
    if window.value == "clv" and clv is None:
        raise InputError("--value clv needs a scoring run: run `flywheel value score` first")
    t = tq.touches(wh, window.journeys)
    c = tq.conversions(wh, window, clv)
    a = wh.materialize("attribution_assigned", tq.assigned(t, c, window))
    try:
        step("counting conversions")
        totals = wh.fetch(c.aggregate(conversions=c.count())).to_pylist()[0]
        per_conv = a.group_by("conv_id").agg(value_cents=a.value_cents.max())
        attributed = wh.fetch(per_conv.aggregate(n=per_conv.count(), value=per_conv.value_cents.sum())).to_pylist()[0]
        step("rule-based credits")
        offset = int((window.as_of.astimezone(wh.settings.tz).utcoffset() or dt.timedelta(0)).total_seconds())
        rules = wh.fetch(tq.rule_credits(a, window, offset)).to_pylist()
        proof = {r["channel"]: {k: (round(v, 2) if isinstance(v, float) else int(v or 0)) for k, v in r.items()
                                if k != "channel"}
                 for r in wh.fetch(tq.evidence(t, a, window)).to_pylist()}
        step("aggregating paths")
        paths = _paths(wh, t, a, window)
        step("path models")
        credits, summaries = {}, {}
        for m in models:
            if m in tq.RULE_MODELS:
                credits[m] = _rule_rows(rules, m)
                summaries[m] = {}
            elif m == "shapley_exact" and len(paths.channels) > EXACT_SHAPLEY_MAX:
                summaries[m] = {"skipped": f"{len(paths.channels)} channels; the exact Shapley value is computed "
                                           f"for at most {EXACT_SHAPLEY_MAX}"}
                credits[m] = []
            else:
                result = attribute(paths, m, order) if paths.touches and paths.total_conversions else None
                credits[m] = _spread(rules, result) if result else []
                summaries[m] = {"removal_effects": result["removal_effects"],
                                "conversion_probability": result["conversion_probability"]} if result else {}
        total_value = int(attributed["value"] or 0)
        for m in models:
            _whole_cents(credits[m], total_value)
        step("storing")
        run_id = f"attr-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        result = _result(run_id, window, order, models, totals, attributed, paths, credits, summaries,
                         wh.engine.name, time.perf_counter() - clock)
        result["evidence"] = dict(sorted(proof.items()))
        _store(wh, run_id, started, window, order, result, credits)
        return result
    finally:
        wh.drop_work()


def _stepper(progress, total: int):
    done = [0]

    def step(label: str) -> None:
        done[0] += 1
        if progress:
            progress(label, done[0], total)

    return step


def _clv(wh):
    """`person_id, clv_cents` of the latest scoring run, or None before the first."""
    runs = wh.table("value_runs")
    latest = wh.fetch(runs.order_by(runs.as_of.desc(), runs.run_id.desc()).select("run_id").limit(1)).to_pylist()
    if not latest:
        return None
    s = wh.table("person_scores")
    s = s.filter(s.run_id == latest[0]["run_id"])
    return s.select("person_id", clv_cents=(s.potential_value.fill_null(0) * 100).round().cast("int64"))


def _paths(wh, t, a, window: tq.Window) -> Paths:
    firsts = tq.first_orders(wh) if window.conversions == "first" else None
    merged: dict[str, list] = defaultdict(lambda: [0, 0, 0])
    for r in wh.fetch(tq.converting_paths(a)).to_pylist():
        merged[r["path"]][0] += int(r["conversions"])
        merged[r["path"]][2] += int(r["value_cents"] or 0)
    for r in wh.fetch(tq.null_paths(t, a, window, firsts)).to_pylist():
        merged[r["path"]][1] += int(r["nulls"])
    paths = Paths(has_nulls=True, has_values=True)
    for path, (conv, nulls, cents) in sorted(merged.items()):
        paths.add(tuple(path.split(tq.PATH_SEP)), conv, nulls, Decimal(cents) / 100)
    return paths


def _rule_rows(rules: list[dict], model: str) -> list[dict]:
    return [{"channel": r["channel"], "campaign_id": r["campaign_id"], "day_n": r["day_n"],
             **{k: float(r[f"{model}__{k}"] or 0.0) for k in _MEASURES}}
            for r in rules if r[f"{model}__conversions"]]


def _spread(rules: list[dict], result: dict) -> list[dict]:
    """A path model's channel credits over campaigns and days, in proportion to linear credit."""
    linear = _rule_rows(rules, "linear")
    by_channel: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(_MEASURES, 0.0))
    for r in linear:
        for k in _MEASURES:
            by_channel[r["channel"]][k] += r[k]
    rows = []
    for r in linear:
        ch = by_channel[r["channel"]]
        credit = result["credits"].get(r["channel"], 0.0)
        value = result["value_credits"].get(r["channel"], 0.0) * 100
        scale = credit / ch["conversions"] if ch["conversions"] else 0.0
        rows.append({"channel": r["channel"], "campaign_id": r["campaign_id"], "day_n": r["day_n"],
                     "conversions": credit * r["conversions"] / ch["conversions"] if ch["conversions"] else 0.0,
                     "value": value * r["value"] / ch["value"] if ch["value"] else 0.0,
                     "new": r["new"] * scale, "clv": r["clv"] * scale, "scored": r["scored"] * scale})
    return rows


def _whole_cents(rows: list[dict], total: int) -> None:
    """Round value credits to cents by largest remainder so they add up to `total` exactly."""
    if not rows:
        return
    floors = [math.floor(r["value"]) for r in rows]
    short = total - sum(floors)
    order = sorted(range(len(rows)), key=lambda i: rows[i]["value"] - floors[i], reverse=True)
    for n in range(abs(short)):
        i = order[n % len(rows)] if short > 0 else order[-1 - n % len(rows)]
        floors[i] += 1 if short > 0 else -1
    for r, cents in zip(rows, floors):
        r["value_cents"] = cents
    for r in rows:
        r["clv_cents"] = int(round(r["clv"]))


def _per_channel(rows: list[dict], key: str, scale: float = 1.0) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for r in rows:
        out[r["channel"]] += r[key] * scale
    return dict(sorted(out.items()))


def _result(run_id, window, order, models, totals, attributed, paths, credits, summaries, engine, seconds) -> dict:
    out = {}
    for m in models:
        rows = credits[m]
        out[m] = {"credits": {k: round(v, 6) for k, v in _per_channel(rows, "conversions").items()},
                  "value_credits": {k: round(v / 100, 2) for k, v in _per_channel(rows, "value_cents").items()},
                  "new_customers": {k: round(v, 6) for k, v in _per_channel(rows, "new").items()},
                  **summaries[m]}
    return {"run_id": run_id, "as_of": window.as_of.isoformat(), "window_days": window.window_days,
            "lookback_days": window.lookback_days, "conversions_basis": window.conversions,
            "value_basis": window.value, "order": order,
            "conversions": {"total": int(totals["conversions"]), "attributed": int(attributed["n"] or 0),
                            "unattributed": int(totals["conversions"]) - int(attributed["n"] or 0)},
            "attributed_value": round(int(attributed["value"] or 0) / 100, 2),
            "paths": {"distinct": len(paths.touches), "channels": len(paths.channels),
                      "null": int(sum(paths.nulls))},
            "models": out, "engine": engine, "seconds": round(seconds, 3)}


def _store(wh, run_id: str, started: dt.datetime, window: tq.Window, order: int, result: dict,
           credits: dict[str, list[dict]]) -> None:
    epoch_day = dt.date(1970, 1, 1)
    settings = {"window_days": window.window_days, "lookback_days": window.lookback_days,
                "conversions": window.conversions, "value": window.value, "order": order,
                "half_life_days": window.half_life_days, "journeys": window.journeys}
    runs, rows = [], []
    for m, summary in result["models"].items():
        runs.append({"run_id": run_id, "model": m, "started_at": started, "as_of": window.as_of,
                     "window_days": window.window_days, "lookback_days": window.lookback_days,
                     "conversions_basis": window.conversions, "value_basis": window.value,
                     "conversions": float(result["conversions"]["total"]),
                     "attributed": float(result["conversions"]["attributed"]),
                     "null_paths": result["paths"]["null"], "engine": result["engine"],
                     "settings": json.dumps(settings),
                     "summary": json.dumps(dict(summary, evidence=result["evidence"]), ensure_ascii=False)})
        rows += [{"run_id": run_id, "model": m, "channel": r["channel"], "campaign_id": r["campaign_id"],
                  "day": epoch_day + dt.timedelta(days=int(r["day_n"])), "conversions": r["conversions"],
                  "value_cents": r["value_cents"], "new_customers": r["new"],
                  "acquired_clv_cents": r["clv_cents"], "acquired_scored": r["scored"]} for r in credits[m]]
    with wh.transaction():
        wh.append("attribution_runs", pa.Table.from_pylist(runs))
        if rows:
            wh.append("attribution_credits", pa.Table.from_pylist(rows))


def latest_run(wh) -> str | None:
    """Id of the newest stored attribution run."""
    r = wh.table("attribution_runs")
    rows = wh.fetch(r.order_by(r.started_at.desc(), r.run_id.desc()).select("run_id").limit(1)).to_pylist()
    return rows[0]["run_id"] if rows else None


def default_as_of(wh) -> dt.datetime:
    """The latest order or touch in the warehouse (the end of the data), or now."""
    o, t = wh.table("orders"), wh.table("touchpoints")
    ends = [v for v in (wh.fetch(o.aggregate(m=o.created_at.max())).to_pylist()[0]["m"],
                        wh.fetch(t.aggregate(m=t.occurred_at.max())).to_pylist()[0]["m"]) if v is not None]
    if not ends:
        return dt.datetime.now(dt.timezone.utc)
    end = max(ends)
    return end if end.tzinfo else end.replace(tzinfo=dt.timezone.utc)
