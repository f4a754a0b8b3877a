"""Tasks (write a review, share an order, check in, complete the profile) and assist campaigns (助力),
each capped per *person* per merchant-local day: the counter and the reward are one SQLite write
transaction, so concurrent calls cannot both take the last unit of a cap, and two accounts of one
person (the caller resolves merged ids) share one counter.
"""

from __future__ import annotations

import datetime as dt

from flywheel.errors import InputError
from flywheel.loyalty.journal import immediate
from flywheel.loyalty.ledger import Ledger, iso
from flywheel.loyalty.rules import LoyaltyRules

ALL_TIME = "*"
CHANNELS = ("mini_program", "wecom", "app", "web", "wechat_link")


def _used(con, scope: str, person: str, day: str) -> int:
    row = con.execute("SELECT used FROM counters WHERE scope = ? AND person = ? AND day = ?", (scope, person, day)).fetchone()
    return row[0] if row else 0


def _bump(con, scope: str, person: str, day: str) -> int:
    con.execute("INSERT INTO counters (scope, person, day, used) VALUES (?, ?, ?, 1) ON CONFLICT (scope, person, day) "
                "DO UPDATE SET used = used + 1", (scope, person, day))
    return _used(con, scope, person, day)


def local_day(at: dt.datetime, tz) -> str:
    return at.astimezone(tz).date().isoformat()


def do_task(ledger: Ledger, rules: LoyaltyRules, person: str, task: str, at: dt.datetime, tz, *,
            key: str, media: str | None = None, actor: str | None = None) -> dict:
    """Reward one task: `accepted` (points and growth), `daily_cap_reached` or `already_done` (a once-only task)."""
    spec = rules.tasks.get(task)
    if spec is None:
        raise InputError(f"unknown task {task!r} (known: {', '.join(sorted(rules.tasks))})")
    if media not in (None, "photo", "video"):
        raise InputError(f"--media: photo or video, not {media!r}")
    points = {"photo": spec.photo_points, "video": spec.video_points}.get(media or "") or spec.points
    day = local_day(at, tz)
    reward = dict(points=points, at=at, expires_at=rules.earning.expires_at(at, tz),
                  task={"task": task, "growth": spec.growth}, actor=actor, derived=("expires",))
    with immediate(ledger.con) as con:
        if ledger.key_status(key) is not None:  # a retry: the first answer, counters untouched
            result = ledger.earn(person, key=key, **reward)
            return {"status": "exists" if result.status == "exists" else result.reason, "task": task,
                    "transaction_id": result.transaction_id}
        scope = f"task:{task}"
        if spec.once and _used(con, scope, person, ALL_TIME):
            return {"status": "already_done", "task": task}
        if spec.per_day is not None and _used(con, scope, person, day) >= spec.per_day:
            return {"status": "daily_cap_reached", "task": task, "day": day, "per_day": spec.per_day}
        _bump(con, scope, person, ALL_TIME if spec.once else day)
        result = ledger.earn(person, key=key, **reward)
    return {"status": "accepted", "task": task, "transaction_id": result.transaction_id, "points": points,
            "growth": spec.growth, "available": result.available}


def assist(ledger: Ledger, rules: LoyaltyRules, helper: str, initiator: str, campaign: str, at: dt.datetime, tz,
           channel: str = "mini_program") -> dict:
    """One helper's assist of an initiator: `accepted` with the initiator's assists and prizes, or
    the reason it does not count."""
    spec = rules.assist_campaigns.get(campaign)
    if spec is None:
        raise InputError(f"unknown assist campaign {campaign!r} (known: {', '.join(sorted(rules.assist_campaigns)) or 'none'}"
                         "; declare it under assist_campaigns: in the rules file)")
    if channel not in CHANNELS:
        raise InputError(f"--channel: one of {', '.join(CHANNELS)}, not {channel!r}")
    if channel == "wechat_link" and not spec.wechat_external_links:
        return {"status": "wechat_external_link_banned", "campaign": campaign}
    if helper == initiator:
        return {"status": "self_assist", "campaign": campaign}
    day = local_day(at, tz)
    with immediate(ledger.con) as con:
        pair = f"assist:{campaign}:pair:{initiator}"
        if _used(con, pair, helper, ALL_TIME) >= spec.per_initiator:
            return {"status": "already_assisted", "campaign": campaign}
        daily = f"assist:{campaign}:helper"
        if _used(con, daily, helper, day) >= spec.per_helper_per_day:
            return {"status": "daily_cap_reached", "campaign": campaign, "day": day,
                    "per_helper_per_day": spec.per_helper_per_day}
        _bump(con, pair, helper, ALL_TIME)
        _bump(con, daily, helper, day)
        total = _bump(con, f"assist:{campaign}:initiator", initiator, ALL_TIME)
        con.execute("INSERT INTO assists (campaign, helper, initiator, at, day, channel) VALUES (?, ?, ?, ?, ?, ?)",
                    (campaign, helper, initiator, iso(at), day, channel))
    unlocked = [prize for n, prize in spec.unlock if total >= n]
    upcoming = [{"assists": n, "prize": prize} for n, prize in spec.unlock if total < n]
    return {"status": "accepted", "campaign": campaign, "assists": total, "unlocked": unlocked,
            "next": upcoming[0] if upcoming else None}
