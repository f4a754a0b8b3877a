"""The console's rollups: what the pipeline pre-aggregates so no page or API call scans raw events.

- `metric_person_days`: per person, merchant-calendar day and source — GMV orders, paid and refunded
  cents, events. Overview and retention read only this (≈ one row per active person-day).
- `metric_persons`: per person — sources linked, first order day, first active day, orders, CLV.
- `metric_funnel_events`: track events resolved to persons, narrowed to name and time, stored in
  event order (a step's filter skips the other events' row groups): a funnel's steps are chosen when
  it is asked, so it needs every occurrence, but not the events' JSON.

A build replaces all three (a full rebuild is one pass over orders and events; the rollups are
derived data, erased with the person like the rest). Every expression is Ibis (DuckDB and Spark).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import ibis
import pyarrow as pa

from flywheel.insight.calendar import local_day, offset_seconds
from flywheel.insight.valuation import latest_value_run, value_cells
from flywheel.privacy import person_consents
from flywheel.schema.orders import GMV_STATUSES
from flywheel.warehouse import Warehouse, account_persons

ROLLUPS = ("metric_person_days", "metric_persons", "metric_funnel_events", "metric_value_cells", "metric_consents", "metric_events")


def _events(wh: Warehouse, accounts: ibis.Table) -> ibis.Table:
    e = wh.table("events")
    e = e.filter(e.timestamp.notnull()).mutate(
        account_key=ibis.coalesce(e.user_id, ibis.literal("anon:") + e.anonymous_id))
    return e.join(accounts, ["source", "account_key"])


def person_days(wh: Warehouse, accounts: ibis.Table, offset: int) -> ibis.Table:
    o = wh.table("orders")
    o = o.filter(o.status.isin(GMV_STATUSES)).join(accounts, ["source", "account_key"])
    zero = ibis.literal(0, type="int64")
    sold = o.group_by(["person_id", "source", o.created_at.pipe(local_day, offset).name("day")]).agg(
        orders=o.count().cast("int64"), gmv_cents=o.paid_cents.sum().cast("int64"),
        refund_cents=o.refund_cents.fill_null(0).sum().cast("int64")).mutate(events=zero)
    e = _events(wh, accounts)
    active = e.group_by(["person_id", "source", e.timestamp.pipe(local_day, offset).name("day")]).agg(
        events=e.count().cast("int64")).mutate(orders=zero, gmv_cents=zero, refund_cents=zero)
    cols = ["person_id", "day", "source", "orders", "gmv_cents", "refund_cents", "events"]
    both = sold.select(cols).union(active.select(cols))
    return both.group_by(["person_id", "day", "source"]).agg(
        orders=both.orders.sum(), gmv_cents=both.gmv_cents.sum(), refund_cents=both.refund_cents.sum(),
        events=both.events.sum())


def persons(wh: Warehouse, accounts: ibis.Table, days: ibis.Table) -> ibis.Table:
    linked = accounts.group_by("person_id").agg(sources=accounts.source.nunique().cast("int64"))
    seen = days.group_by("person_id").agg(
        first_order_day=days.day.min(where=days.orders > 0), first_active_day=days.day.min(),
        orders=days.orders.sum())
    s = wh.table("person_scores")
    runs = wh.table("value_runs")
    latest = runs.order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(1).select("run_id")
    clv = s.semi_join(latest, "run_id").select(
        "person_id", clv_cents=(s.potential_value * 100).round().cast("int64"))
    j = linked.left_join(seen, "person_id").left_join(clv, "person_id")
    return j.select("person_id", "sources", "first_order_day", "first_active_day",
                    orders=j.orders.fill_null(0).cast("int64"), clv_cents=j.clv_cents)


def funnel_rows(wh: Warehouse, accounts: ibis.Table, offset: int) -> ibis.Table:
    e = _events(wh, accounts)
    e = e.filter((e.type == "track") & e.event.notnull())
    return e.select("person_id", "event", at=e.timestamp.epoch_seconds().floor().cast("int64"),
                    day=e.timestamp.pipe(local_day, offset)).distinct()


def build_rollups(wh: Warehouse, now: dt.datetime | None = None) -> dict:
    """Rebuild the rollups from the warehouse; returns the `metric_builds` record."""
    started = time.monotonic()
    now = now or dt.datetime.now(dt.timezone.utc)
    offset = offset_seconds(wh.settings.tz, now)
    accounts = wh.materialize("insight_accounts", account_persons(wh))
    try:
        n_days = wh.replace("metric_person_days", person_days(wh, accounts, offset))
        n_persons = wh.replace("metric_persons", persons(wh, accounts, wh.table("metric_person_days")))
        n_funnel = wh.replace("metric_funnel_events", funnel_rows(wh, accounts, offset).order_by(["event", "at"]))
        f = wh.table("metric_funnel_events")
        wh.replace("metric_events", f.group_by("event").agg(events=f.count().cast("int64"),
                                                            persons=f.person_id.nunique().cast("int64")))
        c = person_consents(wh, accounts=accounts)
        wh.replace("metric_consents", c.group_by(["purpose", "status"]).agg(persons=c.count().cast("int64")))
        run = latest_value_run(wh)
        if run is not None:
            wh.replace("metric_value_cells", value_cells(wh, run["run_id"]))
    finally:
        wh.engine.drop_materialized(wh.con, "_work_insight_accounts")
    record = {"build_id": uuid.uuid4().hex[:12], "built_at": now, "data_mark": _data_mark(wh),
              "timezone": wh.settings.timezone, "person_days": n_days, "persons": n_persons,
              "funnel_events": n_funnel, "seconds": round(time.monotonic() - started, 3)}
    wh.append("metric_builds", pa.Table.from_pylist([record]))
    return record


def _data_mark(wh: Warehouse) -> dt.datetime | None:
    o, e = wh.table("orders"), wh.table("events")
    marks = [wh.fetch(o.aggregate(m=o.created_at.max())).column(0)[0].as_py(),
             wh.fetch(e.aggregate(m=e.timestamp.max())).column(0)[0].as_py()]
    marks = [m for m in marks if m is not None]
    return max(marks) if marks else None


def rollup_status(wh: Warehouse) -> dict | None:
    """The latest build (None: never built — the console says to run `flywheel insight build`)."""
    b = wh.table("metric_builds")
    rows = wh.fetch(b.order_by(ibis.desc("built_at")).limit(1)).to_pylist()
    return rows[0] if rows else None
