"""Behaviour traits from Segment events and campaign touchpoints.

An event belongs to the account that ingestion created for it — `(source, userId)` or
`(source, "anon:" + anonymousId)` — and so to that account's person. Touchpoints, referrals and
reviews are recorded by events and reach their person through the event's `message_id`.
"""

from __future__ import annotations

import ibis

from flywheel.value.traits.base import TraitContext, count_if, earliest, latest, ratio

UNITS = {
    "events": "events", "page_views": "events", "product_views": "events", "cart_adds": "events",
    "checkouts": "events", "event_days": "days", "events_30d": "events", "events_90d": "events",
    "first_event_at": "UTC time", "last_event_at": "UTC time", "days_since_last_event": "days",
    "devices": "devices", "miniprogram_event_share": "ratio", "logged_in_event_share": "ratio",
    "view_to_cart_rate": "ratio", "campaign_touches": "touchpoints", "campaign_touches_90d": "touchpoints",
    "touch_channels": "channels", "first_touch_channel": "channel", "last_touch_channel": "channel",
}
ZERO = {"events", "page_views", "product_views", "cart_adds", "checkouts", "event_days", "events_30d",
        "events_90d", "devices", "campaign_touches", "campaign_touches_90d", "touch_channels"}


def event_persons(ctx: TraitContext) -> ibis.Table:
    """`message_id, person_id, timestamp` and the event's own columns, for every stored event."""
    events = ctx.wh.table("events")
    key = ibis.coalesce(events.user_id, ibis.literal("anon:") + events.anonymous_id)
    events = events.mutate(account_key=key)
    return events.join(ctx.accounts, ["source", "account_key"])


def _events(ctx: TraitContext, e: ibis.Table) -> ibis.Table:
    e = e.filter(e.timestamp.notnull() & ctx.until_as_of(e.timestamp))
    agg = e.group_by("person_id").agg(
        events=e.count(),
        page_views=count_if(e.type.isin(("page", "screen"))),
        product_views=count_if((e.type == "track") & (e.event.fill_null("") == "Product Viewed")),
        cart_adds=count_if((e.type == "track") & (e.event.fill_null("") == "Product Added")),
        checkouts=count_if((e.type == "track") & (e.event.fill_null("") == "Order Completed")),
        event_days=ctx.local_day(e.timestamp).nunique(),
        events_30d=count_if(ctx.within(e.timestamp, 30)),
        events_90d=count_if(ctx.within(e.timestamp, 90)),
        first_event_at=e.timestamp.min(),
        last_event_at=e.timestamp.max(),
        devices=e.anonymous_id.nunique(),
        miniprogram=count_if(e.source == "miniprogram"),
        logged_in=count_if(e.user_id.notnull()),
    )
    return agg.mutate(
        days_since_last_event=ctx.days_since(agg.last_event_at),
        miniprogram_event_share=ratio(agg.miniprogram, agg.events),
        logged_in_event_share=ratio(agg.logged_in, agg.events),
        view_to_cart_rate=ratio(agg.cart_adds, agg.product_views),
    ).drop("miniprogram", "logged_in")


def _touchpoints(ctx: TraitContext, e: ibis.Table) -> list[ibis.Table]:
    t = ctx.wh.table("touchpoints")
    t = t.filter(ctx.until_as_of(t.occurred_at))
    ep = e.select("message_id", "person_id")
    t = t.join(ep, t.touchpoint_id == ep.message_id)
    t = t.select("person_id", "occurred_at", "channel")
    agg = t.group_by("person_id").agg(
        campaign_touches=t.count(),
        campaign_touches_90d=count_if(ctx.within(t.occurred_at, 90)),
        touch_channels=t.channel.nunique(),
    )
    known = t.filter(t.channel.notnull())
    return [agg, earliest(known, "occurred_at", {"first_touch_channel": "channel"}),
            latest(known, "occurred_at", {"last_touch_channel": "channel"})]


def tables(ctx: TraitContext) -> list[ibis.Table]:
    e = event_persons(ctx)
    return [_events(ctx, e), *_touchpoints(ctx, e)]
