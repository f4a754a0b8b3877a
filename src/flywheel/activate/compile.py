"""A rule compiled to one Ibis expression: the persons (`person_id`) of a universe who satisfy it.

Each leaf is a set of persons, `all` intersects, `any` unites and `not` takes the rest of the
universe, so DuckDB and Spark run the same query and nulls never leak into a decision (a person
without a trait value does not satisfy `lt`, and does satisfy `is_null: true`). Time windows are
(now − N days, now]; rows after `now` are the future and ignored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

import ibis

from flywheel.activate.rules import (
    All,
    Any_,
    Compare,
    Consent,
    Not,
    NotPerformed,
    Ordered,
    Performed,
    Random,
    Rule,
    RuleError,
    SegmentRef,
    Trait,
    walk,
)
from flywheel.schema import table as catalog_table
from flywheel.schema.orders import GMV_STATUSES
from flywheel.warehouse import Warehouse, account_persons

DAY = 86_400
SCORE_TRAITS = {"tier": "tier", "rfm_segment": "rfm_segment", "cluster": "cluster", "clv": "potential_value",
                "churn_probability": "churn_probability", "p_alive": "p_alive", "value_score": "value_score",
                "current_value": "current_value", "social_value": "social_value", "is_koc": "is_koc",
                "high_potential_low_activity": "high_potential_low_activity", "rfm_r": "rfm_r", "rfm_f": "rfm_f",
                "rfm_m": "rfm_m", "expected_orders": "expected_orders", "cluster_label": "cluster_label"}
"""Rule names of the latest scoring run's per-person scores (`clv` is the potential value)."""
LOYALTY_TRAITS = {"loyalty_level": "level", "growth_value": "growth_value", "level_review_at": "review_at",
                  "demotion_due": "demotion_due", "points_available": "points_available",
                  "points_pending": "points_pending", "points_debt": "points_debt",
                  "points_expiring_30d": "points_expiring_30d"}
"""Rule names of the last `loyalty run`'s per-member standing (`loyalty_members`, docs/loyalty.md)."""
ALERT_TRAIT = "value_alert"
"""True for persons with a CLV-drop alert in the latest scoring run (`flywheel value alerts`)."""
HEX = 8


def random_bucket(person_id: str, salt: str) -> str:
    """The first 8 hex digits of md5(salt:person_id): what `random:` and holdouts compare, in Python."""
    return hashlib.md5(f"{salt}:{person_id}".encode()).hexdigest()[:HEX]


def percent_threshold(percent: float) -> str:
    """Buckets below this 8-hex-digit string are the first `percent` % of persons."""
    value = min(int(round(percent / 100 * 16**HEX)), 16**HEX)
    return "g" * HEX if value >= 16**HEX else f"{value:0{HEX}x}"


def in_percent(person_id: ibis.Value, salt: str, percent: float) -> ibis.Value:
    """Deterministic and engine-independent: lower-case hex strings of one length sort as numbers."""
    bucket = (ibis.literal(f"{salt}:") + person_id).hexdigest("md5").substr(0, HEX)
    return bucket < ibis.literal(percent_threshold(percent))


@dataclass
class RuleContext:
    """Where a rule is evaluated: the warehouse, the clock, the universe and known segment members."""

    wh: Warehouse
    now: dt.datetime
    universe: ibis.Table
    members: dict[str, ibis.Table] = field(default_factory=dict)
    anchors: ibis.Table | None = None
    """`person_id, anchor_at`: where `since: entry` windows start (a journey's entry times)."""
    everyone: bool = False
    """Accounts need no narrowing to the universe (it is every person, or `known_accounts` already is)."""
    known_accounts: ibis.Table | None = None
    """`account_persons` already materialised (a segment refresh computes it once for all segments)."""
    few: bool = False
    """The universe is a small part of everyone (an incremental refresh's candidates, a journey
    step's episodes): the consent ledger is read for their accounts only."""
    stage_events: str | None = None
    """A work-table name: the universe's events are read once into it and every event rule filters
    that (an incremental refresh's few thousand candidates have a few events each; scanning all
    events once per rule was most of its time)."""
    staged_names: dict[str, bool] | None = None
    """The event names to stage (those the rule reads), each with whether a rule reads its properties
    (a JSON text per event, most of the bytes); others are read from the events table."""
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def now_epoch(self) -> int:
        return int(self.now.timestamp())

    def epoch(self, ts: ibis.Value) -> ibis.Value:
        return ts.epoch_seconds().floor().cast("int64")

    def window(self, ts: ibis.Value, days: float | None) -> ibis.Value:
        """`ts` in (now − days, now] on whole seconds: `epoch(ts) <= now` and `epoch(ts) > now − days`
        written as comparisons with instants, so the engine compares stored values to constants
        (no per-row epoch arithmetic; DuckDB can skip row groups by their min/max)."""
        if days is None:
            return self.before(ts, self.now_epoch)
        return self.between(ts, self.now_epoch - int(days * DAY), self.now_epoch)

    def before(self, ts: ibis.Value, epoch: int) -> ibis.Value:
        """`epoch(ts) <= epoch` on whole seconds, as a comparison with an instant (casting every
        stored time to epoch seconds costs a time-zone conversion per row on DuckDB)."""
        return ts < _at(epoch + 1)

    def between(self, ts: ibis.Value, after: int, upto: int) -> ibis.Value:
        """`after < epoch(ts) <= upto` on whole seconds, as comparisons with instants."""
        return (ts >= _at(after + 1)) & (ts < _at(upto + 1))

    def accounts(self) -> ibis.Table:
        """`source, account_key, person_id` of the universe's persons only: events and orders join
        to these, so a rule over a few persons (an incremental refresh, a journey step) reads the
        rows of those persons, not everyone's."""
        if "accounts" not in self._cache:
            accounts = self.known_accounts if self.known_accounts is not None else account_persons(self.wh)
            if not self.everyone:
                accounts = accounts.view().semi_join(self.universe.select("person_id").view(), "person_id")
            self._cache["accounts"] = accounts
        return self._cache["accounts"]

    def events(self, event: str | None = None, days: float | None = None, upto_now: bool = False) -> ibis.Table:
        """Events (of `event`; in the window of `days`, or up to now with `upto_now`) with the person
        they belong to (user id, else `anon:` + anonymous id, per source).

        Filtered and narrowed to the columns rules read *before* the join: an expression shared by
        several rules becomes one CTE that DuckDB materialises, and every event row with every
        column joined to its person was most of a segment's time."""
        if self.stage_events is not None and (self.staged_names is None or event in self.staged_names):
            if "events" not in self._cache:
                raw = self.wh.table("events")
                if self.staged_names is not None:
                    read = sorted(n for n, wanted in self.staged_names.items() if wanted)
                    raw = raw.filter(raw.event.isin(sorted(self.staged_names))).mutate(
                        properties=ibis.ifelse(raw.event.isin(read), raw.properties, ibis.null("string"))
                        if read else ibis.null("string"))
                self._cache["events"] = self.wh.materialize(self.stage_events, self.events_of(raw))
            events = self._cache["events"]
            if event is not None:
                events = events.filter(events.event == event)
            if days is not None or upto_now:
                events = events.filter(self.window(events.timestamp, days))
            return events
        events = self.wh.table("events")
        if event is not None:
            events = events.filter(events.event == event)
        if days is not None or upto_now:
            events = events.filter(self.window(events.timestamp, days))
        return self.events_of(events)

    def events_of(self, events: ibis.Table) -> ibis.Table:
        """`events` (any filter already applied) with the person each belongs to."""
        key = ibis.coalesce(events.user_id, ibis.literal("anon:") + events.anonymous_id)
        events = events.select("source", "event", "timestamp", "properties", account_key=key)
        return events.join(self.accounts(), ["source", "account_key"])

    def orders(self) -> ibis.Table:
        if "orders" not in self._cache:
            orders = self.wh.table("orders").select("source", "order_id", "account_key", "status", "created_at",
                                                    "paid_at", "paid_cents")
            self._cache["orders"] = orders.join(self.accounts(), ["source", "account_key"])
        return self._cache["orders"]

    def first_seen(self) -> ibis.Table:
        if "first_seen" not in self._cache:
            accounts = self.wh.table("accounts").join(self.accounts(), ["source", "account_key"])
            self._cache["first_seen"] = accounts.group_by("person_id").agg(first_seen=accounts.first_seen_at.min())
        return self._cache["first_seen"]

    def alerts(self) -> ibis.Table:
        """Persons with a risk alert in the latest scoring run."""
        if "alerts" not in self._cache:
            alerts = self.wh.table("value_alerts")
            latest = self.latest_run()
            alerts = alerts.filter(alerts.run_id == latest) if latest else alerts.filter(ibis.literal(False))
            self._cache["alerts"] = alerts.select("person_id").distinct()
        return self._cache["alerts"]

    def latest_run(self) -> str | None:
        """The latest scoring run's id."""
        if "latest_run" not in self._cache:
            runs = self.wh.table("value_runs")
            found = self.wh.fetch(runs.order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(1)
                                  .select("run_id")).column("run_id").to_pylist()
            self._cache["latest_run"] = found[0] if found else None
        return self._cache["latest_run"]

    def scores(self) -> ibis.Table:
        """Per-person scores of the latest scoring run (empty before any)."""
        if "scores" not in self._cache:
            scores = self.wh.table("person_scores")
            latest = self.latest_run()
            # a constant, not a join: the engine filters while scanning (and skips older runs' row groups)
            scores = scores.filter(scores.run_id == latest) if latest else scores.filter(ibis.literal(False))
            if self.few:  # narrowed first: several rules share it, and the engine keeps it as one table
                scores = scores.semi_join(self.universe.select("person_id"), "person_id")
            self._cache["scores"] = scores
        return self._cache["scores"]

    def loyalty(self) -> ibis.Table:
        """`loyalty_members` (the last loyalty run's standings), narrowed to the universe when it is few."""
        members = self.wh.table("loyalty_members")
        if self.few:
            members = members.semi_join(self.universe.select("person_id"), "person_id")
        return members

    def traits(self) -> ibis.Table:
        """`person_traits`, narrowed to the universe when it is few."""
        traits = self.wh.table("person_traits")
        if self.few:
            traits = traits.semi_join(self.universe.select("person_id"), "person_id")
        return traits


def _at(epoch: int) -> ibis.Value:
    return ibis.literal(dt.datetime.fromtimestamp(epoch, dt.timezone.utc), type="timestamp('UTC')")


def person_ids(table: ibis.Table) -> ibis.Table:
    """`person_id` as a nullable string: set operations need equal schemas, joins change nullability."""
    return table.select(person_id=table.person_id.cast("string"))


def union_all(tables: list[ibis.Table]) -> ibis.Table:
    """The distinct persons of several person sets."""
    result = person_ids(tables[0])
    for t in tables[1:]:
        result = result.union(person_ids(t), distinct=True)
    return result


def compile_rule(rule: Rule, ctx: RuleContext) -> ibis.Table:
    """The persons of `ctx.universe` satisfying `rule`, one `person_id` column, distinct."""
    people = ctx.universe.select("person_id")
    if isinstance(rule, All):
        result = compile_rule(rule.rules[0], ctx)
        for child in rule.rules[1:]:
            result = result.semi_join(compile_rule(child, ctx), "person_id")
        return result
    if isinstance(rule, Any_):
        return union_all([compile_rule(child, ctx) for child in rule.rules])
    if isinstance(rule, Not):
        return people.anti_join(compile_rule(rule.rule, ctx), "person_id")
    if isinstance(rule, Trait):
        return people.semi_join(_trait(rule, ctx), "person_id")
    if isinstance(rule, Performed):
        e = ctx.events(rule.event, rule.within_days, upto_now=True)
        if rule.since_entry:
            e = _since_anchor(ctx, e, e.timestamp)
        for name, value in rule.where:
            e = e.filter(_property(ctx.wh.json_text(e.properties, name), value))
        return _counted(people, e.group_by("person_id").agg(n=e.count()), rule.count)
    if isinstance(rule, NotPerformed):
        e = ctx.events(rule.event, upto_now=True)
        last = e.group_by("person_id").agg(last_at=e.timestamp.max())
        seen = people.join(ctx.first_seen(), "person_id").left_join(last, "person_id")
        since = ibis.coalesce(seen.last_at, seen.first_seen)
        return seen.filter(ctx.before(since, ctx.now_epoch - int(rule.within_days * DAY))).select("person_id")
    if isinstance(rule, Ordered):
        return _ordered(rule, ctx, people)
    if isinstance(rule, Consent):
        from flywheel.privacy import only_allowed

        if ctx.few:
            return only_allowed(ctx.wh, people, rule.purpose, accounts=ctx.accounts()).select("person_id")
        return only_allowed(ctx.wh, people, rule.purpose, narrow=False).select("person_id")
    if isinstance(rule, SegmentRef):
        return people.semi_join(ctx.members[rule.name], "person_id")
    if isinstance(rule, Random):
        return people.filter(in_percent(people.person_id, rule.salt, rule.percent))
    raise TypeError(f"not a rule: {rule!r}")


def _since_anchor(ctx: RuleContext, rows: ibis.Table, ts: ibis.Value) -> ibis.Table:
    """Rows after the person's anchor (their journey entry); outside a journey nothing qualifies."""
    if ctx.anchors is None:
        return rows.filter(ibis.literal(False))
    marked = rows.mutate(__t=ctx.epoch(ts)).join(ctx.anchors, "person_id")
    return marked.filter(marked["__t"] > ctx.epoch(marked.anchor_at)).drop("__t", "anchor_at")


def _counted(people: ibis.Table, counts: ibis.Table, compare: Compare, column: str = "n") -> ibis.Table:
    joined = people.left_join(counts, "person_id")
    value = joined[column].fill_null(0)
    return joined.filter(_compare(value, compare)).select(person_id=joined.person_id)


def _ordered(rule: Ordered, ctx: RuleContext, people: ibis.Table) -> ibis.Table:
    o = ctx.orders()
    o = o.filter(o.status.isin(list(GMV_STATUSES)))
    o = o.filter(ctx.window(ibis.coalesce(o.paid_at, o.created_at), rule.within_days))
    if rule.since_entry:
        o = _since_anchor(ctx, o, ibis.coalesce(o.paid_at, o.created_at))
    if rule.source is not None:
        o = o.filter(o.source == rule.source)
    if rule.category is not None:
        items = ctx.wh.table("order_items")
        products = ctx.wh.table("products").select("source", "product_id", "category")
        lines = items.join(products, ["source", "product_id"])
        lines = lines.filter(lines.category == rule.category).select("source", "order_id").distinct()
        o = o.semi_join(lines, ["source", "order_id"])
    totals = o.group_by("person_id").agg(n=o.count(), cents=o.paid_cents.sum())
    result = _counted(people, totals, rule.count)
    if rule.amount is not None:
        result = result.semi_join(_counted(people, totals.mutate(yuan=totals.cents / 100), rule.amount, "yuan"),
                                  "person_id")
    return result


def _compare(value: ibis.Value, compare: Compare) -> ibis.Value:
    op, v = compare.op, compare.value
    if op == "between":
        return value.between(v[0], v[1])
    return {"eq": value == v, "ne": value != v, "lt": value < v, "lte": value <= v, "gt": value > v,
            "gte": value >= v}[op]


def _property(got: ibis.Value, value) -> ibis.Value:
    """A property's text compared with a YAML value: booleans as JSON writes them, numbers by value."""
    if isinstance(value, bool):
        return (got == ("true" if value else "false")).fill_null(False)
    if isinstance(value, (int, float)):
        return (got.try_cast("float64") == float(value)).fill_null(False)
    return (got == str(value)).fill_null(False)


def _trait(rule: Trait, ctx: RuleContext) -> ibis.Table:
    if rule.name == ALERT_TRAIT:  # a flag every person has: true or false, never null
        people = ctx.universe.select("person_id")
        if rule.op == "is_null":
            return people.filter(ibis.literal(not rule.value))
        wanted = (rule.value is True) == (rule.op in ("eq", "in"))
        return (people.semi_join if wanted else people.anti_join)(ctx.alerts(), "person_id")
    if rule.name in SCORE_TRAITS:
        source, column = ctx.scores(), SCORE_TRAITS[rule.name]
    elif rule.name in LOYALTY_TRAITS:
        source, column = ctx.loyalty(), LOYALTY_TRAITS[rule.name]
    else:
        source, column = ctx.traits(), rule.name
    value = source[column]
    v = rule.value
    if isinstance(v, str) and value.type().is_timestamp():
        v = _instant(v)
    elif isinstance(v, tuple) and value.type().is_timestamp():
        v = tuple(_instant(x) for x in v)
    op = rule.op
    if op == "is_null":
        people = ctx.universe.select("person_id")
        has = source.filter(value.notnull()).select("person_id")
        return people.anti_join(has, "person_id") if v else has
    if op == "in":
        cond = value.isin(list(v))
    elif op == "not_in":
        cond = ~value.isin(list(v))
    else:
        cond = _compare(value, Compare(op, v))
    return source.filter(cond.fill_null(False)).select("person_id")


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def rule_traits() -> dict[str, str]:
    """Every trait a rule may name, with its type: person_traits' columns and the score names."""
    traits = {f.name: f.type for f in catalog_table("person_traits").fields if f.name not in ("person_id", "as_of",
                                                                                               "run_id")}
    scores = {f.name: f.type for f in catalog_table("person_scores").fields}
    traits.update({name: scores[column] for name, column in SCORE_TRAITS.items()})
    loyalty = {f.name: f.type for f in catalog_table("loyalty_members").fields}
    traits.update({name: loyalty[column] for name, column in LOYALTY_TRAITS.items()})
    traits[ALERT_TRAIT] = "boolean"
    return traits


def check_rule(rule: Rule, where: str, events_seen: set[str], segments: set[str]) -> None:
    """Names and types that exist: traits, events ever seen, segments defined, purposes known."""
    from flywheel.schema.purposes import purpose

    traits = rule_traits()
    for node in walk(rule):
        if isinstance(node, Trait):
            kind = traits.get(node.name)
            if kind is None:
                import difflib

                close = difflib.get_close_matches(node.name, list(traits), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise RuleError(where, f"{node.path}.trait", f"unknown trait {node.name!r}{hint}; see docs/traits.md")
            _check_type(node, kind, where)
        elif isinstance(node, (Performed, NotPerformed)) and node.event not in events_seen:
            raise RuleError(where, f"{node.path}.event", f"no event {node.event!r} has ever been seen "
                            "(names are case-sensitive, e.g. Order Completed)")
        elif isinstance(node, SegmentRef) and node.name not in segments:
            raise RuleError(where, node.path, f"no segment {node.name!r}; known: {', '.join(sorted(segments)) or 'none'}")
        elif isinstance(node, Consent):
            try:
                purpose(node.purpose)
            except ValueError as exc:
                raise RuleError(where, node.path, str(exc)) from None


def _check_type(node: Trait, kind: str, where: str) -> None:
    if node.op == "is_null":
        return
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    numeric = kind in ("int64", "float64")
    for v in values:
        if kind == "boolean":
            ok = isinstance(v, bool)
        elif numeric:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        elif kind.startswith("timestamp"):
            ok = isinstance(v, str) and _iso(v)
        else:
            ok = isinstance(v, str)
        if not ok:
            raise RuleError(where, f"{node.path}.{node.op}",
                            f"trait {node.name!r} is {_kind_words(kind)}; {v!r} is not")
    if node.op in ("lt", "lte", "gt", "gte", "between") and kind in ("string", "boolean"):
        raise RuleError(where, f"{node.path}.{node.op}", f"trait {node.name!r} is {_kind_words(kind)}; "
                        f"{node.op} needs a number or a time")


def _iso(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _kind_words(kind: str) -> str:
    return {"int64": "a whole number", "float64": "a number", "boolean": "true/false",
            "string": "text"}.get(kind, "a time (ISO 8601)")
