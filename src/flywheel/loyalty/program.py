"""The loyalty programme as a merchant runs it: rules applied, points that follow ingested orders and
refunds (`loyalty run`), and the figures of `loyalty stats`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from flywheel.loyalty.ledger import iso
from flywheel.loyalty.points import open_ledger
from flywheel.loyalty.rules import load_rules_file


def example_rules_file() -> Path:
    from importlib import resources

    return Path(str(resources.files("flywheel.loyalty").joinpath("examples/rules.yaml")))


def apply_rules(gate, path: Path) -> dict:
    """Check a rules file and store it as the next version (unchanged rules are not stored again)."""
    from flywheel.loyalty.journal import immediate

    gate.require("loyalty.apply")
    rules, raw = load_rules_file(path)
    definition = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    sha = hashlib.sha256(definition.encode()).hexdigest()
    with open_ledger(gate.settings) as ledger, immediate(ledger.con) as con:
        last = con.execute("SELECT version, sha256 FROM rules ORDER BY version DESC LIMIT 1").fetchone()
        if last and last[1] == sha:
            return {"status": "unchanged", "version": last[0], "sha256": sha, "file": str(path)}
        version = (last[0] if last else 0) + 1
        con.execute("INSERT INTO rules (version, definition, sha256, file, applied_at, applied_by) VALUES (?, ?, ?, ?, ?, ?)",
                    (version, definition, sha, str(path), iso(dt.datetime.now(dt.timezone.utc)), gate.actor.name))
    gate.audit("loyalty.apply", str(path), detail={"version": version, "sha256": sha})
    return {"status": "applied", "version": version, "sha256": sha, "file": str(path),
            "levels": [lv.name for lv in rules.growth.levels], "assist_campaigns": sorted(rules.assist_campaigns)}


def person_level(gate, person_id: str, at: dt.datetime) -> dict:
    """`loyalty level`: the person's level at `at`, replayed from the journal under the stored rules."""
    from flywheel.loyalty.levels import Levels, Story, stories
    from flywheel.loyalty.points import LEVELS, stored_rules
    from flywheel.privacy import find_subject

    gate.require("read.persons")
    person = find_subject(gate.warehouse, person_id).person_id
    with open_ledger(gate.settings) as ledger:
        rules = stored_rules(ledger)
        story = stories(ledger.con, [person]).get(person, Story())
    standing = Levels(rules.growth, gate.settings.tz).standing(story, at).as_dict()
    gate.about(person)
    levels = LEVELS | {k: 2 for k in ("level", "growth_value", "since", "review_at", "demotion_due", "history")}
    return gate.disclosed(gate.disclosure.record("points", {"person_id": person} | standing, levels))


def loyalty_stats(gate, at: dt.datetime) -> dict:
    """Members per level (from the last `loyalty run`'s standings, recomputed at `at`), points issued,
    redeemed, expired and clawed back, the liability in CNY, breakage and points expiring within 30 days."""
    from decimal import Decimal

    from flywheel.loyalty.levels import Levels, standings
    from flywheel.loyalty.points import stored_rules

    with open_ledger(gate.settings) as ledger:
        con = ledger.con
        rules = stored_rules(ledger)
        sums = dict(con.execute("SELECT account, SUM(amount) FROM entries GROUP BY account").fetchall())
        outstanding = con.execute("SELECT COALESCE(SUM(available), 0), COALESCE(SUM(pending), 0), "
                                  "COALESCE(SUM(debt), 0), count(*) FROM balances").fetchone()
        expiring = con.execute("SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE state = 'open' AND expires_at > ? "
                               "AND expires_at <= ?", (iso(at), iso(at + dt.timedelta(days=30)))).fetchone()[0]
        per_level = {lv.name: 0 for lv in rules.growth.levels}
        for standing in standings(con, Levels(rules.growth, gate.settings.tz), at).values():
            per_level[standing.level] += 1
        members = outstanding[3]
    issued = -sums.get("merchant:issued", 0)
    redeemed, expired = sums.get("merchant:redeemed", 0), sums.get("merchant:expired", 0)
    clawed = sums.get("merchant:clawed_back", 0)
    value = rules.earning.point_value_cents
    liability = Decimal((outstanding[0] + outstanding[1]) * value) / 100
    settled = redeemed + expired
    return {"at": at.isoformat(), "members": members, "members_per_level": per_level,
            "points": {"issued": issued, "redeemed": redeemed, "expired": expired, "clawed_back": clawed,
                       "outstanding": outstanding[0] + outstanding[1], "available": outstanding[0],
                       "pending": outstanding[1], "debt": outstanding[2], "expiring_30d": expiring},
            "point_value_cents": value, "liability_cny": f"{liability:.2f}",
            "breakage": expired / settled if settled else 0.0}


def _current(gate, person_id: str) -> str:
    from flywheel.loyalty.points import _person

    return _person(gate, person_id)


def record_task(gate, person_id: str, task: str, at: dt.datetime, key: str | None, media: str | None = None) -> dict:
    """`loyalty task`: reward a task under its per-person daily cap (audited manual write)."""
    import uuid

    from flywheel.loyalty.points import stored_rules
    from flywheel.loyalty.tasks import do_task, local_day

    gate.require("points.write")
    person = _current(gate, person_id)
    with open_ledger(gate.settings) as ledger:
        rules = stored_rules(ledger)
        key = key or (f"task:{task}:{person}:{local_day(at, gate.settings.tz)}:{uuid.uuid4().hex[:8]}")
        outcome = do_task(ledger, rules, person, task, at, gate.settings.tz, key=key, media=media,
                          actor=gate.actor.name)
    if outcome["status"] == "accepted":
        gate.audit("points.task", person=person, detail={"task": task, "key": key, "points": outcome["points"]})
    gate.about(person)
    return {"person_id": gate.disclosure.value("points", "person_id", person, 2), "key": key} | outcome


def record_assist(gate, helper_id: str, initiator_id: str, campaign: str, at: dt.datetime, channel: str) -> dict:
    """`referral assist`: one helper's assist, counted per person (two accounts of a helper share the cap)."""
    from flywheel.loyalty.points import stored_rules
    from flywheel.loyalty.tasks import assist

    gate.require("points.write")
    helper, initiator = _current(gate, helper_id), _current(gate, initiator_id)
    with open_ledger(gate.settings) as ledger:
        outcome = assist(ledger, stored_rules(ledger), helper, initiator, campaign, at, gate.settings.tz, channel)
    if outcome["status"] == "accepted":
        gate.audit("points.assist", person=initiator, detail={"campaign": campaign, "assists": outcome["assists"]})
    show = gate.disclosure.value
    return {"helper": show("points", "person_id", helper, 2), "initiator": show("points", "person_id", initiator, 2)} | outcome


def referral_run(gate, now: dt.datetime) -> dict:
    """`referral run` under the stored rules (a write: coupons are issued)."""
    from flywheel.loyalty import referral
    from flywheel.loyalty.points import stored_rules

    gate.require("points.write")
    with open_ledger(gate.settings) as ledger:
        rules = stored_rules(ledger)
    return referral.run(gate, rules, now)


def person_invite_code(gate, person_id: str) -> dict:
    from flywheel.loyalty.referral import invite_code
    from flywheel.privacy import find_subject

    gate.require("read.persons")
    person = find_subject(gate.warehouse, person_id).person_id
    gate.about(person)
    return {"person_id": gate.disclosure.value("points", "person_id", person, 2),
            "code": gate.disclosure.value("points", "code", invite_code(gate.warehouse, person), 2)}
