"""The rule language: one YAML shape for segments, journey audiences, branches and exits.

A rule is a mapping with exactly one key, nestable under `all:`, `any:` and `not:`:

    all:
      - trait: tier
        in: [diamond, gold]
      - not_performed: {event: Community Opened, within_days: 7}
      - consent: wecom_outreach

`parse_rule` turns the YAML into the small tree of dataclasses below and checks its *shape* (keys,
operators, value types); `check_rule` checks it against a warehouse (traits that exist, events ever
seen, segments defined, values of the trait's type). Both raise `RuleError` naming the file, the
rule's path in it (`rule.all[1].trait`) and the reason.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Union

from flywheel.errors import InputError

PROPERTY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""Event property names a `where:` can compare (the JSON path both engines read)."""
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "between", "is_null")
COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte", "between")
"""Operators of a `count:` or `amount:` condition."""


class RuleError(InputError):
    """A rule that cannot be used as written: `where: path: reason`."""

    def __init__(self, where: str, path: str, reason: str):
        self.where, self.path, self.reason = where, path, reason
        super().__init__(f"{where}: {path}: {reason}")


@dataclass(frozen=True)
class Compare:
    """`{gte: 3}`, `{between: [1, 5]}` …: a condition on a number."""

    op: str
    value: Any


@dataclass(frozen=True)
class All:
    rules: tuple["Rule", ...]


@dataclass(frozen=True)
class Any_:
    rules: tuple["Rule", ...]


@dataclass(frozen=True)
class Not:
    rule: "Rule"


@dataclass(frozen=True)
class Trait:
    name: str
    op: str
    value: Any
    path: str = ""


@dataclass(frozen=True)
class Performed:
    event: str
    within_days: float | None
    count: Compare
    where: tuple[tuple[str, Any], ...] = ()
    path: str = ""
    since_entry: bool = False
    """In a journey: count only since the person entered it (`since: entry`)."""


@dataclass(frozen=True)
class NotPerformed:
    """No such event in the last `within_days` days; a person who never performed it has been
    inactive since first seen."""

    event: str
    within_days: float
    path: str = ""


@dataclass(frozen=True)
class Ordered:
    within_days: float | None
    count: Compare
    amount: Compare | None = None
    source: str | None = None
    category: str | None = None
    path: str = ""
    since_entry: bool = False


@dataclass(frozen=True)
class Consent:
    purpose: str
    path: str = ""


@dataclass(frozen=True)
class SegmentRef:
    name: str
    path: str = ""


@dataclass(frozen=True)
class Random:
    """A deterministic `percent` of persons: a hash of the person id and `salt`."""

    percent: float
    salt: str
    path: str = ""


Rule = Union[All, Any_, Not, Trait, Performed, NotPerformed, Ordered, Consent, SegmentRef, Random]
KINDS = ("all", "any", "not", "trait", "performed", "not_performed", "ordered", "consent", "segment", "random")


def parse_rule(raw: Any, where: str = "rule", path: str = "rule") -> Rule:
    """The rule tree of a YAML value; shape errors name `where` and the path."""
    fail = _failer(where, path)
    if not isinstance(raw, dict) or not raw:
        fail("a rule is a mapping with one of: " + ", ".join(KINDS))
    kinds = [k for k in raw if k in KINDS]
    if len(kinds) != 1:
        fail(f"a rule has exactly one of {', '.join(KINDS)}; found "
             + (", ".join(map(str, raw)) if not kinds else ", ".join(kinds)))
    kind = kinds[0]
    here = f"{path}.{kind}"
    if kind in ("all", "any"):
        extra = set(raw) - {kind}
        if extra:
            fail(f"{kind}: unexpected key(s) beside it: {', '.join(map(str, sorted(extra)))}")
        children = raw[kind]
        if not isinstance(children, list) or not children:
            _failer(where, here)("a non-empty list of rules")
        parsed = tuple(parse_rule(c, where, f"{here}[{i}]") for i, c in enumerate(children))
        return All(parsed) if kind == "all" else Any_(parsed)
    if kind == "not":
        return Not(parse_rule(raw["not"], where, here))
    if kind == "trait":
        return _trait(raw, where, path)
    body = raw[kind]
    if kind == "consent":
        if not isinstance(body, str) or not body:
            _failer(where, here)("a purpose name, e.g. consent: marketing_sms")
        return Consent(body, here)
    if kind == "segment":
        if not isinstance(body, str) or not body:
            _failer(where, here)("a segment name")
        return SegmentRef(body, here)
    if not isinstance(body, dict):
        _failer(where, here)("a mapping of options")
    if kind == "performed":
        _only(body, {"event", "within_days", "count", "where", "since"}, where, here)
        props = body.get("where") or {}
        if not isinstance(props, dict):
            _failer(where, f"{here}.where")("a mapping of property: value")
        for key, value in props.items():
            if not PROPERTY_NAME.fullmatch(str(key)):
                _failer(where, f"{here}.where.{key}")("property names are letters, digits and _ only")
            if not isinstance(value, (str, int, float, bool)):
                _failer(where, f"{here}.where.{key}")("a text, number or true/false to compare with")
        return Performed(_event(body, where, here), _days(body, where, here, required=False),
                         _compare(body.get("count", {"gte": 1}), where, f"{here}.count"),
                         tuple(sorted((str(k), v) for k, v in props.items())), here, _since(body, where, here))
    if kind == "not_performed":
        _only(body, {"event", "within_days"}, where, here)
        return NotPerformed(_event(body, where, here), _days(body, where, here, required=True), here)
    if kind == "ordered":
        _only(body, {"within_days", "count", "amount", "source", "category", "since"}, where, here)
        amount = body.get("amount")
        return Ordered(_days(body, where, here, required=False),
                       _compare(body.get("count", {"gte": 1}), where, f"{here}.count"),
                       _compare(amount, where, f"{here}.amount") if amount is not None else None,
                       _text(body, "source", where, here), _text(body, "category", where, here), here,
                       _since(body, where, here))
    if kind == "random":
        _only(body, {"percent", "salt"}, where, here)
        percent = body.get("percent")
        if not _number(percent) or not 0 <= percent <= 100:
            _failer(where, f"{here}.percent")(f"a number from 0 to 100. Got {percent!r}")
        return Random(float(percent), str(body.get("salt", "")), here)
    raise AssertionError(kind)


def _trait(raw: dict, where: str, path: str) -> Trait:
    here = f"{path}.trait"
    name = raw["trait"]
    if not isinstance(name, str) or not name:
        _failer(where, here)("a trait name")
    ops = [k for k in raw if k != "trait"]
    unknown = [k for k in ops if k not in OPERATORS]
    if unknown:
        _failer(where, f"{path}.{unknown[0]}")(f"unknown operator{_suggest(str(unknown[0]), OPERATORS)}; "
                                                f"known: {', '.join(OPERATORS)}")
    if len(ops) != 1:
        _failer(where, path)(f"trait {name!r} needs exactly one operator ({', '.join(OPERATORS)})")
    op, value = ops[0], raw[ops[0]]
    at = _failer(where, f"{path}.{op}")
    if op in ("in", "not_in") and (not isinstance(value, list) or not value):
        at("a non-empty list of values")
    if op == "between" and (not isinstance(value, list) or len(value) != 2 or value[0] is None or value[1] is None):
        at("a list of two bounds, [low, high]")
    if op == "is_null" and not isinstance(value, bool):
        at("true or false")
    if op in ("eq", "ne", "lt", "lte", "gt", "gte") and (value is None or isinstance(value, (list, dict))):
        at("a single value (use is_null for missing values)")
    return Trait(name, op, tuple(value) if isinstance(value, list) else value, path)


def _compare(raw: Any, where: str, path: str) -> Compare:
    at = _failer(where, path)
    if _number(raw):
        return Compare("eq", raw)
    if not isinstance(raw, dict) or len(raw) != 1:
        at("one comparison, e.g. {gte: 2} or {between: [1, 5]}")
    op, value = next(iter(raw.items()))
    if op not in COMPARISONS:
        at(f"unknown comparison {op!r}{_suggest(str(op), COMPARISONS)}; known: {', '.join(COMPARISONS)}")
    if op == "between":
        if not isinstance(value, list) or len(value) != 2 or not all(_number(v) for v in value):
            at("between takes two numbers, [low, high]")
        return Compare(op, tuple(value))
    if not _number(value):
        at(f"{op} takes a number. Got {value!r}")
    return Compare(op, value)


def _event(body: dict, where: str, path: str) -> str:
    event = body.get("event")
    if not isinstance(event, str) or not event:
        _failer(where, f"{path}.event")("an event name, e.g. event: Order Completed")
    return event


def _days(body: dict, where: str, path: str, required: bool) -> float | None:
    days = body.get("within_days")
    if days is None and not required:
        return None
    if not _number(days) or days <= 0:
        _failer(where, f"{path}.within_days")(f"a positive number of days. Got {days!r}")
    return float(days)


def _since(body: dict, where: str, path: str) -> bool:
    since = body.get("since")
    if since is not None and since != "entry":
        _failer(where, f"{path}.since")(f"only `since: entry` (in a journey: since the person entered). Got {since!r}")
    return since == "entry"


def _text(body: dict, key: str, where: str, path: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        _failer(where, f"{path}.{key}")("a name")
    return value


def _only(body: dict, allowed: set[str], where: str, path: str) -> None:
    extra = sorted(set(map(str, body)) - allowed)
    if extra:
        _failer(where, f"{path}.{extra[0]}")(f"unknown option{_suggest(extra[0], sorted(allowed))}; "
                                             f"known: {', '.join(sorted(allowed))}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _suggest(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" {word!r} (did you mean {close[0]!r}?)" if close else f" {word!r}"


def _failer(where: str, path: str):
    def fail(reason: str):
        raise RuleError(where, path, reason)

    return fail


def walk(rule: Rule):
    """Every node of the tree, depth first."""
    yield rule
    if isinstance(rule, (All, Any_)):
        for child in rule.rules:
            yield from walk(child)
    elif isinstance(rule, Not):
        yield from walk(rule.rule)


def references(rule: Rule) -> set[str]:
    """Names of the segments a rule refers to."""
    return {node.name for node in walk(rule) if isinstance(node, SegmentRef)}
