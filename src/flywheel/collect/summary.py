"""What has been collected: volume per source, orders and GMV over time, repeat purchase, quarantine.

Every figure is one Ibis expression, so the same summary runs on DuckDB and Spark.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

import ibis

from flywheel.schema.orders import GMV_STATUSES
from flywheel.warehouse import Warehouse

VOLUME_TABLES = ("accounts", "identifiers", "orders", "order_items", "events", "touchpoints",
                 "campaign_spend", "referrals", "reviews", "consents")


@dataclass
class CollectSummary:
    volume: list[dict]
    """Rows per table and source."""
    monthly: list[dict]
    """Paid orders, GMV and net revenue (cents) per month (merchant time zone) and source."""
    repeat: list[dict]
    """Buying accounts and the share with two or more paid orders, per source."""
    quarantine: list[dict]
    """Quarantined rows by reason and action."""
    totals: dict

    def as_json(self) -> dict:
        return asdict(self)


def volume(wh: Warehouse) -> list[dict]:
    parts = []
    for name in VOLUME_TABLES:
        t = wh.table(name)
        src = t.source.cast("string") if "source" in t.columns else ibis.literal("-", type="string")
        parts.append(t.group_by(source=src).agg(rows=ibis._.count()).mutate(table=ibis.literal(name)))
    expr = parts[0].union(*parts[1:]).order_by(["table", "source"])
    return expr.to_pyarrow().to_pylist()


def paid_orders(wh: Warehouse) -> ibis.Table:
    o = wh.table("orders")
    return o.filter(o.status.isin(GMV_STATUSES))


def monthly(wh: Warehouse) -> list[dict]:
    o = paid_orders(wh)
    shift = ibis.interval(hours=_utc_offset_hours(wh.settings.timezone))
    local = (o.created_at.cast("timestamp") + shift).strftime("%Y-%m")
    expr = (
        o.group_by(month=local, source=o.source)
        .agg(orders=ibis._.count(), gmv_cents=o.paid_cents.sum(),
             net_cents=(o.paid_cents - o.refund_cents.fill_null(0)).sum())
        .order_by(["month", "source"])
    )
    return expr.to_pyarrow().to_pylist()


def repeat(wh: Warehouse) -> list[dict]:
    o = paid_orders(wh)
    per_account = o.group_by(["source", "account_key"]).agg(n=ibis._.count())
    expr = (
        per_account.group_by("source")
        .agg(buyers=ibis._.count(), repeat_buyers=(per_account.n >= 2).sum())
        .mutate(repeat_rate=ibis._.repeat_buyers.cast("float64") / ibis._.buyers)
        .order_by("source")
    )
    return expr.to_pyarrow().to_pylist()


def quarantine(wh: Warehouse) -> list[dict]:
    q = wh.table("quarantine")
    expr = q.group_by(["reason", "action"]).agg(rows=ibis._.count()).order_by([ibis.desc("rows"), "reason"])
    return expr.to_pyarrow().to_pylist()


def summarize(wh: Warehouse) -> CollectSummary:
    o = paid_orders(wh)
    totals = o.agg(
        paid_orders=o.count(), gmv_cents=o.paid_cents.sum(),
        net_cents=(o.paid_cents - o.refund_cents.fill_null(0)).sum(),
    ).to_pyarrow().to_pylist()[0]
    totals = {k: int(v or 0) for k, v in totals.items()}
    totals["accounts"] = wh.count("accounts")
    totals["events"] = wh.count("events")
    totals["quarantined_rows"] = int(
        wh.table("quarantine").filter(ibis._.action == "row_rejected").count().execute())
    return CollectSummary(volume(wh), monthly(wh), repeat(wh), quarantine(wh), totals)


def _utc_offset_hours(tz: str) -> int:
    """Whole-hour offset used for monthly buckets (exact for Asia/Shanghai; DST zones may shift an
    order near midnight at a month's edge into the neighbouring month)."""
    offset = dt.datetime(2024, 1, 15, tzinfo=ZoneInfo(tz)).utcoffset() or dt.timedelta()
    return int(offset.total_seconds() // 3600)
