"""留存: cohorts by the week or month of a person's first purchase (or first activity), and the share
of each cohort active again in each later period.

Semantics (also on the page):
- basis `purchase`: the cohort is the period of the first GMV order; a person counts in period k if
  they placed a GMV order in the cohort's period + k. basis `event`: the first order or event, and
  any order or event.
- Column 0 is the cohort itself: 100% by definition.
- A later period counts only once it has ended on or before the last day of data; periods not yet
  elapsed are blank (None), never 0%.
"""

from __future__ import annotations

from flywheel.errors import InputError
from flywheel.insight.calendar import calendar, check_grain, day_date, period_label, period_of, period_start
from flywheel.warehouse import Warehouse

BASES = ("purchase", "event")


def retention(wh: Warehouse, grain: str = "month", basis: str = "purchase", cohorts: int = 12,
              periods: int = 12) -> dict:
    check_grain(grain)
    if grain == "day":
        raise InputError("grain 'day': retention uses week or month")
    if basis not in BASES:
        raise InputError(f"basis {basis!r}: use purchase or event")
    p = wh.table("metric_persons")
    first = p.first_order_day if basis == "purchase" else p.first_active_day
    d = wh.table("metric_person_days")
    if basis == "purchase":
        d = d.filter(d.orders > 0)
    bounds = wh.fetch(d.aggregate(first=d.day.min(), last=d.day.max())).to_pylist()[0]
    base = {"grain": grain, "basis": basis, "as_of": None, "cohorts": []}
    if bounds["first"] is None:
        return base
    last_day = bounds["last"]
    cal = calendar(bounds["first"], last_day, grain)
    members = p.filter(first.notnull()).select("person_id", day=first)
    members = members.join(cal, "day").select("person_id", cohort=cal.period)
    active = d.select("person_id", "day").distinct()
    active = active.join(cal, "day").select("person_id", "period").distinct()
    j = active.join(members, "person_id")
    j = j.mutate(k=j.period - j.cohort).filter(lambda t: (t.k >= 0) & (t.k <= periods))
    cells = wh.fetch(j.group_by(["cohort", "k"]).agg(persons=j.count())).to_pylist()
    sizes = {r["cohort"]: r["persons"] for r in wh.fetch(members.group_by("cohort").agg(persons=members.count()))
             .to_pylist()}
    last_period = period_of(last_day, grain)
    ended = last_period if _ends_on(last_day, grain) else last_period - 1
    counts = {(r["cohort"], r["k"]): r["persons"] for r in cells}
    rows = []
    for cohort in sorted(sizes)[-cohorts:]:
        size = sizes[cohort]
        row = []
        for k in range(periods + 1):
            if k > 0 and cohort + k > ended:
                row.append(None)
                continue
            n = counts.get((cohort, k), 0)
            row.append({"persons": n, "rate": n / size})
        rows.append({"cohort": period_label(cohort, grain), "start": period_start(cohort, grain).isoformat(),
                     "size": size, "cells": row})
    return base | {"as_of": day_date(last_day).isoformat(), "periods": periods, "cohorts": rows}


def _ends_on(day: int, grain: str) -> bool:
    """The day is the last of its week or month."""
    return period_of(day + 1, grain) != period_of(day, grain)

