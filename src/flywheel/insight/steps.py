"""漏斗: ordered steps over track events, each within a window from the person's step-1 time.

Semantics (also on the page):
- Step 1 is the person's first step-1 event on a day in the period; the period filters step 1 only.
- Step k (k ≥ 2) is the first step-k event at or after step k−1 (strictly after, when both steps
  are the same event) and at most `window_days` days after step 1. Events before step k−1 do
  not count, so steps done out of order do not convert.
- Conversion = persons reaching the step ÷ persons at step 1; step conversion ÷ the step before;
  drop-off = persons at the step before who did not reach it; times are medians in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis

from flywheel.errors import InputError
from flywheel.insight.calendar import DAY, Period
from flywheel.warehouse import Warehouse

MAX_STEPS = 8


def funnel_events(wh: Warehouse, limit: int = 200) -> list[dict]:
    """Track event names with their counts, most frequent first (the step picker)."""
    e = wh.table("metric_events")
    return wh.fetch(e.order_by([ibis.desc("events"), "event"]).limit(limit)).to_pylist()


def _check(wh: Warehouse, steps: Sequence[str], window_days: float) -> list[str]:
    steps = [s.strip() for s in steps if s and s.strip()]
    if not 2 <= len(steps) <= MAX_STEPS:
        raise InputError(f"steps: give 2 to {MAX_STEPS} event names, got {len(steps)}")
    if not 0 < window_days <= 365:
        raise InputError(f"window_days {window_days!r}: use a number of days above 0 and at most 365")
    e = wh.table("metric_events")
    known = set(wh.fetch(e.filter(e.event.isin(steps)).select("event")).column(0).to_pylist())
    for i, s in enumerate(steps, 1):
        if s not in known:
            raise InputError(f"step {i}: no track event named {s!r} in the warehouse")
    return steps


def funnel(wh: Warehouse, steps: Sequence[str], period: Period = Period(), window_days: float = 14) -> dict:
    steps = _check(wh, steps, window_days)
    window = int(round(window_days * DAY))
    f = wh.table("metric_funnel_events")
    first = f.filter((f.event == steps[0]) & period.contains(f.day))
    wide = first.group_by("person_id").agg(t0=first.at.min())
    for k in range(1, len(steps)):
        ev = f.filter(f.event == steps[k]).select("person_id", at_k="at")
        prev = wide[f"t{k - 1}"]
        after = ev.at_k > prev if steps[k] == steps[k - 1] else ev.at_k >= prev
        reach = wide.join(ev, "person_id").filter(after & (ev.at_k <= wide.t0 + window))
        reach = reach.group_by("person_id").agg(**{f"t{k}": reach.at_k.min()})
        wide = wide.left_join(reach, "person_id").drop("person_id_right")
    aggs = {"n0": wide.count()}
    for k in range(1, len(steps)):
        t, prev = wide[f"t{k}"], wide[f"t{k - 1}"]
        aggs[f"n{k}"] = wide.count(where=t.notnull())
        aggs[f"total{k}"] = (t - wide.t0).median()
        aggs[f"step{k}"] = (t - prev).median()
    row = wh.fetch(wide.aggregate(**aggs)).to_pylist()[0]
    start = int(row["n0"] or 0)
    out, before = [], start
    for k, name in enumerate(steps):
        n = int(row[f"n{k}"] or 0)
        out.append({"step": k + 1, "event": name, "persons": n,
                    "conversion": (n / start) if start else None,
                    "step_conversion": (n / before) if before else None,
                    "dropped": before - n if k else 0,
                    "median_seconds_from_start": _num(row.get(f"total{k}")) if k else None,
                    "median_seconds_from_previous": _num(row.get(f"step{k}")) if k else None})
        before = n
    return {"steps": out, "period": period.as_json(), "window_days": window_days,
            "converted": out[-1]["persons"], "conversion": out[-1]["conversion"]}


def _num(v) -> float | None:
    return None if v is None else float(v)
