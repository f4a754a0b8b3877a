"""Who enters a journey at a tick: its trigger since the last tick, its audience, re-entry, groups.

A trigger is an edge, not a state: `inactive: {event, days: 7}` enrols a person when their seventh
quiet day passes between two ticks (or, at a journey's first tick, everyone already that quiet).
Groups are deterministic per journey and person: the global control group (the same persons for
every marketing journey, by one salt) first, then this journey's holdout, the rest treatment.
"""

from __future__ import annotations

import datetime as dt

import ibis

from flywheel.activate.compile import RuleContext, compile_rule, in_percent, union_all
from flywheel.activate.journeys import Journey
from flywheel.errors import InputError

DAY = 86_400
GLOBAL_CONTROL_SALT = "flywheel global control"
FIRST_TICK_LOOKBACK = dt.timedelta(days=1)
"""At a journey's first tick, event triggers look back one day; state triggers take the state."""


def triggered(ctx: RuleContext, journey: Journey, last_now: dt.datetime | None, value_run: str | None,
              seen_run: str | None) -> ibis.Table:
    """Persons whose trigger fired in (last_now, now]."""
    wh, now = ctx.wh, ctx.now
    t = journey.trigger
    since = last_now
    if t.kind == "segment_entered":
        if since is None:
            m = wh.table("segment_members")
            return m.filter(m.segment == t.segment).select("person_id")
        c = wh.table("segment_changes")
        return c.filter((c.segment == t.segment) & (c.change == "entered") & (c.at > since) & (c.at <= now)).select(
            "person_id")
    if t.kind == "segment_exited":
        if since is None:
            return _none(ctx)
        c = wh.table("segment_changes")
        return c.filter((c.segment == t.segment) & (c.change == "exited") & (c.at > since) & (c.at <= now)).select(
            "person_id")
    if t.kind == "event":
        start = since if since is not None else now - FIRST_TICK_LOOKBACK
        e = ctx.events(t.event, upto_now=True)
        e = e.filter(ctx.between(e.timestamp, int(start.timestamp()), ctx.now_epoch))
        return e.select("person_id").distinct()
    if t.kind == "inactive":
        e = ctx.events(t.event, upto_now=True)
        last = e.group_by("person_id").agg(last_at=e.timestamp.max())
        seen = ctx.first_seen().left_join(last, "person_id")
        quiet_since, span = ibis.coalesce(seen.last_at, seen.first_seen), int(t.days * DAY)
        if since is None:  # quiet for `days` by now
            cond = ctx.before(quiet_since, ctx.now_epoch - span)
        else:  # and became so after the last tick
            cond = ctx.between(quiet_since, int(since.timestamp()) - span, ctx.now_epoch - span)
        return seen.filter(cond).select("person_id")
    if t.kind in ("tier_changed", "value_alert"):
        if value_run is None or value_run == seen_run:
            return _none(ctx)
        if t.kind == "value_alert":
            return ctx.alerts()
        scores = wh.table("person_scores")
        latest = scores.filter(scores.run_id == value_run).select("person_id", "tier")
        previous_run = _previous_run(wh, value_run)
        new = latest.filter(latest.tier.isin(list(t.tiers)))
        if previous_run is None:
            return new.select("person_id")
        before = scores.filter(scores.run_id == previous_run).select("person_id", old_tier="tier")
        joined = new.left_join(before, "person_id")
        return joined.filter(joined.old_tier.isnull() | (joined.old_tier != joined.tier)).select(
            person_id=joined.person_id)
    raise InputError(f"journey {journey.name}: the {t.kind} trigger needs birthdays, which no export Flywheel reads "
                     "carries yet")


def _none(ctx: RuleContext) -> ibis.Table:
    return ctx.universe.filter(ibis.literal(False)).select("person_id")


def _previous_run(wh, run_id: str) -> str | None:
    runs = wh.fetch(wh.table("value_runs").order_by([ibis.desc("started_at"), ibis.desc("run_id")])
                    .select("run_id")).column(0).to_pylist()
    i = runs.index(run_id) if run_id in runs else -1
    return runs[i + 1] if 0 <= i < len(runs) - 1 else None


def entrants(ctx: RuleContext, journey: Journey, fired: ibis.Table) -> ibis.Table:
    """Triggered persons in the audience whom the re-entry policy lets in, with their episode number."""
    wh, now = ctx.wh, ctx.now
    people = ctx.universe.semi_join(fired, "person_id").select("person_id")
    if journey.audience is not None:
        audience_ctx = RuleContext(wh, now, people, ctx.members)
        people = compile_rule(journey.audience, audience_ctx)
    people = union_all([people])
    episodes = wh.table("journey_episodes")
    mine = episodes.filter(episodes.journey == journey.name)
    history = mine.group_by("person_id").agg(
        episodes=mine.count(), active=(mine.state == "active").cast("int64").sum(),
        last_end=mine.ended_at.max())
    joined = people.left_join(history, "person_id")
    first = joined.episodes.isnull()
    if journey.reentry == "never":
        allowed = first
    elif journey.reentry == "after_exit":
        allowed = first | (joined.active.fill_null(0) == 0)
    else:
        cooled = ctx.epoch(joined.last_end) <= ctx.now_epoch - int(journey.cooldown_days * DAY)
        allowed = first | ((joined.active.fill_null(0) == 0) & cooled.fill_null(False))
    return joined.filter(allowed).select(person_id=joined.person_id,
                                         episode=joined.episodes.fill_null(0) + 1)


def group_of(person_id: ibis.Value, journey: Journey) -> ibis.Value:
    """`control`, `holdout` or `treatment`, the same at every tick and in every dry run."""
    control = in_percent(person_id, GLOBAL_CONTROL_SALT, journey.global_control_percent) \
        if journey.marketing and journey.global_control_percent > 0 else ibis.literal(False)
    holdout = in_percent(person_id, f"journey holdout:{journey.name}", journey.holdout_percent) \
        if journey.holdout_percent > 0 else ibis.literal(False)
    return ibis.cases((control, ibis.literal("control")), (holdout, ibis.literal("holdout")),
                      else_=ibis.literal("treatment"))
