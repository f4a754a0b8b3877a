"""Touches and conversions of every person after identity resolution, as Ibis expressions.

A touch is a campaign landing (`touchpoints`, reached through its event's account) or a journey
message that was delivered (`journey_actions`). A conversion is a GMV order of any account of the
person. Each touch counts for the first conversion of its person at or after it and at most
`window` later; touches that count for none, and that are old enough to have had their whole window,
form the person's path that did not convert. Everything here runs in the warehouse (DuckDB or
Spark); only aggregates — one row per distinct path, one per channel, campaign and day — leave it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import ibis

from flywheel.schema.orders import GMV_STATUSES
from flywheel.warehouse import account_persons

DAY = 86_400
_ORDER_MARK = "\x1f"
PATH_SEP = "\x1e"
"""Joins a path's channels inside the warehouse; no utm source carries it."""
RULE_MODELS = ("first", "last", "last_non_direct", "linear", "time_decay", "position")


@dataclass(frozen=True)
class Window:
    """What counts: conversions up to `as_of` (and, with `lookback_days`, no older), every order or a
    person's first, valued at the paid amount or at the buyer's CLV."""

    as_of: dt.datetime
    window_days: float = 30.0
    lookback_days: float | None = None
    conversions: str = "every"
    value: str = "paid"
    half_life_days: float = 7.0
    journeys: bool = True

    @property
    def as_of_epoch(self) -> int:
        return math.floor(self.as_of.timestamp())


def epoch(ts: ibis.Value) -> ibis.Value:
    """Whole seconds since 1970, floored on both engines."""
    return ts.epoch_seconds().floor().cast("int64")


def touches(wh, journeys: bool = True) -> ibis.Table:
    """`person_id, at, channel, campaign_id, touch_id` of every touch."""
    tp = wh.table("touchpoints")
    ev = wh.table("events")
    ev = ev.select("message_id", "source",
                   account_key=ibis.coalesce(ev.user_id, ibis.literal("anon:") + ev.anonymous_id))
    owners = ev.join(account_persons(wh), ["source", "account_key"]).select("message_id", "person_id")
    t = tp.join(owners, tp.touchpoint_id == owners.message_id)
    t = t.select("person_id", at=t.occurred_at,
                 channel=ibis.coalesce(t.channel.strip().nullif(""), ibis.literal("(unknown)")),
                 campaign_id=ibis.coalesce(t.campaign_id, ibis.literal("")), touch_id=t.touchpoint_id)
    if not journeys:
        return _nullable(t)
    a = wh.table("journey_actions")
    a = a.filter((a.status == "sent") & a.sent_at.notnull())
    sent = a.select("person_id", at=a.sent_at, channel=a.channel, campaign_id=a.journey, touch_id=a.action_key)
    return _nullable(t).union(_nullable(sent))


def _nullable(t: ibis.Table) -> ibis.Table:
    return t.select(*[t[c].cast(t[c].type().copy(nullable=True)).name(c) for c in t.columns])


def first_orders(wh) -> ibis.Table:
    """`person_id, first_at`: each person's first GMV order (on any account)."""
    c = _orders(wh)
    return c.group_by("person_id").agg(first_at=c.at.min())


def _orders(wh) -> ibis.Table:
    o = wh.table("orders")
    o = o.filter(o.status.isin(list(GMV_STATUSES)))
    o = o.join(account_persons(wh), ["source", "account_key"])
    return o.select("person_id", conv_id=o.source + ibis.literal(":") + o.order_id,
                    at=ibis.coalesce(o.paid_at, o.created_at), paid_cents=o.paid_cents.fill_null(0))


def conversions(wh, w: Window, clv: ibis.Table | None) -> ibis.Table:
    """`person_id, conv_id, at, value_cents, is_first, clv_cents` of the conversions in the period.
    `clv` (`person_id, clv_cents`) values the buyer; without it CLV columns are null."""
    o = _orders(wh)
    rank = ibis.row_number().over(group_by=o.person_id, order_by=[o.at, o.conv_id])
    o = o.mutate(is_first=(rank == 0).cast("int64"))
    o = o.filter(epoch(o.at) <= w.as_of_epoch)
    if w.lookback_days is not None:
        o = o.filter(epoch(o.at) > w.as_of_epoch - int(w.lookback_days * DAY))
    if w.conversions == "first":
        o = o.filter(o.is_first == 1)
    if clv is not None:
        o = o.left_join(clv, "person_id").select(*o.columns, "clv_cents")
    else:
        o = o.mutate(clv_cents=ibis.null("int64"))
    value = o.clv_cents.fill_null(0) if w.value == "clv" else o.paid_cents
    return o.select("person_id", "conv_id", "at", "is_first", "clv_cents", value_cents=value)


def assigned(t: ibis.Table, c: ibis.Table, w: Window) -> ibis.Table:
    """Every touch that counts for a conversion, with its position on the conversion's path:
    `touch_id, person_id, channel, campaign_id, t_epoch, conv_id, c_epoch, value_cents, is_first,
    clv_cents, k (0-based), n`."""
    t = t.filter(epoch(t.at) <= w.as_of_epoch).mutate(t_epoch=epoch(t.at))
    c = c.mutate(c_epoch=epoch(c.at)).rename(c_person="person_id")
    j = t.join(c, (t.person_id == c.c_person) & (t.t_epoch <= c.c_epoch)
               & (c.c_epoch - t.t_epoch <= int(w.window_days * DAY)))
    first = ibis.row_number().over(group_by=j.touch_id, order_by=[j.c_epoch, j.conv_id])
    j = j.mutate(pick=first).filter(lambda x: x.pick == 0)
    k = ibis.row_number().over(group_by=j.conv_id, order_by=[j.t_epoch, j.touch_id])
    n = j.touch_id.count().over(group_by=j.conv_id)
    return j.select("touch_id", "person_id", "channel", "campaign_id", "t_epoch", "conv_id", "c_epoch",
                    "value_cents", "is_first", "clv_cents", k=k, n=n)


def rule_credits(a: ibis.Table, w: Window, offset_seconds: int) -> ibis.Table:
    """Per channel, campaign and conversion day: each rule-based model's conversions, value, new
    customers and acquired CLV (columns `<model>__<measure>`), summed in the warehouse."""
    half_life = w.half_life_days * DAY
    decay = (ibis.literal(2.0) ** (-(a.c_epoch - a.t_epoch).cast("float64") / half_life))
    a = a.mutate(decay=decay)
    a = a.mutate(decay_sum=a.decay.sum().over(group_by=a.conv_id))
    last = (a.k == a.n - 1).cast("float64")
    weights = {
        "first": (a.k == 0).cast("float64"),
        "last": last,
        "last_non_direct": last,
        "linear": 1.0 / a.n.cast("float64"),
        "time_decay": a.decay / a.decay_sum,
        "position": ibis.cases(
            (a.n == 1, 1.0), (a.n == 2, 0.5),
            ((a.k == 0) | (a.k == a.n - 1), 0.4), else_=0.2 / (a.n - 2).cast("float64")),
    }
    day = ((a.c_epoch + offset_seconds) / DAY).floor().cast("int64")
    a = a.mutate(day_n=day, **{f"w_{m}": weights[m] for m in RULE_MODELS})
    measures = {}
    for m in RULE_MODELS:
        wt = a[f"w_{m}"]
        measures[f"{m}__conversions"] = wt.sum()
        measures[f"{m}__value"] = (wt * a.value_cents.cast("float64")).sum()
        measures[f"{m}__new"] = (wt * a.is_first.cast("float64")).sum()
        measures[f"{m}__clv"] = (wt * a.is_first.cast("float64") * a.clv_cents.cast("float64")).sum()
        measures[f"{m}__scored"] = (wt * a.is_first.cast("float64") * a.clv_cents.notnull().cast("float64")).sum()
    return a.group_by("channel", "campaign_id", "day_n").agg(**measures)


def _ordered_path(rows: ibis.Table, group: str, position: str) -> ibis.Table:
    """`<group>, path`: channels joined in the order of column `position` (engines that cannot order
    an aggregate sort zero-padded positions instead)."""
    mark = rows[position].cast("string").lpad(6, "0") + ibis.literal(_ORDER_MARK) + rows.channel
    g = rows.mutate(_mark=mark).group_by(group).agg(_marks=lambda x: x._mark.collect())
    path = g._marks.sort().join(PATH_SEP).re_replace(f"[0-9]{{6}}{_ORDER_MARK}", "")
    return g.select(group, path=path)


def converting_paths(a: ibis.Table) -> ibis.Table:
    """`path, conversions, value_cents`: one row per distinct path that converted."""
    paths = _ordered_path(a, "conv_id", "k")
    value = a.group_by("conv_id").agg(value_cents=a.value_cents.max())
    p = paths.join(value, "conv_id")
    return p.group_by("path").agg(conversions=p.count(), value_cents=p.value_cents.sum())


def null_paths(t: ibis.Table, a: ibis.Table, w: Window, firsts: ibis.Table | None) -> ibis.Table:
    """`path, nulls`: per person, the touches that counted for no conversion although their whole
    window has passed (in `first` mode, only touches before the person's first order)."""
    t = t.mutate(t_epoch=epoch(t.at))
    t = t.filter(t.t_epoch <= w.as_of_epoch - int(w.window_days * DAY))
    if w.lookback_days is not None:
        t = t.filter(t.t_epoch > w.as_of_epoch - int((w.lookback_days + w.window_days) * DAY))
    t = t.anti_join(a.select("touch_id"), "touch_id")
    if firsts is not None:
        t = t.left_join(firsts, "person_id").select(*t.columns, "first_at")
        t = t.filter(t.first_at.isnull() | (t.t_epoch < epoch(t.first_at))).drop("first_at")
    k = ibis.row_number().over(group_by=t.person_id, order_by=[t.t_epoch, t.touch_id])
    paths = _ordered_path(t.mutate(k=k), "person_id", "k")
    return paths.group_by("path").agg(nulls=paths.count())


def evidence(t: ibis.Table, a: ibis.Table, w: Window) -> ibis.Table:
    """Per channel: touches, how many an order followed within the window and within a day, and how
    many of those orders were repeat orders — the signature of a channel that catches buyers who
    were coming anyway (brand search) rather than bringing them."""
    t = t.filter(epoch(t.at) <= w.as_of_epoch)
    lag = a.select("touch_id", "is_first", lag=a.c_epoch - a.t_epoch)
    j = t.left_join(lag, "touch_id")
    followed = j.lag.notnull()
    return j.group_by("channel").agg(
        touches=j.count(),
        converted=followed.cast("int64").sum(),
        within_day=(followed & (j.lag <= DAY)).cast("int64").sum(),
        repeat_orders=(followed & (j.is_first == 0)).cast("int64").sum(),
        median_lag_hours=(j.lag.cast("float64") / 3600).median(),
    )
