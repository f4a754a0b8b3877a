"""Segments: named rules whose members are kept current, with the history of who entered and left.

Guarantees (checked by `verify` and the tests):
- after a refresh at `now`, a segment's members are exactly the persons its rule selects at `now`
  (an incremental refresh equals a full rebuild);
- `segment_changes` is append-only and alternates per (segment, person): entered, exited, entered…;
  `segment_members` is the set of persons whose last change is `entered`.

Refresh is incremental: only persons with data that arrived since the segment's last refresh (ingest
runs finished after its data mark, identity changes, consents recorded by hand) and persons whose
time window the clock has moved past are evaluated again. Anything that invalidates that reasoning —
a new definition, a new scoring run under a trait rule, a clock moved backwards, a referenced segment
rebuilt in full — makes that refresh a full one. An incremental refresh reads its candidates' rows
only: their accounts are looked up rather than the person of every account computed (which the two
exceptions of `_candidate_accounts` and `_gone` still do).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pyarrow as pa
import yaml

from flywheel.activate.compile import LOYALTY_TRAITS, RuleContext, check_rule, compile_rule, union_all
from flywheel.activate.rules import (
    NotPerformed,
    Ordered,
    Performed,
    Rule,
    RuleError,
    SegmentRef,
    Trait,
    parse_rule,
    references,
    walk,
)
from flywheel.errors import InputError
from flywheel.warehouse import Warehouse, account_persons

log = logging.getLogger(__name__)

DAY = 86_400
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True)
class Segment:
    name: str
    description: str
    rule: Rule
    definition: dict
    file: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.definition, sort_keys=True, ensure_ascii=False,
                                         default=str).encode()).hexdigest()


class SegmentError(InputError):
    """A segment file or name that cannot be used."""


def shipped_segments_file() -> Path:
    """The segments Flywheel ships (tiers, high potential / low activity, KOCs, CLV-drop alerts, lapsed VIPs)."""
    from importlib import resources

    return Path(str(resources.files("flywheel.activate").joinpath("segments.yaml")))


def load_segment_files(paths: list[Path]) -> list[Segment]:
    """Segments of YAML files: one segment per file (`name`, `description`, `rule`) or a list under
    `segments:`. Shape errors name the file and the rule's path."""
    found = []
    for path in paths:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SegmentError(f"{path}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise SegmentError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
        items = raw.get("segments") if isinstance(raw, dict) and "segments" in raw else [raw]
        if not isinstance(items, list):
            raise SegmentError(f"{path}: `segments` must be a list")
        for i, item in enumerate(items):
            prefix = "" if len(items) == 1 and "segments" not in (raw or {}) else f"segments[{i}]."
            found.append(_segment(item, str(path), prefix))
    names = [s.name for s in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SegmentError(f"segment(s) defined twice: {', '.join(twice)}")
    return found


def _segment(item, where: str, prefix: str) -> Segment:
    if not isinstance(item, dict):
        raise RuleError(where, prefix.rstrip(".") or "(top)", "a segment is a mapping with name, description, rule")
    name = item.get("name")
    if not isinstance(name, str) or not name or set(name) - NAME_CHARS:
        raise RuleError(where, f"{prefix}name", f"lower-case letters, digits, '_' or '-'. Got {name!r}")
    extra = sorted(set(map(str, item)) - {"name", "description", "rule"})
    if extra:
        raise RuleError(where, f"{prefix}{extra[0]}", "unknown key; a segment has name, description, rule")
    if "rule" not in item:
        raise RuleError(where, f"{prefix}rule", "missing")
    rule = parse_rule(item["rule"], where, f"{prefix}rule")
    return Segment(name, str(item.get("description") or ""), rule,
                   {"name": name, "description": item.get("description") or "", "rule": item["rule"]}, where)


def stored_segments(wh: Warehouse) -> dict[str, Segment]:
    rows = wh.fetch(wh.table("segments").order_by("name")).to_pylist()
    return {r["name"]: Segment(r["name"], r["description"] or "", parse_rule(json.loads(r["rule"]), r["name"]),
                               json.loads(r["definition"]), r["file"] or "") for r in rows}


def apply_segments(gate, segments: list[Segment]) -> list[dict]:
    """Create or update segments after checking them against the warehouse (`activate.apply`);
    returns what changed, and audits it."""
    gate.require("activate.apply")
    wh = gate.warehouse
    existing = stored_segments(wh)
    known = set(existing) | {s.name for s in segments}
    events = set(wh.fetch(wh.table("events").select("event").distinct()).column("event").to_pylist()) - {None}
    for s in segments:
        check_rule(s.rule, s.file or s.name, events, known)
    _order({**existing, **{s.name: s for s in segments}})
    now = dt.datetime.now(dt.timezone.utc)
    outcome, rows = [], []
    for s in segments:
        before = existing.get(s.name)
        state = "unchanged" if before is not None and before.sha256 == s.sha256 else (
            "updated" if before is not None else "created")
        outcome.append({"name": s.name, "status": state})
        if state != "unchanged":
            rows.append({"name": s.name, "description": s.description,
                         "rule": json.dumps(s.definition["rule"], ensure_ascii=False, sort_keys=True),
                         "definition": json.dumps(s.definition, ensure_ascii=False, sort_keys=True),
                         "file": s.file, "sha256": s.sha256, "applied_at": now, "applied_by": gate.actor.name})
    if rows:
        wh.put("segments", pa.Table.from_pylist(rows))
        gate.audit("activate.apply", "segments " + ", ".join(r["name"] for r in rows),
                   detail={"segments": [o for o in outcome if o["status"] != "unchanged"]})
    return outcome


def parse_segment(text: str, where: str = "builder") -> Segment:
    """One segment from YAML text (`name`, `description`, `rule`), as a file holds it."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SegmentError(f"{where}: not valid YAML ({' '.join(str(exc).split())})") from None
    return _segment(raw, where, "")


def preview_segment(wh: Warehouse, segment: Segment, now: dt.datetime | None = None) -> dict:
    """How many persons `segment` would hold, checked as `apply` checks it but stored nowhere (the
    console's live count). The clock is `now`, else that of the latest refresh (the members the
    console shows), else the wall clock; referenced segments count with their current members."""
    stored = stored_segments(wh)
    events = set(wh.fetch(wh.table("events").select("event").distinct()).column("event").to_pylist()) - {None}
    check_rule(segment.rule, segment.file or segment.name, events, set(stored) | {segment.name})
    if segment.name in references(segment.rule):
        raise SegmentError(f"segment {segment.name!r} refers to itself")
    if now is None:
        r = wh.table("segment_refreshes")
        now = _utc(r.now.max().execute()) or dt.datetime.now(dt.timezone.utc)
    accounts = account_persons(wh)
    universe = accounts.select("person_id").distinct()
    members = {name: _members(wh, name) for name in references(segment.rule)}
    ctx = RuleContext(wh, now.astimezone(dt.timezone.utc), universe, members, everyone=True, known_accounts=accounts)
    return {"name": segment.name, "persons": int(compile_rule(segment.rule, ctx).count().execute()),
            "now": now.isoformat()}


def refresh(gate, now: dt.datetime | None = None, names: list[str] | None = None,
            full: bool = False) -> list["RefreshResult"]:
    """`refresh_segments` for an acting role (`activate.run`)."""
    gate.require("activate.run")
    return refresh_segments(gate.warehouse, now, names, full)


def _order(segments: dict[str, Segment]) -> list[str]:
    """Names in dependency order (a referenced segment first); a cycle is an error."""
    done: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = visiting[visiting.index(name):] + [name]
            raise SegmentError(f"segments refer to each other in a circle: {' → '.join(cycle)}")
        visiting.append(name)
        for ref in sorted(references(segments[name].rule)):
            if ref not in segments:
                raise SegmentError(f"segment {name!r} refers to unknown segment {ref!r}")
            visit(ref)
        visiting.pop()
        done.append(name)

    for name in sorted(segments):
        visit(name)
    return done


@dataclass
class RefreshResult:
    segment: str
    mode: str
    members: int
    entered: int
    exited: int
    candidates: int | None
    seconds: float

    def as_dict(self) -> dict:
        return {"name": self.segment, "mode": self.mode, "members": self.members, "entered": self.entered,
                "exited": self.exited, "candidates": self.candidates, "seconds": round(self.seconds, 3)}


@dataclass
class _Marks:
    """What a refresh had seen: the clock, the data, the scoring run, the definition."""

    now: dt.datetime
    started: dt.datetime
    data_mark: dt.datetime | None
    value_run: str | None
    sha256: str
    extra: dict = field(default_factory=dict)
    loyalty_as_of: dt.datetime | None = None


def refresh_segments(wh: Warehouse, now: dt.datetime | None = None, names: list[str] | None = None,
                     full: bool = False) -> list[RefreshResult]:
    """Bring every segment (or `names` and what they refer to) up to date as of `now`."""
    with wh.cached_tables():
        return _refresh(wh, now, names, full)


def _refresh(wh: Warehouse, now: dt.datetime | None, names: list[str] | None, full: bool) -> list[RefreshResult]:
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    segments = stored_segments(wh)
    order = _order(segments)
    if names:
        unknown = sorted(set(names) - set(segments))
        if unknown:
            raise SegmentError(f"no segment {unknown[0]!r}; known: {', '.join(order) or 'none'}")
        wanted = set()
        for name in names:
            wanted |= {name} | _closure(segments, name)
        order = [n for n in order if n in wanted]
    marks = _current_marks(wh, now)
    base = _Everyone(wh)
    members: dict[str, ibis.Table] = {}
    results: list[RefreshResult] = []
    rebuilt: set[str] = set()
    changed: dict[str, ibis.Table] = {}
    for name in order:
        seg = segments[name]
        started = time.perf_counter()
        last = _last_refresh(wh, name)
        why_full = _needs_full(seg, last, marks, now, rebuilt) if not full else "asked"
        current = _members(wh, name)
        if why_full:
            ctx = RuleContext(wh, now, base.universe(), members, everyone=True, known_accounts=base.accounts())
            selected = wh.materialize(f"seg_{name}_new", compile_rule(seg.rule, ctx))
            entered = selected.anti_join(current, "person_id")
            exited = current.anti_join(selected, "person_id")
            gone = exited.anti_join(base.universe(), "person_id")
            cands = None
            rebuilt.add(name)
        else:
            keys, ids = _candidates(wh, seg, last, now, changed)
            mine, cands = _candidate_accounts(wh, name, keys, ids, base)
            few = wh.materialize(f"seg_{name}_few", mine.select("person_id").distinct())
            ctx = RuleContext(wh, now, few, members, everyone=True, known_accounts=mine, few=True,
                              stage_events=f"seg_{name}_events", staged_names=_event_names(seg.rule))
            selected_c = wh.materialize(f"seg_{name}_new", compile_rule(seg.rule, ctx))
            current_c = current.semi_join(cands, "person_id")
            entered = selected_c.anti_join(current_c, "person_id")
            gone = _gone(wh, current, base)
            exited = union_all([current_c.anti_join(selected_c, "person_id"), gone])
        entered = wh.materialize(f"seg_{name}_entered", entered.select("person_id"))
        exited = wh.materialize(f"seg_{name}_exited", exited.select("person_id"))
        refresh_id = _record_changes(wh, name, entered, exited, gone, now)
        after = _members(wh, name)
        members[name] = wh.materialize(f"seg_{name}_members", after)
        changed[name] = wh.materialize(f"seg_{name}_changed", union_all([entered, exited]))
        counts = _counts(wh, {"members": after, "entered": entered, "exited": exited}
                         | ({} if cands is None else {"candidates": cands}))
        result = RefreshResult(name, "full" if why_full else "incremental", counts["members"], counts["entered"],
                               counts["exited"], counts.get("candidates"), time.perf_counter() - started)
        _record_refresh(wh, refresh_id, seg, result, marks, why_full)
        results.append(result)
        log.info("segment %s: %s refresh, %d members (+%d −%d)%s", name, result.mode, result.members,
                 result.entered, result.exited, f" ({why_full})" if why_full else "")
    return results


def _counts(wh: Warehouse, tables: dict[str, ibis.Table]) -> dict[str, int]:
    """The row counts of several tables in one query."""
    parts = [t.aggregate(n=t.count()).mutate(name=ibis.literal(k)) for k, t in tables.items()]
    rows = wh.fetch(functools.reduce(lambda a, b: a.union(b, distinct=False), parts)).to_pylist()
    return {r["name"]: int(r["n"]) for r in rows}


def _event_names(rule: Rule) -> dict[str, bool]:
    """The events a rule reads, each with whether it filters on their properties."""
    names: dict[str, bool] = {}
    for node in walk(rule):
        if isinstance(node, (Performed, NotPerformed)):
            names[node.event] = names.get(node.event, False) or (isinstance(node, Performed) and bool(node.where))
    return names


class _Everyone:
    """The person of every account and every person, computed once per refresh and only if needed:
    a full refresh needs them; an incremental one looks up its candidates' accounts instead (at a
    million accounts the join of all of them was a fifth of an incremental refresh)."""

    def __init__(self, wh: Warehouse):
        self.wh = wh
        self._accounts: ibis.Table | None = None
        self._universe: ibis.Table | None = None

    def accounts(self) -> ibis.Table:
        if self._accounts is None:
            self._accounts = self.wh.materialize("segment_accounts", account_persons(self.wh))
        return self._accounts

    def universe(self) -> ibis.Table:
        if self._universe is None:
            self._universe = self.wh.materialize("segment_universe", self.accounts().select("person_id").distinct())
        return self._universe


def _candidate_accounts(wh: Warehouse, name: str, keys: ibis.Table, ids: ibis.Table,
                        base: _Everyone) -> tuple[ibis.Table, ibis.Table]:
    """The accounts (`account_persons` rows) of the candidates, and the candidates: the persons of
    `keys` plus `ids`. A placed person's accounts are in `person_accounts`; an unplaced one's only
    account is its own key. A candidate found neither way (merged away, erased, or an unplaced
    person named only by id) is looked up among every account."""
    keys = wh.materialize(f"seg_{name}_keys", keys)
    found = wh.materialize(f"seg_{name}_found", account_persons(wh, keys, flag=True))
    cands = wh.materialize(f"seg_{name}_cands", union_all([found.select("person_id"), ids]))
    placed = wh.table("person_accounts").select("source", "account_key", "person_id")
    alone = found.filter(~found.placed).select("source", "account_key", "person_id")
    mine = wh.materialize(f"seg_{name}_accounts", placed.semi_join(cands, "person_id").union(alone))
    missing = cands.anti_join(mine, "person_id")
    if int(missing.count().execute()):
        mine = wh.materialize(f"seg_{name}_accounts", mine.union(base.accounts().semi_join(missing, "person_id")))
    return mine, cands


def _gone(wh: Warehouse, current: ibis.Table, base: _Everyone) -> ibis.Table:
    """Members that are no longer anyone's person id. A placed id exists while `person_accounts`
    holds it; only when some member is not placed is every account's person computed."""
    placed = wh.table("person_accounts").select("person_id")
    unplaced = wh.materialize("segment_unplaced_members", current.anti_join(placed, "person_id"))
    if not int(unplaced.count().execute()):
        return unplaced
    return unplaced.anti_join(base.universe(), "person_id")


def _closure(segments: dict[str, Segment], name: str) -> set[str]:
    found = set()
    for ref in references(segments[name].rule):
        found |= {ref} | _closure(segments, ref)
    return found


def _current_marks(wh: Warehouse, now: dt.datetime) -> _Marks:
    runs = wh.table("ingest_runs")
    data_mark = runs.finished_at.max().execute()
    value_runs = wh.table("value_runs")
    latest = wh.fetch(value_runs.order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(1).select("run_id"))
    value_run = latest.column("run_id")[0].as_py() if latest.num_rows else None
    loyalty = wh.table("loyalty_members").as_of.max().execute()
    return _Marks(now, dt.datetime.now(dt.timezone.utc), _utc(data_mark), value_run, "",
                  loyalty_as_of=_utc(loyalty))


def _utc(value) -> dt.datetime | None:
    if value is None or value != value:
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _last_refresh(wh: Warehouse, name: str) -> dict | None:
    r = wh.table("segment_refreshes")
    rows = wh.fetch(r.filter(r.segment == name).order_by([ibis.desc("started_at"), ibis.desc("refresh_id")])
                    .limit(1)).to_pylist()
    return rows[0] if rows else None


def _needs_full(seg: Segment, last: dict | None, marks: _Marks, now: dt.datetime, rebuilt: set[str]) -> str:
    if last is None:
        return "first refresh"
    if last["sha256"] != seg.sha256:
        return "definition changed"
    if now < last["now"]:
        return "the clock moved back"
    if _uses_scores(seg.rule) and last["value_run"] != marks.value_run:
        return "a new scoring run"
    if _uses_loyalty(seg.rule) and _utc(last.get("loyalty_as_of")) != marks.loyalty_as_of:
        return "a new loyalty run"
    if references(seg.rule) & rebuilt:
        return "a referenced segment was rebuilt"
    return ""


def _uses_scores(rule: Rule) -> bool:
    return any(isinstance(n, Trait) for n in walk(rule))


def _uses_loyalty(rule: Rule) -> bool:
    return any(isinstance(n, Trait) and n.name in LOYALTY_TRAITS for n in walk(rule))


def _candidates(wh: Warehouse, seg: Segment, last: dict, now: dt.datetime,
                changed: dict[str, ibis.Table]) -> tuple[ibis.Table, ibis.Table]:
    """What may have changed membership since the last refresh: accounts (`source, account_key`) with
    new rows or a time that crossed a window, and persons (`person_id`) whose identity or referenced
    segment changed."""
    since = last["data_mark"]
    runs = wh.table("ingest_runs")
    new_runs = None if since is None else wh.fetch(runs.filter(runs.finished_at > since).select("run_id")).column(
        "run_id").to_pylist()

    def of_new_runs(table: ibis.Table) -> ibis.Table:
        """Rows the new ingest runs wrote. A list of constants, not a join: the engine filters while
        scanning and DuckDB skips the row groups of older runs by their min/max."""
        if new_runs is None:
            return table
        return table.filter(table.run_id.isin(new_runs)) if new_runs else table.filter(ibis.literal(False))

    def key_of(events: ibis.Table) -> ibis.Table:
        return events.select("source", account_key=ibis.coalesce(events.user_id,
                                                                 ibis.literal("anon:") + events.anonymous_id))

    keys: list[ibis.Table] = []
    ids: list[ibis.Table] = []
    keys.append(of_new_runs(wh.table("accounts")))
    keys.append(key_of(of_new_runs(wh.table("events"))))
    keys.append(of_new_runs(wh.table("orders")))
    consents = wh.table("consents")
    keys.append(consents.filter(consents.run_id.isnull()))
    keys.append(of_new_runs(consents))
    placed = wh.table("person_accounts")
    ids.append(placed.filter(placed.linked_at > last["started_at"]).select("person_id"))
    moved = wh.table("identity_events")
    moved = moved.filter(moved.occurred_at > last["started_at"])
    ids.append(moved.select("person_id"))
    ids.append(moved.filter(moved.other_person_id.notnull()).select(person_id=moved.other_person_id))
    before, now_e = int(last["now"].timestamp()), int(now.timestamp())
    ctx = RuleContext(wh, now, wh.table("person_accounts").select("person_id"))
    raw = wh.table("events")
    for node in walk(seg.rule):
        if isinstance(node, (Performed, NotPerformed)):
            for after, upto in _crossings(node.within_days, before, now_e):
                keys.append(key_of(raw.filter(ctx.between(raw.timestamp, after, upto), raw.event == node.event)))
            if isinstance(node, NotPerformed):  # a person's first sighting is one of their accounts'
                first = wh.table("accounts")
                keys += [first.filter(ctx.between(first.first_seen_at, after, upto))
                         for after, upto in _crossings(node.within_days, before, now_e)]
        elif isinstance(node, Ordered):
            o = wh.table("orders")
            keys += [o.filter(ctx.between(o.paid_at, after, upto)) for after, upto in _crossings(
                node.within_days, before, now_e)]
            keys += [o.filter(o.paid_at.isnull(), ctx.between(o.created_at, after, upto))
                     for after, upto in _crossings(node.within_days, before, now_e)]
        elif isinstance(node, SegmentRef):
            if node.name in changed:
                ids.append(changed[node.name])
            else:
                c = wh.table("segment_changes")
                ids.append(c.filter((c.segment == node.name) & (c.at > last["started_at"])).select("person_id"))
    key = functools.reduce(lambda a, b: a.union(b, distinct=True),
                           [k.select(source=k.source.cast("string"), account_key=k.account_key.cast("string"))
                            for k in keys])
    return key, union_all(ids)


def _crossings(days: float | None, before: int, now_e: int) -> list[tuple[int, int]]:
    """The spans (after, upto] of epoch seconds whose times entered a window of `days`, or fell out of
    it, between the two clocks: each a plain range the engine can filter while scanning."""
    if days is None:
        return [(before, now_e)]
    span = int(days * DAY)
    return [(before, now_e), (before - span, now_e - span)]


def _members(wh: Warehouse, name: str) -> ibis.Table:
    m = wh.table("segment_members")
    return m.filter(m.segment == name).select("person_id")


def _record_changes(wh: Warehouse, name: str, entered: ibis.Table, exited: ibis.Table, gone: ibis.Table,
                    now: dt.datetime) -> str:
    """`gone`: the exited persons who are no longer anyone (merged away, erased)."""
    refresh_id = now.strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    still = exited.anti_join(gone, "person_id").mutate(reason=ibis.literal("no longer matches"))
    gone = exited.semi_join(gone, "person_id").mutate(reason=ibis.literal("person gone"))
    columns = ("person_id", "change", "reason")
    changes = entered.mutate(change=ibis.literal("entered"), reason=ibis.literal("matches")).select(*columns).union(
        gone.mutate(change=ibis.literal("exited")).select(*columns)).union(
        still.mutate(change=ibis.literal("exited")).select(*columns))
    changes = changes.mutate(segment=ibis.literal(name), at=ibis.literal(now), refresh_id=ibis.literal(refresh_id))
    with wh.transaction():
        wh.insert_from("segment_changes", changes)
        wh.delete_matching("segment_members", exited.mutate(segment=ibis.literal(name)), ["segment", "person_id"])
        wh.insert_from("segment_members", entered.mutate(segment=ibis.literal(name), entered_at=ibis.literal(now),
                                                         refresh_id=ibis.literal(refresh_id)))
    return refresh_id


def _record_refresh(wh: Warehouse, refresh_id: str, seg: Segment, result: RefreshResult, marks: _Marks,
                    why_full: str) -> None:
    wh.append("segment_refreshes", pa.Table.from_pylist([{
        "refresh_id": refresh_id, "segment": seg.name, "now": marks.now, "started_at": marks.started,
        "mode": result.mode, "why_full": why_full or None, "candidates": result.candidates,
        "members": result.members, "entered": result.entered, "exited": result.exited,
        "seconds": result.seconds, "data_mark": marks.data_mark, "value_run": marks.value_run,
        "loyalty_as_of": marks.loyalty_as_of, "sha256": seg.sha256}]))


def verify(wh: Warehouse) -> None:
    """The invariants of the module docstring, checked from the stored tables."""
    changes = wh.fetch(wh.table("segment_changes").order_by(["segment", "person_id", "at", "change"])).to_pylist()
    last: dict[tuple[str, str], str] = {}
    for c in changes:
        k = (c["segment"], c["person_id"])
        previous = last.get(k, "exited")
        if previous == c["change"]:
            raise AssertionError(f"segment {k[0]}: {k[1]} {c['change']} twice in a row at {c['at']}")
        last[k] = c["change"]
    current = {k for k, v in last.items() if v == "entered"}
    stored = {(r["segment"], r["person_id"]) for r in wh.fetch(wh.table("segment_members")).to_pylist()}
    if current != stored:
        raise AssertionError(f"segment_members differs from the change log: {len(current ^ stored)} persons")


def list_segments(wh: Warehouse) -> list[dict]:
    """Every segment with its size and last refresh."""
    found = []
    m = wh.table("segment_members")
    sizes = {r["segment"]: r["n"] for r in wh.fetch(m.group_by("segment").agg(n=m.count())).to_pylist()}
    for name, seg in stored_segments(wh).items():
        last = _last_refresh(wh, name)
        found.append({"name": name, "description": seg.description, "members": sizes.get(name, 0),
                      "refreshed_now": last["now"] if last else None, "mode": last["mode"] if last else None})
    return found


def show_segment(gate, name: str, sample: int = 10) -> dict:
    """Definition, size, who entered and left at the last refresh, and a sample masked by the role."""
    gate.require("read.persons")
    wh = gate.warehouse
    segments = stored_segments(wh)
    if name not in segments:
        raise SegmentError(f"no segment {name!r}; known: {', '.join(segments) or 'none'}")
    seg = segments[name]
    last = _last_refresh(wh, name)
    m = wh.table("segment_members")
    members = m.filter(m.segment == name)
    rows = wh.fetch(members.order_by("person_id").limit(sample)).to_pylist()
    shown = gate.disclosure.records("segment_members", rows)
    return {"name": name, "description": seg.description, "rule": seg.definition["rule"],
            "members": int(members.count().execute()),
            "last_refresh": None if last is None else {k: last[k] for k in (
                "refresh_id", "now", "mode", "why_full", "entered", "exited", "candidates", "seconds")},
            "sample": [{k: r[k] for k in ("person_id", "entered_at")} for r in shown],
            "disclosure": gate.disclosure.summary()}


def export_members(gate, name: str, out: Path, traits: list[str] | None = None,
                   purpose: str | None = None) -> int:
    """`person_id` and the requested traits of a segment's members as CSV; `purpose` keeps only the
    members whose consent allows it right now (through the consent ledger)."""
    import pyarrow.csv as pacsv

    from flywheel.activate.compile import SCORE_TRAITS, rule_traits
    from flywheel.privacy import only_allowed

    gate.require("read.persons")
    wh = gate.warehouse
    if name not in stored_segments(wh):
        raise SegmentError(f"no segment {name!r}")
    known = rule_traits()
    unknown = [t for t in traits or [] if t not in known]
    if unknown:
        raise SegmentError(f"--trait {unknown[0]!r}: no such trait (see docs/traits.md)")
    m = wh.table("segment_members")
    members = m.filter(m.segment == name).select("person_id")
    if purpose is not None:
        members = only_allowed(wh, members, purpose).select("person_id")
    table = members
    fields = {"person_id": "segment_members.person_id"}
    if traits:
        ctx = RuleContext(wh, dt.datetime.now(dt.timezone.utc), members)
        plain = [t for t in traits if t not in SCORE_TRAITS and t not in LOYALTY_TRAITS]
        scored = [t for t in traits if t in SCORE_TRAITS]
        loyal = [t for t in traits if t in LOYALTY_TRAITS]
        if plain:
            table = table.left_join(wh.table("person_traits").select("person_id", *plain), "person_id")
            table = table.select("person_id", *[c for c in table.columns if c in traits])
        if scored:
            scores = ctx.scores()
            table = table.left_join(scores.select("person_id", **{t: scores[SCORE_TRAITS[t]] for t in scored}),
                                    "person_id")
            table = table.select("person_id", *[c for c in table.columns if c in traits])
        if loyal:
            standing = ctx.loyalty()
            table = table.left_join(standing.select("person_id", **{t: standing[LOYALTY_TRAITS[t]] for t in loyal}),
                                    "person_id")
            table = table.select("person_id", *[c for c in table.columns if c in traits])
        fields |= {t: f"person_traits.{t}" for t in plain}
        fields |= {t: f"person_scores.{SCORE_TRAITS[t]}" for t in scored}
        fields |= {t: f"loyalty_members.{LOYALTY_TRAITS[t]}" for t in loyal}
    data = wh.fetch(table.select("person_id", *(traits or [])).order_by("person_id"))
    shown = gate.disclosure.arrow("segment_members", data, fields=fields)
    out.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(shown, out)
    return shown.num_rows
