"""Traits that combine families: activity, tenure, overdue purchases, lifecycle stage.

Lifecycle stage, in this order: `prospect` (no purchase yet); `new` (first purchase within 30 days);
`won-back` (bought within 90 days after a gap of more than 180 days); `active` (bought within 90 days);
`at-risk` (last purchase 90–180 days ago); `lapsed` (more than 180 days ago).
"""

from __future__ import annotations

import ibis

from flywheel.value.traits.base import TraitContext, ratio

NEW_DAYS, ACTIVE_DAYS, AT_RISK_DAYS, WON_BACK_GAP_DAYS = 30, 90, 180, 180
STAGES = ("prospect", "new", "won-back", "active", "at-risk", "lapsed")

UNITS = {
    "days_overdue": "days", "share_acceptance_rate": "ratio", "review_rate": "ratio",
    "first_seen_at": "UTC time", "tenure_days": "days", "last_activity_at": "UTC time",
    "days_since_last_activity": "days", "lifecycle_stage": "stage",
}
ZERO: set[str] = set()


def derive(ctx: TraitContext, wide: ibis.Table) -> dict[str, ibis.Value]:
    """The combined traits as expressions over the joined per-person table."""
    first_seen = ibis.least(wide.account_first_seen, wide.first_order_at, wide.first_event_at)
    last_activity = ibis.greatest(wide.last_order_at, wide.last_event_at, wide.last_share_at, wide.last_review_at)
    recency = wide.recency_days
    stage = ibis.cases(
        (wide.orders.fill_null(0) == 0, "prospect"),
        (wide.days_since_first_order <= NEW_DAYS, "new"),
        ((recency <= ACTIVE_DAYS) & (wide.last_interpurchase_days.fill_null(0) > WON_BACK_GAP_DAYS), "won-back"),
        (recency <= ACTIVE_DAYS, "active"),
        (recency <= AT_RISK_DAYS, "at-risk"),
        else_="lapsed",
    )
    return {
        "days_overdue": recency - wide.mean_interpurchase_days,
        "share_acceptance_rate": ratio(wide.invites_accepted.fill_null(0), wide.shares_sent.fill_null(0)),
        "review_rate": ratio(wide.reviews_written.fill_null(0), wide.orders.fill_null(0)),
        "first_seen_at": first_seen,
        "tenure_days": ctx.days_since(first_seen),
        "last_activity_at": last_activity,
        "days_since_last_activity": ctx.days_since(last_activity),
        "lifecycle_stage": stage,
    }
