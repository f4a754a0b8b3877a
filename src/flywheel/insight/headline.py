"""经营概览: GMV, net revenue, orders, buyers, AOV, repeat-purchase rate, new against returning buyers,
persons and the cross-platform link rate, blended LTV:CAC — for a period and some sources.

Definitions (also on the page):
- GMV counts the paid amount of GMV orders (`schema.orders.GMV_STATUSES`) placed in the period; net
  subtracts their refunds.
- AOV = GMV ÷ orders; 客单价 as Taobao reports it is GMV ÷ buyers (`gmv_per_buyer_cents`).
- Repeat-purchase rate (复购率) = buyers with two or more orders in the period ÷ buyers with one or more.
- A new buyer's first GMV order on any source falls in the period; the others are returning.
- Blended CAC = ad spend in the period ÷ new buyers; LTV = the mean predicted CLV of those new buyers.
- Persons and the link rate (persons with accounts on two or more sources) cover the whole warehouse.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis

from flywheel.insight.calendar import Period, calendar, check_grain, day_date, period_label
from flywheel.warehouse import Warehouse


def _days(wh: Warehouse, period: Period, sources: Sequence[str]) -> ibis.Table:
    d = wh.table("metric_person_days")
    d = d.filter(period.contains(d.day))
    if sources:
        d = d.filter(d.source.isin(list(sources)))
    return d


def data_days(wh: Warehouse) -> tuple[int | None, int | None]:
    """First and last day with data in the rollup."""
    d = wh.table("metric_person_days")
    row = wh.fetch(d.aggregate(first=d.day.min(), last=d.day.max())).to_pylist()[0]
    return row["first"], row["last"]


def default_period(wh: Warehouse, days: int = 30) -> Period:
    """The last `days` days of data (the console's default range)."""
    _, last = data_days(wh)
    if last is None:
        return Period()
    return Period(day_date(last - days + 1), day_date(last))


def _ratio(a, b) -> float | None:
    return None if not b else a / b


def overview(wh: Warehouse, period: Period, sources: Sequence[str] = (), grain: str | None = None) -> dict:
    """The overview's figures and its GMV/orders series per day, week or month (by the period's length)."""
    d = _days(wh, period, sources)
    sold = d.filter(d.orders > 0)
    per = sold.group_by("person_id").agg(orders=sold.orders.sum(), gmv=sold.gmv_cents.sum(),
                                         refund=sold.refund_cents.sum())
    p = wh.table("metric_persons").select("person_id", "first_order_day", "clv_cents")
    per = per.left_join(p, "person_id")
    is_new = period.contains(per.first_order_day).fill_null(False)
    totals = wh.fetch(per.aggregate(
        gmv_cents=per.gmv.sum(), refund_cents=per.refund.sum(), orders=per.orders.sum(), buyers=per.count(),
        repeat_buyers=per.count(where=per.orders >= 2), new_buyers=per.count(where=is_new),
        new_clv_cents=per.clv_cents.sum(where=is_new), new_scored=per.count(where=is_new & per.clv_cents.notnull()),
    )).to_pylist()[0]
    totals = {k: int(v or 0) for k, v in totals.items()}
    people = wh.table("metric_persons")
    reach = wh.fetch(people.aggregate(persons=people.count(), linked=people.count(where=people.sources >= 2),
                                      buyers_ever=people.count(where=people.orders > 0))).to_pylist()[0]
    spend = _spend(wh, period)
    buyers, new = totals["buyers"], totals["new_buyers"]
    cac = _ratio(spend, new)
    ltv = _ratio(totals["new_clv_cents"], totals["new_scored"])
    figures = {
        "gmv_cents": totals["gmv_cents"], "net_cents": totals["gmv_cents"] - totals["refund_cents"],
        "refund_cents": totals["refund_cents"], "orders": totals["orders"], "buyers": buyers,
        "aov_cents": round(totals["gmv_cents"] / totals["orders"]) if totals["orders"] else None,
        "gmv_per_buyer_cents": round(totals["gmv_cents"] / buyers) if buyers else None,
        "repeat_buyers": totals["repeat_buyers"], "repeat_rate": _ratio(totals["repeat_buyers"], buyers),
        "new_buyers": new, "returning_buyers": buyers - new,
        "persons": int(reach["persons"] or 0), "linked_persons": int(reach["linked"] or 0),
        "link_rate": _ratio(int(reach["linked"] or 0), int(reach["persons"] or 0)),
        "spend_cents": spend, "cac_cents": round(cac) if cac is not None else None,
        "ltv_cents": round(ltv) if ltv is not None else None,
        "ltv_cac": (ltv / cac) if ltv is not None and cac else None,
    }
    grain = check_grain(grain or _grain_for(wh, period))
    return {"period": period.as_json(), "sources": sorted(sources), "figures": figures,
            "grain": grain, "series": _series(wh, d, grain), "by_source": _by_source(wh, d)}


def _spend(wh: Warehouse, period: Period) -> int:
    s = wh.table("campaign_spend")
    if period.start:
        s = s.filter(s.day >= period.start)
    if period.end:
        s = s.filter(s.day <= period.end)
    return int(wh.fetch(s.aggregate(v=s.spend_cents.sum())).column(0)[0].as_py() or 0)


def _grain_for(wh: Warehouse, period: Period) -> str:
    first, last = period.days()
    if first is None or last is None:
        lo, hi = data_days(wh)
        first = first if first is not None else lo
        last = last if last is not None else hi
    span = (last - first + 1) if first is not None and last is not None else 0
    return "day" if span <= 62 else "week" if span <= 370 else "month"


def _series(wh: Warehouse, d: ibis.Table, grain: str) -> list[dict]:
    bounds = wh.fetch(d.aggregate(first=d.day.min(), last=d.day.max())).to_pylist()[0]
    if bounds["first"] is None:
        return []
    cal = calendar(bounds["first"], bounds["last"], grain)
    j = d.join(cal, "day")
    rows = wh.fetch(j.group_by("period").agg(
        gmv_cents=j.gmv_cents.sum(), orders=j.orders.sum(),
        buyers=j.person_id.nunique(where=j.orders > 0)).order_by("period")).to_pylist()
    return [{"period": period_label(r["period"], grain), "gmv_cents": int(r["gmv_cents"]), "orders": int(r["orders"]),
             "buyers": int(r["buyers"])} for r in rows]


def _by_source(wh: Warehouse, d: ibis.Table) -> list[dict]:
    rows = wh.fetch(d.group_by("source").agg(
        gmv_cents=d.gmv_cents.sum(), orders=d.orders.sum(), buyers=d.person_id.nunique(where=d.orders > 0),
        events=d.events.sum()).order_by(ibis.desc("gmv_cents"))).to_pylist()
    return [{k: (int(v) if k != "source" else v) for k, v in r.items()} for r in rows]


def sources(wh: Warehouse) -> list[str]:
    d = wh.table("metric_person_days")
    return sorted(wh.fetch(d.select("source").distinct()).column(0).to_pylist())

