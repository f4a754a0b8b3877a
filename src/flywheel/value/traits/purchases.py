"""Purchase traits: R/F/M gross and net of refunds, windows, discounts, sources, timing, intervals.

A purchase is a GMV order (paid, shipped, completed or (partially) refunded) placed on or before the
as-of time, on any account of the person.
"""

from __future__ import annotations

import ibis

from flywheel.value.traits.base import (
    GMV_STATUSES,
    WINDOWS,
    TraitContext,
    count_if,
    earliest,
    latest,
    mode,
    ratio,
    yuan,
)

SOURCES = ("taobao", "tmall", "jd", "douyin", "shopify")
MARKETPLACES = ("taobao", "tmall", "jd", "douyin")
DAYPARTS = ((6, "night"), (12, "morning"), (18, "afternoon"))

UNITS = {
    "orders_placed": "orders", "orders": "orders", "orders_cancelled": "orders", "orders_refunded": "orders",
    "purchase_days": "days", "repeat_purchase_days": "days", "is_repeat_buyer": "flag",
    "gmv": "CNY", "refunds": "CNY", "net_value": "CNY", "aov": "CNY", "aov_net": "CNY",
    "max_order_value": "CNY", "min_order_value": "CNY", "order_value_stddev": "CNY",
    "first_order_at": "UTC time", "last_order_at": "UTC time", "days_since_first_order": "days",
    "recency_days": "days", "first_order_source": "source", "last_order_source": "source",
    **{f"orders_{w}d": "orders" for w in WINDOWS}, **{f"gmv_{w}d": "CNY" for w in WINDOWS},
    "net_value_365d": "CNY", "aov_30d": "CNY", "aov_90d": "CNY", "aov_365d": "CNY",
    "discount_total": "CNY", "discounted_orders": "orders", "discounted_order_share": "ratio",
    "discount_rate": "ratio", "shipping_total": "CNY", "free_shipping_share": "ratio",
    "refund_rate": "ratio", "refund_value_rate": "ratio", "preferred_source": "source",
    "preferred_source_share": "ratio", "sources_bought": "sources",
    **{f"orders_{s}": "orders" for s in SOURCES}, "marketplace_order_share": "ratio",
    "preferred_channel": "channel", "livestream_order_share": "ratio", "influencer_orders": "orders",
    "preferred_weekday": "weekday 0–6", "weekend_order_share": "ratio", "preferred_hour": "hour 0–23",
    "preferred_daypart": "daypart", "night_order_share": "ratio",
    "mean_interpurchase_days": "days", "min_interpurchase_days": "days", "max_interpurchase_days": "days",
    "stddev_interpurchase_days": "days", "last_interpurchase_days": "days",
}
ZERO = {name for name, unit in UNITS.items() if unit in ("orders", "CNY", "sources") and not name.startswith(
    ("aov", "max_", "min_", "order_value"))} | {"purchase_days", "repeat_purchase_days", "is_repeat_buyer"}


def person_orders(ctx: TraitContext) -> ibis.Table:
    """Every order up to the as-of time with its person, amounts in yuan and local calendar fields."""
    orders = ctx.wh.table("orders")
    orders = orders.filter(ctx.until_as_of(orders.created_at))
    o = orders.join(ctx.accounts, ["source", "account_key"])
    return o.mutate(
        is_gmv=o.status.isin(GMV_STATUSES),
        paid=yuan(o.paid_cents.fill_null(0)),
        refund=yuan(o.refund_cents.fill_null(0)),
        discount=yuan(o.discount_cents.fill_null(0)),
        local_day=ctx.local_day(o.created_at),
        weekday=ctx.local_weekday(o.created_at),
        hour=ctx.local_hour(o.created_at),
    )


def purchases(ctx: TraitContext) -> ibis.Table:
    """GMV orders only."""
    o = person_orders(ctx)
    return o.filter(o.is_gmv)


def _totals(ctx: TraitContext, g: ibis.Table) -> ibis.Table:
    windows = {}
    for w in WINDOWS:
        inside = ctx.within(g.created_at, w)
        windows[f"orders_{w}d"] = count_if(inside)
        windows[f"gmv_{w}d"] = ibis.cases((inside, g.paid), else_=0.0).sum()
    recent = ctx.within(g.created_at, 365)
    agg = g.group_by("person_id").agg(
        orders=g.count(),
        purchase_days=g.local_day.nunique(),
        gmv=g.paid.sum(),
        refunds=g.refund.sum(),
        max_order_value=g.paid.max(),
        min_order_value=g.paid.min(),
        order_value_stddev=g.paid.std(how="sample"),
        first_order_at=g.created_at.min(),
        last_order_at=g.created_at.max(),
        orders_refunded=count_if(g.status.isin(("refunded", "partially_refunded"))),
        net_value_365d=ibis.cases((recent, g.paid - g.refund), else_=0.0).sum(),
        discount_total=g.discount.sum(),
        discounted_orders=count_if(g.discount > 0),
        shipping_total=yuan(g.shipping_cents.fill_null(0)).sum(),
        free_shipping=count_if(g.shipping_cents.fill_null(-1) == 0),
        shipping_known=count_if(g.shipping_cents.notnull()),
        sources_bought=g.source.nunique(),
        **{f"orders_{s}": count_if(g.source == s) for s in SOURCES},
        marketplace=count_if(g.source.isin(MARKETPLACES)),
        livestream=count_if(g.channel.fill_null("") == "直播"),
        influencer_orders=count_if(g.influencer_id.notnull()),
        weekend=count_if(g.weekday >= 5),
        night=count_if(g.hour < 6),
        **windows,
    )
    return agg.mutate(
        repeat_purchase_days=agg.purchase_days - 1,
        is_repeat_buyer=agg.purchase_days >= 2,
        net_value=agg.gmv - agg.refunds,
        aov=ratio(agg.gmv, agg.orders),
        aov_net=ratio(agg.gmv - agg.refunds, agg.orders),
        days_since_first_order=ctx.days_since(agg.first_order_at),
        recency_days=ctx.days_since(agg.last_order_at),
        aov_30d=ratio(agg.gmv_30d, agg.orders_30d),
        aov_90d=ratio(agg.gmv_90d, agg.orders_90d),
        aov_365d=ratio(agg.gmv_365d, agg.orders_365d),
        discounted_order_share=ratio(agg.discounted_orders, agg.orders),
        discount_rate=ratio(agg.discount_total, agg.gmv + agg.discount_total),
        free_shipping_share=ratio(agg.free_shipping, agg.shipping_known),
        refund_rate=ratio(agg.orders_refunded, agg.orders),
        refund_value_rate=ratio(agg.refunds, agg.gmv),
        marketplace_order_share=ratio(agg.marketplace, agg.orders),
        livestream_order_share=ratio(agg.livestream, agg.orders),
        weekend_order_share=ratio(agg.weekend, agg.orders),
        night_order_share=ratio(agg.night, agg.orders),
    ).drop("free_shipping", "shipping_known", "marketplace", "livestream", "weekend", "night")


def _intervals(g: ibis.Table) -> list[ibis.Table]:
    """Gaps in days between consecutive purchase days."""
    days = g.select("person_id", "local_day").distinct()
    window = ibis.window(group_by="person_id", order_by="local_day")
    gaps = days.mutate(gap=(days.local_day - days.local_day.lag().over(window)).cast("float64"))
    stats = gaps.group_by("person_id").agg(
        mean_interpurchase_days=gaps.gap.mean(),
        min_interpurchase_days=gaps.gap.min(),
        max_interpurchase_days=gaps.gap.max(),
        stddev_interpurchase_days=gaps.gap.std(how="sample"),
    )
    last = latest(gaps, "local_day", {"last_interpurchase_days": "gap"})
    return [stats, last]


def _preferences(g: ibis.Table) -> list[ibis.Table]:
    daypart = ibis.cases(*[(g.hour < bound, label) for bound, label in DAYPARTS], else_="evening")
    g = g.mutate(daypart=daypart)
    return [
        mode(g, "source", "preferred_source", "preferred_source_share"),
        mode(g, "channel", "preferred_channel"),
        mode(g, "weekday", "preferred_weekday"),
        mode(g, "hour", "preferred_hour"),
        mode(g, "daypart", "preferred_daypart"),
        earliest(g, "created_at", {"first_order_source": "source"}),
        latest(g, "created_at", {"last_order_source": "source"}),
    ]


def tables(ctx: TraitContext) -> list[ibis.Table]:
    o = person_orders(ctx)
    placed = o.group_by("person_id").agg(orders_placed=o.count(),
                                         orders_cancelled=count_if(o.status == "cancelled"))
    g = o.filter(o.is_gmv)
    return [placed, _totals(ctx, g), *_intervals(g), *_preferences(g)]
