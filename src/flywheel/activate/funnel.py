"""A journey's funnel per group — entered → sent → converted — and the lift of treatment over holdout.

Converted: a GMV order within the journey's conversion window after entry (default 7 days).
Redeemed: an order used the episode's coupon code. The
holdout's conversion is what would have happened anyway; the difference is the journey's effect.
"""

from __future__ import annotations

import math

import ibis

from flywheel.activate.compile import RuleContext
from flywheel.schema.orders import GMV_STATUSES

DAY = 86_400


def funnel(wh, journey) -> dict[str, dict]:
    e = wh.table("journey_episodes")
    eps = e.filter(e.journey == journey.name)
    a = wh.table("journey_actions")
    sent = a.filter((a.journey == journey.name) & (a.status == "sent")).select("person_id", "episode").distinct()
    ctx = RuleContext(wh, eps.entered_at.max().execute() or _epoch0(), eps.select("person_id"))
    o = ctx.orders()
    o = o.filter(o.status.isin(list(GMV_STATUSES))).mutate(t=ctx.epoch(ibis.coalesce(o.paid_at, o.created_at)))
    joined = eps.join(o.select("person_id", "t"), "person_id")
    start = ctx.epoch(joined.entered_at)
    window = int(journey.conversion_days * DAY)
    converted = joined.filter((joined.t > start) & (joined.t <= start + window)).select(
        "person_id", "episode").distinct()
    flagged = eps.left_join(sent.mutate(was_sent=ibis.literal(1)), ["person_id", "episode"])
    flagged = flagged.select(*eps.columns, "was_sent")
    flagged = flagged.left_join(converted.mutate(did_convert=ibis.literal(1)), ["person_id", "episode"])
    flagged = flagged.select(*eps.columns, "was_sent", "did_convert")
    redeemed = _redeemed(wh, journey.name)
    flagged = flagged.left_join(redeemed.mutate(did_redeem=ibis.literal(1)), ["person_id", "episode"])
    flagged = flagged.select(*eps.columns, "was_sent", "did_convert", "did_redeem")
    rows = wh.fetch(flagged.group_by("grp").agg(
        entered=flagged.count(), sent=flagged.was_sent.fill_null(0).sum(),
        converted=flagged.did_convert.fill_null(0).sum(), redeemed=flagged.did_redeem.fill_null(0).sum(),
        active=(flagged.state == "active").cast("int64").sum())).to_pylist()
    groups = {r["grp"]: {k: int(r[k] or 0) for k in ("entered", "sent", "converted", "redeemed", "active")}
              for r in rows}
    for g in groups.values():
        g["conversion_rate"] = g["converted"] / g["entered"] if g["entered"] else None
    treat, hold = groups.get("treatment"), groups.get("holdout")
    if treat and hold and treat["entered"] and hold["entered"]:
        groups["lift"] = _lift(treat["converted"], treat["entered"], hold["converted"], hold["entered"])
    return groups


def _redeemed(wh, journey: str) -> ibis.Table:
    """Episodes whose coupon an order used (its `discount_code`) while valid: `person_id, episode`.
    Redemptions overstate a coupon's effect (orders that would have come anyway use it too); the
    holdout comparison does not."""
    c = wh.table("coupons")
    c = c.filter(c.journey == journey)
    o = wh.table("orders")
    o = o.filter(o.status.isin(list(GMV_STATUSES)) & o.discount_code.notnull())
    used = c.join(o.select("discount_code", "created_at"), c.code == o.discount_code)
    used = used.filter((used.created_at >= used.valid_from) & (used.created_at <= used.valid_until))
    return used.select("person_id", "episode").distinct()


def _lift(x1: int, n1: int, x0: int, n0: int) -> dict:
    """Difference of conversion rates with a 95% normal-approximation interval."""
    p1, p0 = x1 / n1, x0 / n0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    diff = p1 - p0
    return {"treatment_rate": p1, "holdout_rate": p0, "difference": diff,
            "ci95": [diff - 1.96 * se, diff + 1.96 * se]}


def _epoch0():
    import datetime as dt

    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
