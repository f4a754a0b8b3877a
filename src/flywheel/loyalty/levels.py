"""Growth value (成长值) and member levels, replayed from the ledger's journal.

Growth value is the cash paid net of refunds (times `per_cny`, rounded down) of the orders paid inside
the window — rolling N days, the calendar year, or the membership year since the anniversary of the
first order — plus the growth of tasks done inside it. The journal holds both halves with their
times: an order's earning at its payment time, each refund when it was recorded, each task.

Levels are what the customer sees (tiers describe behaviour and stay separate):
- an upgrade applies at once and starts a new level period, reviewed one window later;
- a downgrade waits for the review date, except that refunding an order paid within the current level
  period re-evaluates at once;
- a review that keeps the level sets the next review one window on.
"""

from __future__ import annotations

import datetime as dt
import json
from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction

from flywheel.loyalty.rules import Growth, Level


@dataclass
class Story:
    """One person's growth events: orders (paid time, cash paid, refunds with their times) and tasks."""

    orders: dict[str, list] = field(default_factory=dict)
    """order → [paid_at, paid_cents, [(refunded_at, cents), …]]"""
    tasks: list[tuple[dt.datetime, int]] = field(default_factory=list)

    def events(self) -> list[tuple[dt.datetime, str, str | None]]:
        out = [(o[0], "paid", order) for order, o in self.orders.items()]
        out += [(t, "refund", order) for order, o in self.orders.items() for t, _ in o[2]]
        out += [(t, "task", None) for t, _ in self.tasks]
        return sorted(out, key=lambda e: (e[0], e[1] != "paid", e[2] or ""))


@dataclass(frozen=True)
class Standing:
    level: str
    growth_value: int
    since: dt.datetime | None
    review_at: dt.datetime | None
    demotion_due: bool
    """The review falls within the warning days and, with no new growth, would lower the level."""
    history: tuple[tuple[dt.datetime, str, str], ...] = ()
    """(time, level, why): joined, upgrade, review, refund."""

    def as_dict(self) -> dict:
        return {"level": self.level, "growth_value": self.growth_value,
                "since": self.since.isoformat() if self.since else None,
                "review_at": self.review_at.isoformat() if self.review_at else None,
                "demotion_due": self.demotion_due,
                "history": [{"at": t.isoformat(), "level": lv, "reason": why} for t, lv, why in self.history]}


class Levels:
    """The level rules of one rules file, evaluated for a person's story."""

    def __init__(self, growth: Growth, tz):
        self.growth = growth
        self.tz = tz
        self.rank = {lv.name: i for i, lv in enumerate(growth.levels)}
        rate = Fraction(growth.per_cny) / 100
        self._num, self._den = rate.numerator, rate.denominator

    def _window_start(self, at: dt.datetime, joined: dt.datetime) -> dt.datetime:
        g = self.growth
        if g.window == "rolling_days":
            return at - dt.timedelta(days=g.days)
        local = at.astimezone(self.tz)
        if g.window == "calendar_year":
            return dt.datetime(local.year, 1, 1, tzinfo=self.tz)
        return self._anniversary_before(at, joined)

    def _anniversary_before(self, at: dt.datetime, joined: dt.datetime) -> dt.datetime:
        start = joined.astimezone(self.tz)
        year = at.astimezone(self.tz).year
        for y in (year, year - 1):
            try:
                candidate = start.replace(year=y)
            except ValueError:  # 29 February
                candidate = start.replace(year=y, day=28)
            if candidate <= at:
                return candidate
        return start

    def review_after(self, at: dt.datetime, joined: dt.datetime) -> dt.datetime:
        g = self.growth
        if g.window == "rolling_days":
            return at + dt.timedelta(days=g.days)
        if g.window == "calendar_year":
            return dt.datetime(at.astimezone(self.tz).year + 1, 1, 1, tzinfo=self.tz)
        previous = self._anniversary_before(at, joined)
        try:
            return previous.replace(year=previous.year + 1)
        except ValueError:
            return previous.replace(year=previous.year + 1, day=28)

    def value(self, story: Story, at: dt.datetime, joined: dt.datetime) -> int:
        """Growth value at `at` (the window's orders net of refunds recorded by then, plus tasks)."""
        start = self._window_start(at, joined)
        inclusive = self.growth.window != "rolling_days"
        cents = 0
        for paid_at, paid, refunds in story.orders.values():
            if paid_at > at or paid_at < start or (paid_at == start and not inclusive):
                continue
            cents += paid
            for t, c in refunds:
                if t <= at:
                    cents -= c
        tasks = sum(g for t, g in story.tasks if start <= t <= at) if story.tasks else 0
        return self.growth_of(cents) + tasks

    def growth_of(self, cents: int) -> int:
        """floor(CNY × per_cny), exactly, in integers (this runs millions of times per publish)."""
        return max(cents, 0) * self._num // self._den

    def level_for(self, growth_value: int) -> Level:
        return self.growth.level_for(growth_value)

    def standing(self, story: Story, at: dt.datetime) -> Standing:
        """The level at `at`, replaying the story's events and the review dates they set."""
        events = [e for e in story.events() if e[0] <= at]
        base = self.growth.levels[0].name
        if not events:
            return Standing(base, 0, None, None, False)
        joined = events[0][0]
        level, since = base, joined
        review = self.review_after(joined, joined)
        history = [(joined, base, "joined")]
        times = [e[0] for e in events]
        i = 0
        while True:
            upcoming = events[i][0] if i < len(events) else None
            if review <= at and (upcoming is None or review <= upcoming):
                new = self.level_for(self.value(story, review, joined)).name
                if new != level:
                    level, since = new, review
                    history.append((review, new, "review"))
                review = self.review_after(review, joined)
                continue
            if upcoming is None:
                break
            t = upcoming
            j = bisect_right(times, t)
            kinds = events[i:j]
            i = j
            growth_now = self.value(story, t, joined)
            target = self.level_for(growth_now).name
            refunded_in_period = any(kind == "refund" and story.orders[order][0] >= since for _, kind, order in kinds)
            if self.rank[target] > self.rank[level] or (refunded_in_period and target != level):
                level, since = target, t
                history.append((t, target, "upgrade" if self.rank[target] > self.rank[history[-1][1]] else "refund"))
                review = self.review_after(t, joined)
        growth_now = self.value(story, at, joined)
        warn = dt.timedelta(days=self.growth.warn_days)
        demotion = (review - at <= warn and
                    self.rank[self.level_for(self.value(story, review, joined)).name] < self.rank[level])
        return Standing(level, growth_now, since, review, demotion, tuple(history))


def stories(con, persons: list[str] | None = None) -> dict[str, Story]:
    """Every person's story from the journal (or only `persons`')."""
    where = ""
    args: tuple = ()
    if persons is not None:
        where = f" AND t.person IN ({','.join('?' * len(persons))})"
        args = tuple(persons)
    rows = con.execute(
        "SELECT t.person, t.kind, t.at, t.order_id, o.paid, t.detail FROM transactions t "
        "LEFT JOIN orders o ON o.order_id = t.order_id "
        f"WHERE t.kind IN ('earn', 'refund', 'task') AND t.person IS NOT NULL{where} ORDER BY t.person, t.id", args)
    out: dict[str, Story] = {}
    for person, kind, at, order, paid, detail in rows:
        story = out.get(person)
        if story is None:
            story = out[person] = Story()
        when = dt.datetime.fromisoformat(at)
        if kind == "earn" and order is not None and paid:
            story.orders[order] = [when, paid, []]
        elif kind == "refund" and order in story.orders:
            story.orders[order][2].append((when, json.loads(detail)["amount_cents"]))
        elif kind == "task" and detail:
            growth = json.loads(detail).get("growth", 0)
            if growth:
                story.tasks.append((when, growth))
    return out


def standings(con, levels: Levels, at: dt.datetime, only: list[str] | None = None) -> dict[str, Standing]:
    """Every ledger person's standing at `at` (or only the persons of `only`, replayed).

    Most members could never reach the second level with everything they ever paid (before refunds,
    which only lower growth): they stay at the
    first, and their growth value is one SQL sum over the window. Only the others have their story
    replayed (tests/loyalty/test_levels.py checks both give the same standings)."""
    from flywheel.loyalty.ledger import iso

    if only is not None:
        return _replayed(con, levels, at, only)
    g = levels.growth
    base = g.levels[0].name
    stamp = iso(at)
    reachable = g.levels[1].threshold if len(g.levels) > 1 else None
    totals = {p: (int(cents or 0), joined, int(tasks or 0)) for p, cents, joined, tasks in con.execute(
        "SELECT b.person, o.cents, o.joined, t.growth FROM balances b "
        "LEFT JOIN (SELECT o.person, SUM(o.paid) AS cents, MIN(l.earned_at) AS joined FROM orders o "
        "JOIN lots l ON l.id = o.lot WHERE o.earned > 0 AND l.earned_at <= ? GROUP BY o.person) o ON o.person = b.person "
        "LEFT JOIN (SELECT person, SUM(CAST(json_extract(detail, '$.growth') AS INTEGER)) AS growth, MIN(at) AS first "
        "FROM transactions WHERE kind = 'task' AND at <= ? GROUP BY person) t ON t.person = b.person",
        (stamp, stamp)).fetchall()}
    simple, replay = [], []
    for person, (cents, joined, tasks) in totals.items():
        ceiling = levels.growth_of(cents) + tasks
        if g.window == "anniversary" or tasks or reachable is None or ceiling >= reachable or joined is None:
            replay.append(person)
        else:
            simple.append(person)
    out = {}
    if simple:
        start = levels._window_start(at, at)
        inclusive = g.window != "rolling_days"
        window = con.execute(
            "SELECT o.person, SUM(o.paid - o.refunded) FROM orders o JOIN lots l ON l.id = o.lot WHERE o.earned > 0 "
            f"AND l.earned_at {'>=' if inclusive else '>'} ? AND l.earned_at <= ? GROUP BY o.person",
            (iso(start), stamp)).fetchall()
        growth = {p: levels.growth_of(c) for p, c in window}
        for person in simple:
            joined = dt.datetime.fromisoformat(totals[person][1])
            review = levels.review_after(joined, joined)
            if g.window == "rolling_days" and review <= at:
                review = joined + dt.timedelta(days=g.days * ((at - joined) // dt.timedelta(days=g.days) + 1))
            while review <= at:
                review = levels.review_after(review, joined)
            out[person] = Standing(base, growth.get(person, 0), joined, review, False, ((joined, base, "joined"),))
    out |= _replayed(con, levels, at, replay)
    return out


PARALLEL_FROM = 100_000
"""Replays from this many persons are shared between processes (the replay is pure Python)."""


def _replay_chunk(path: str, levels: Levels, at: dt.datetime, persons: list[str]) -> list[tuple]:
    import sqlite3

    con = sqlite3.connect(path)
    try:
        out = []
        for chunk in range(0, len(persons), 20_000):
            told = stories(con, persons[chunk:chunk + 20_000])
            for person in persons[chunk:chunk + 20_000]:
                s = levels.standing(told.get(person, Story()), at)
                out.append((person, s.level, s.growth_value, s.since, s.review_at, s.demotion_due))
        return out
    finally:
        con.close()


def _replayed(con, levels: Levels, at: dt.datetime, persons: list[str]) -> dict[str, Standing]:
    """Standings of `persons` by replay: in this process, or split over the machine's cores (forked
    workers read the journal on their own connections; the history of changes is left out)."""
    import multiprocessing
    import os

    workers = min(os.cpu_count() or 1, 4)
    if len(persons) < PARALLEL_FROM or workers < 2:
        out = {}
        for chunk in range(0, len(persons), 20_000):
            told = stories(con, persons[chunk:chunk + 20_000])
            out |= {p: levels.standing(told.get(p, Story()), at) for p in persons[chunk:chunk + 20_000]}
        return out
    path = con.execute("PRAGMA database_list").fetchone()[2]
    parts = [persons[i::workers] for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.starmap(_replay_chunk, [(path, levels, at, part) for part in parts])
    return {p: Standing(level, growth, since, review, due) for rows in results for p, level, growth, since, review, due in rows}
