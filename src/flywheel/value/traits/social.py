"""Fission and content traits: shares sent, invites accepted and converted, reviews written.

A share's sharer is the person of the event that recorded the share; an acceptance's invitee is the
person of the acceptance event, and its sharer is the sharer of the same share id (or, when that
share was never recorded, the person holding the inviter's userId — the smallest person id when
several unplaced accounts carry it).
"""

from __future__ import annotations

import ibis

from flywheel.value.traits.base import TraitContext, count_if
from flywheel.value.traits.behaviour import event_persons
from flywheel.value.traits.purchases import purchases

UNITS = {
    "shares_sent": "shares", "share_channels": "channels", "last_share_at": "UTC time",
    "invites_accepted": "acceptances", "invitees": "persons", "invites_converted": "persons",
    "invited_gmv": "CNY", "was_invited": "flag", "reviews_written": "reviews",
    "reviews_with_media": "reviews", "avg_review_rating": "stars", "low_rating_reviews": "reviews",
    "review_chars": "characters", "last_review_at": "UTC time",
}
ZERO = {"shares_sent", "share_channels", "invites_accepted", "invitees", "invites_converted", "invited_gmv",
        "was_invited", "reviews_written", "reviews_with_media", "low_rating_reviews", "review_chars"}


def _user_persons(ctx: TraitContext) -> ibis.Table:
    """userId → person, for accounts keyed by a Segment userId."""
    accounts = ctx.wh.table("accounts")
    keyed = accounts.filter(accounts.account_key_type == "user_id").select("source", "account_key")
    joined = keyed.join(ctx.accounts, ["source", "account_key"])
    return joined.group_by("account_key").agg(user_person=joined.person_id.min())


def _referrals(ctx: TraitContext, e: ibis.Table) -> list[ibis.Table]:
    r = ctx.wh.table("referrals")
    r = r.join(e.select("message_id", "person_id"), "message_id")
    shares = r.filter(r.shared_at.notnull())
    sharer_of = shares.group_by("share_id").agg(share_person=shares.person_id.min())
    shares = shares.filter(ctx.until_as_of(shares.shared_at))
    sent = shares.group_by("person_id").agg(shares_sent=shares.count(), share_channels=shares.channel.nunique(),
                                            last_share_at=shares.shared_at.max())
    accepted = r.filter(r.accepted_at.notnull() & ctx.until_as_of(r.accepted_at))
    accepted = accepted.left_join(sharer_of, "share_id")
    accepted = accepted.select("person_id", "sharer_user_id", "share_person")
    users = _user_persons(ctx)
    accepted = accepted.left_join(users, accepted.sharer_user_id == users.account_key)
    accepted = accepted.select(invitee=accepted.person_id,
                               sharer=ibis.coalesce(accepted.share_person, accepted.user_person))
    accepted = accepted.filter(accepted.sharer.notnull() & (accepted.sharer != accepted.invitee))
    g = purchases(ctx)
    buyers = g.group_by("person_id").agg(invitee_gmv=g.paid.sum())
    pairs = accepted.select("sharer", "invitee").distinct()
    pairs = pairs.left_join(buyers, pairs.invitee == buyers.person_id)
    reach = pairs.group_by(person_id=pairs.sharer).agg(
        invitees=pairs.invitee.nunique(),
        invites_converted=count_if(pairs.invitee_gmv.fill_null(0) > 0),
        invited_gmv=pairs.invitee_gmv.fill_null(0).sum(),
    )
    counts = accepted.group_by(person_id=accepted.sharer).agg(invites_accepted=accepted.count())
    invited = accepted.select(person_id=accepted.invitee).distinct().mutate(was_invited=ibis.literal(True))
    return [sent, counts, reach, invited]


def _reviews(ctx: TraitContext, e: ibis.Table) -> ibis.Table:
    v = ctx.wh.table("reviews")
    v = v.filter(v.created_at.notnull() & ctx.until_as_of(v.created_at))
    v = v.join(e.select("message_id", "person_id"), "message_id")
    return v.group_by("person_id").agg(
        reviews_written=v.count(),
        reviews_with_media=count_if(v.has_media.fill_null(False)),
        avg_review_rating=v.rating.mean(),
        low_rating_reviews=count_if(v.rating.fill_null(5) <= 2),
        review_chars=v.length.fill_null(0).sum(),
        last_review_at=v.created_at.max(),
    )


def tables(ctx: TraitContext) -> list[ibis.Table]:
    e = event_persons(ctx)
    return [*_referrals(ctx, e), _reviews(ctx, e)]
