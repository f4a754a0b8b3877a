"""One journey tick: refresh segments, exit, enrol, advance, then send what is due.

Invariants (`verify` checks them; the crash test kills ticks at random points):
- at most one active episode per (journey, person); episode numbers count 1, 2, … per person;
- an action exists at most once per (journey, person, episode, step) — its key;
- holdout and control episodes never have an action;
- an action is `sent` at most once, and only while its episode was active and its person allowed it.

Planning (segments, exits, entries, steps, new actions) is one transaction: a tick killed before it
commits changes nothing, and the next tick plans the same. Sending then goes in batches, each marked
`sending` before delivery, so a killed tick re-delivers at most its last batch, under the same keys.
Two ticks never run at once: a lock file beside the warehouse. A dry run is the same tick inside a
transaction that is rolled back, with a sender that only records: it plans exactly what the next
live tick at the same clock sends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hmac
import json
import logging
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pyarrow as pa

from flywheel.activate.advance import Advancer
from flywheel.activate.compile import RuleContext, compile_rule
from flywheel.activate.enrol import entrants, group_of, triggered
from flywheel.activate.journeys import Journey
from flywheel.activate.outbox import Guards, Outbox, allowed_by_purpose, as_table
from flywheel.activate.zones import ZoneBook
from flywheel.errors import ConfigError, FlywheelError
from flywheel.warehouse import account_persons

log = logging.getLogger(__name__)

SEND_BATCH = 1000
"""Actions marked `sending` and delivered together: a killed tick re-delivers at most this many.
FLYWHEEL_SEND_BATCH overrides it (crash tests use small batches to land kills between them)."""
CANCELLING = ("exit_when", "person gone")
"""Episode ends that cancel what the episode had not sent yet (completing or an exit step does not)."""
PLAN_COLUMNS = ("action_key", "journey", "person_id", "episode", "step", "channel", "scheduled_at", "status",
                "reason")


class TickBusy(FlywheelError):
    """Another `flywheel journey run` holds the lock."""


@contextlib.contextmanager
def tick_lock(db_path: Path):
    path = Path(str(db_path).rstrip("/") + ".journeys.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise TickBusy(f"another `flywheel journey run` is running ({holder}); try again when it ends") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} since {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@dataclass
class JourneyTally:
    entered: int = 0
    holdout: int = 0
    exited: int = 0
    completed: int = 0
    sent: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    deferred: int = 0

    def as_dict(self, name: str) -> dict:
        return {"name": name, "entered": self.entered, "holdout": self.holdout, "sent": dict(self.sent),
                "skipped": dict(self.skipped), "deferred": self.deferred, "exited": self.exited,
                "completed": self.completed}


@dataclass
class TickResult:
    tick_id: str
    now: dt.datetime
    dry_run: bool
    journeys: dict[str, JourneyTally]
    plan: list[dict]

    def as_dict(self) -> dict:
        return {"now": self.now.isoformat(), "dry_run": self.dry_run, "tick_id": self.tick_id,
                "journeys": [t.as_dict(n) for n, t in sorted(self.journeys.items())]}


def run_tick(wh, now: dt.datetime, journeys: list[Journey], *, actor: str, guards: Guards, deliver,
             addresses, context_of, dry_run: bool = False) -> TickResult:
    """One tick over `journeys` (the active ones) at `now`. `deliver(batch)` takes [(action, address)]
    and returns [(status, reason)] with status sent | retry | failed; `addresses` tells who is reachable
    on a channel and opens addresses for the sender only (`channels.ContactBook`);
    `context_of(person_ids)` gives each person's template fields."""
    with tick_lock(Path(wh.settings.db_path)):
        if dry_run:
            with wh.rolled_back():
                return _tick(wh, now, journeys, actor, guards, _recorder, addresses, context_of, True)
        return _tick(wh, now, journeys, actor, guards, deliver, addresses, context_of, False)


def send_batch() -> int:
    text = os.environ.get("FLYWHEEL_SEND_BATCH", "").strip()
    if not text:
        return SEND_BATCH
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"FLYWHEEL_SEND_BATCH must be a whole number of actions, 1 or more, not {text!r}.")
    return int(text)


def _recorder(batch):
    return [("sent", None) for _ in batch]


def _tick(wh, now, journeys, actor, guards, deliver, addresses, context_of, dry_run) -> TickResult:
    from flywheel.activate.segments import refresh_segments

    size = send_batch()  # a bad value fails before anything is planned
    started = dt.datetime.now(dt.timezone.utc)
    tick_id = now.strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    tallies = {j.name: JourneyTally() for j in journeys}
    secret = _coupon_secret(wh)
    zones = ZoneBook(wh)
    with wh.transaction():
        refresh_segments(wh, now)
        universe = wh.materialize("journey_universe", account_persons(wh).select("person_id").distinct())
        members = _members(wh)
        value_run = _latest_value_run(wh)
        for journey in journeys:
            _plan(wh, journey, now, universe, members, value_run, secret, tallies[journey.name], context_of, zones)
    outbox = Outbox(wh, now, guards, {}, addresses, wh.settings.timezone)
    due = outbox.due([j.name for j in journeys])
    persons = sorted({a["person_id"] for a in due})
    outbox.zones = zones.of(persons)
    present, cancelled = _present_and_cancelled(wh, universe, persons)
    outbox.guard(due, cancelled, allowed_by_purpose(wh, due), present)
    if not dry_run:
        outbox.open_addresses()
    for i in range(0, len(outbox.to_send) + 1, size):
        batch = outbox.to_send[i:i + size]
        for a, _ in batch:
            a["status"] = "sending"
        _store_actions(wh, outbox.updates + [a for a, _ in batch])  # the last results and the next batch, at once
        outbox.updates.clear()
        if not batch:
            break
        results = deliver(batch)
        for (a, _), (status, why) in zip(batch, results):
            outbox.delivered(a, status, why)
    _store_actions(wh, outbox.updates)
    outbox.updates.clear()
    for name, t in outbox.tally.items():
        tally = tallies.setdefault(name, JourneyTally())
        tally.sent.update(t.sent)
        tally.skipped.update(t.skipped)
        tally.deferred += sum(t.deferred.values())
    plan = [{k: a.get(k) for k in PLAN_COLUMNS} for a in sorted(due, key=lambda a: a["action_key"])]
    result = TickResult(tick_id, now, dry_run, tallies, plan)
    _record_tick(wh, result, started, actor)
    return result


def _plan(wh, journey: Journey, now, universe, members, value_run, secret, tally: JourneyTally, context_of,
          zones: ZoneBook) -> None:
    ctx = RuleContext(wh, now, universe, members)
    state = _journey_state(wh, journey.name)
    changed: dict[tuple, dict] = {}
    due = []
    for r in wh.fetch(_fates(wh, journey, now, universe, members)).to_pylist():
        fate = r.pop("fate")
        k = (r["journey"], r["person_id"], r["episode"])
        if fate == "due":
            due.append(r)
        elif fate == "completed":
            changed[k] = dict(r, state="completed", end_reason="completed", ended_at=now, updated_at=now)
        else:
            changed[k] = dict(r, state="exited", end_reason=fate, ended_at=now, position=None, due_at=None,
                              updated_at=now)
    tally.exited += sum(1 for r in changed.values() if r["state"] == "exited")
    fired = triggered(ctx, journey, state.get("last_now"), value_run, state.get("value_run"))
    new = entrants(ctx, journey, fired)
    new = new.mutate(grp=group_of(new.person_id, journey))
    fresh = []
    for r in wh.fetch(new.order_by("person_id")).to_pylist():
        episode = {"journey": journey.name, "person_id": r["person_id"], "episode": int(r["episode"]),
                   "grp": r["grp"], "entered_at": now, "state": "active",
                   "position": "0" if r["grp"] == "treatment" else None, "due_at": None, "wait_started_at": None,
                   "coupon_code": None, "ended_at": None, "end_reason": None, "updated_at": now}
        fresh.append(episode)
        tally.entered += 1
        tally.holdout += r["grp"] != "treatment"
    due += [f for f in fresh if f["grp"] == "treatment"]
    outcome = Advancer(ctx, journey, now, secret, zones.of([r["person_id"] for r in due]), context_of).run(due)
    tally.completed += outcome.completed
    tally.exited += outcome.exited
    for f in fresh:
        changed.setdefault((f["journey"], f["person_id"], f["episode"]), f)
    changed.update(outcome.episodes)
    if changed:
        wh.put("journey_episodes", as_table(list(changed.values()), wh, "journey_episodes"))
    if outcome.actions:
        wh.insert_new("journey_actions", as_table(outcome.actions, wh, "journey_actions"))
    if outcome.coupons:
        wh.insert_new("coupons", as_table(outcome.coupons, wh, "coupons"))
    wh.put("journey_state", pa.Table.from_pylist([{"journey": journey.name, "last_now": now,
                                                   "value_run": value_run}]))


def _fates(wh, journey: Journey, now, universe, members) -> ibis.Table:
    """The active episodes of `journey` that something happens to at `now`, each with its `fate`:
    `person gone` (no longer in any account), `exit_when` (the exit rule holds since entry),
    `completed` (a holdout or control episode past its conversion window) or `due` (a treatment
    episode whose wait is over, or that waits for a rule). Decided in the warehouse, so a tick over a
    million enrolled persons reads only the few thousand it acts on."""
    e = wh.table("journey_episodes")
    mine = e.filter((e.journey == journey.name) & (e.state == "active"))
    here = universe.select(here_id="person_id").distinct()
    t = mine.left_join(here, mine.person_id == here.here_id)
    leaving_expr = None
    if journey.exit_when is not None:
        people = mine.select("person_id").distinct()
        anchors = mine.select("person_id", anchor_at=mine.entered_at)
        leaving = compile_rule(journey.exit_when, RuleContext(wh, now, people, members, anchors))
        leaving = leaving.select(leaving_id="person_id").distinct()
        t = t.left_join(leaving, t.person_id == leaving.leaving_id)
        leaving_expr = t.leaving_id.notnull()
    treatment = t.grp == "treatment"
    window_over = t.entered_at <= ibis.literal(now - dt.timedelta(days=journey.conversion_days),
                                               type="timestamp('UTC')")
    waiting_for = [s.path for s in journey.all_steps() if s.kind == "wait_for"]
    due = t.due_at.isnull() | (t.due_at <= ibis.literal(now, type="timestamp('UTC')"))
    if waiting_for:
        due |= t.position.isin(waiting_for)
    cases = [(t.here_id.isnull(), ibis.literal("person gone"))]
    if leaving_expr is not None:
        cases.append((leaving_expr, ibis.literal("exit_when")))
    cases += [(~treatment & window_over, ibis.literal("completed")), (treatment & due, ibis.literal("due"))]
    fated = t.select(*mine.columns, fate=ibis.cases(*cases, else_=ibis.null("string")))
    return fated.filter(fated.fate.notnull()).order_by(["person_id", "episode"])


def _present_and_cancelled(wh, universe, persons: list[str]) -> tuple[set[str], set[tuple]]:
    """Of the persons with due actions: who is still in some account, and which of their episodes
    ended in a way that cancels what they had not sent yet."""
    if not persons:
        return set(), set()
    wanted = ibis.memtable({"person_id": persons}, schema={"person_id": "string"})
    present = set(wh.fetch(wanted.semi_join(universe, "person_id")).column(0).to_pylist())
    e = wh.table("journey_episodes")
    left = e.filter((e.state == "exited") & e.end_reason.isin(list(CANCELLING))).semi_join(wanted, "person_id")
    rows = wh.fetch(left.select("journey", "person_id", "episode")).to_pylist()
    return present, {(r["journey"], r["person_id"], r["episode"]) for r in rows}


def _members(wh) -> dict[str, ibis.Table]:
    m = wh.table("segment_members")
    names = wh.fetch(m.select("segment").distinct()).column(0).to_pylist()
    segments = wh.fetch(wh.table("segments").select("name")).column(0).to_pylist()
    return {n: m.filter(m.segment == n).select("person_id") for n in set(names) | set(segments)}


def _latest_value_run(wh) -> str | None:
    runs = wh.fetch(wh.table("value_runs").order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(1)
                    .select("run_id"))
    return runs.column(0)[0].as_py() if runs.num_rows else None


def _journey_state(wh, name: str) -> dict:
    s = wh.table("journey_state")
    rows = wh.fetch(s.filter(s.journey == name)).to_pylist()
    return rows[0] if rows else {}


def _coupon_secret(wh) -> bytes:
    from flywheel.keys import load_or_create_key

    return hmac.new(load_or_create_key(wh.settings.key_file), b"flywheel coupon codes", "sha256").digest()


def _store_actions(wh, rows: list[dict]) -> None:
    """One put, all or nothing (a put is a delete and an insert: a kill between them must not lose rows)."""
    if rows:
        with wh.transaction():
            wh.put("journey_actions", as_table(rows, wh, "journey_actions"))


def _record_tick(wh, result: TickResult, started: dt.datetime, actor: str) -> None:
    wh.append("journey_ticks", pa.Table.from_pylist([{
        "tick_id": result.tick_id, "now": result.now, "started_at": started,
        "finished_at": dt.datetime.now(dt.timezone.utc), "dry_run": result.dry_run, "actor": actor,
        "summary": json.dumps(result.as_dict()["journeys"], ensure_ascii=False)}]))


def verify(wh) -> None:
    """The invariants of the module docstring, checked from the stored tables (the crash test runs it
    after every kill)."""
    episodes = wh.fetch(wh.table("journey_episodes").order_by(["journey", "person_id", "episode"])).to_pylist()
    actions = wh.fetch(wh.table("journey_actions").order_by("action_key")).to_pylist()
    by_person: dict[tuple[str, str], list[dict]] = {}
    for e in episodes:
        by_person.setdefault((e["journey"], e["person_id"]), []).append(e)
    for (journey, person), mine in by_person.items():
        if [e["episode"] for e in mine] != list(range(1, len(mine) + 1)):
            raise AssertionError(f"journey {journey}: {person} has episodes {[e['episode'] for e in mine]}")
        if sum(e["state"] == "active" for e in mine) > 1:
            raise AssertionError(f"journey {journey}: {person} has more than one active episode")
    episode_of = {(e["journey"], e["person_id"], e["episode"]): e for e in episodes}
    keys = Counter((a["journey"], a["person_id"], a["episode"], a["step"]) for a in actions)
    twice = [k for k, n in keys.items() if n > 1] + [k for k, n in Counter(a["action_key"] for a in actions).items()
                                                     if n > 1]
    if twice:
        raise AssertionError(f"{len(twice)} actions stored more than once, e.g. {twice[0]}")
    for a in actions:
        e = episode_of.get((a["journey"], a["person_id"], a["episode"]))
        if e is None or e["grp"] != "treatment":
            raise AssertionError(f"action {a['action_key']} belongs to no treatment episode")
        if a["status"] == "sent" and e["ended_at"] is not None and a["sent_at"] > e["ended_at"]:
            raise AssertionError(f"action {a['action_key']} was sent after its episode ended ({e['end_reason']})")
