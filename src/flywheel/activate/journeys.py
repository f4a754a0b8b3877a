"""Journey files: a trigger, an audience, a holdout, re-entry, exit rules and steps.

    name: community_winback
    trigger: {inactive: {event: Community Opened, days: 7}}
    audience: {consent: wecom_outreach}
    holdout: {percent: 10, global_control: 5}
    reentry: {cooldown_days: 30}
    exit_when: {ordered: {since: entry}}
    steps:
      - coupon: {value: 20, min_order: 100, valid_days: 7}
      - send: {channel: wecom, purpose: wecom_outreach, text: "好久不见 {{ coupon_code }}"}
      - wait: {days: 3}
      - send: {channel: sms, purpose: marketing_sms, text: "…"}

`load_journey_file` parses and checks the shape; every error names the file, the path of the
offending key and the reason. Steps get stable paths (`2`, `3.then.0`): an action's idempotency key
is (journey, person, episode, step path).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flywheel.activate.rules import Rule, RuleError, parse_rule
from flywheel.schema.contacts import CHANNELS as CONTACT_CHANNELS
from flywheel.schema.purposes import UnknownPurpose, purpose

CHANNELS = tuple(CONTACT_CHANNELS)
"""Channels a send can use: those a contact point reaches (`schema/contacts.py`)."""
TRIGGERS = ("segment_entered", "segment_exited", "event", "inactive", "birthday", "tier_changed", "value_alert")
STEP_KINDS = ("wait", "wait_until", "wait_for", "branch", "split", "coupon", "send", "exit")
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True)
class Trigger:
    kind: str
    segment: str | None = None
    event: str | None = None
    days: float | None = None
    tiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    path: str
    kind: str
    options: dict
    rule: Rule | None = None
    then: tuple["Step", ...] = ()
    otherwise: tuple["Step", ...] = ()


@dataclass(frozen=True)
class Journey:
    name: str
    description: str
    trigger: Trigger
    audience: Rule | None
    holdout_percent: float
    global_control_percent: float
    reentry: str
    cooldown_days: float | None
    exit_when: Rule | None
    steps: tuple[Step, ...]
    conversion_days: float
    definition: dict
    file: str = ""
    base: Path | None = None
    marketing: bool = True
    templates: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps({"d": self.definition, "t": self.templates}, sort_keys=True,
                                         ensure_ascii=False, default=str).encode()).hexdigest()

    def step(self, path: str) -> Step | None:
        return _find(self.steps, path)

    def next_path(self, path: str) -> str | None:
        """The step after `path` in reading order (leaving a branch continues after it); None at the end."""
        parts = path.split(".")
        while parts:
            siblings = self._siblings(parts)
            index = int(parts[-1])
            if index + 1 < len(siblings):
                return ".".join(parts[:-1] + [str(index + 1)])
            if len(parts) == 1:
                return None
            parts = parts[:-2]
        return None

    def _siblings(self, parts: list[str]) -> tuple[Step, ...]:
        if len(parts) == 1:
            return self.steps
        parent = _find(self.steps, ".".join(parts[:-2]))
        return parent.then if parts[-2] in ("then", "a") else parent.otherwise

    def all_steps(self) -> list[Step]:
        found: list[Step] = []

        def visit(steps):
            for s in steps:
                found.append(s)
                visit(s.then)
                visit(s.otherwise)

        visit(self.steps)
        return found

    def rules(self) -> list[tuple[str, Rule]]:
        """Every rule of the journey with where it is (for checking against the warehouse)."""
        found = [("audience", self.audience), ("exit_when", self.exit_when)]
        found += [(f"steps.{s.path}", s.rule) for s in self.all_steps()]
        return [(where, r) for where, r in found if r is not None]


def _find(steps: tuple[Step, ...], path: str) -> Step | None:
    parts = path.split(".")
    current = steps
    step = None
    i = 0
    while i < len(parts):
        index = int(parts[i])
        if index >= len(current):
            return None
        step = current[index]
        if i + 1 < len(parts):
            branch = parts[i + 1]
            current = step.then if branch in ("then", "a") else step.otherwise
        i += 2
    return step


class JourneyError(RuleError):
    pass


def load_journey_file(path: Path) -> Journey:
    path = Path(path)
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JourneyError(where, "(file)", f"cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise JourneyError(where, "(file)", f"not valid YAML ({' '.join(str(exc).split())})") from None
    return parse_journey(raw, where, path.parent)


def parse_journey(raw: Any, where: str = "journey", base: Path | None = None,
                  stored_templates: dict[str, str] | None = None) -> Journey:
    """A journey of its YAML value; template files are read from `base`, or, for a journey read back
    from the warehouse, taken from `stored_templates` (the texts as applied)."""
    def fail(path: str, reason: str):
        raise JourneyError(where, path, reason)

    if not isinstance(raw, dict):
        fail("(top)", "a journey is a mapping with name, trigger and steps")
    known = {"name", "description", "trigger", "audience", "holdout", "reentry", "exit_when", "steps", "conversion",
             "marketing"}
    extra = sorted(set(map(str, raw)) - known)
    if extra:
        fail(extra[0], f"unknown key; a journey has {', '.join(sorted(known))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name or set(name) - NAME_CHARS:
        fail("name", f"lower-case letters, digits, '_' or '-'. Got {name!r}")
    trigger = _trigger(raw.get("trigger"), fail)
    audience = parse_rule(raw["audience"], where, "audience") if raw.get("audience") is not None else None
    exit_when = parse_rule(raw["exit_when"], where, "exit_when") if raw.get("exit_when") is not None else None
    holdout, control = _holdout(raw.get("holdout", 0), fail)
    reentry, cooldown = _reentry(raw.get("reentry", "never"), fail)
    conversion = raw.get("conversion", {"within_days": 7})
    if not isinstance(conversion, dict) or not _positive(conversion.get("within_days")):
        fail("conversion", "{within_days: N}: an order within N days of entry counts as converted")
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        fail("steps", "a non-empty list of steps")
    templates: dict[str, str] = {}
    steps = _steps(steps_raw, "", where, base, templates, stored_templates)
    marketing = raw.get("marketing", True)
    if not isinstance(marketing, bool):
        fail("marketing", "true (quiet hours, caps and the global control group apply) or false (transactional)")
    return Journey(name, str(raw.get("description") or ""), trigger, audience, holdout, control, reentry, cooldown,
                   exit_when, steps, float(conversion["within_days"]), raw, where, base, marketing, templates)


def _trigger(raw: Any, fail) -> Trigger:
    if not isinstance(raw, dict) or len(raw) != 1:
        fail("trigger", f"exactly one of {', '.join(TRIGGERS)}")
    kind, body = next(iter(raw.items()))
    here = f"trigger.{kind}"
    if kind not in TRIGGERS:
        fail("trigger", f"unknown trigger {kind!r}; known: {', '.join(TRIGGERS)}")
    if kind in ("segment_entered", "segment_exited"):
        if not isinstance(body, str) or not body:
            fail(here, "a segment name")
        return Trigger(kind, segment=body)
    if kind == "event":
        if not isinstance(body, str) or not body:
            fail(here, "an event name")
        return Trigger(kind, event=body)
    if kind == "inactive":
        if not isinstance(body, dict) or not isinstance(body.get("event"), str) or not _positive(body.get("days")):
            fail(here, "{event: NAME, days: N}")
        return Trigger(kind, event=body["event"], days=float(body["days"]))
    if kind == "birthday":
        days = (body or {}).get("days_before", 0) if isinstance(body, dict) or body is None else None
        if not isinstance(days, (int, float)) or isinstance(days, bool) or days < 0:
            fail(here, "{days_before: N}")
        return Trigger(kind, days=float(days))
    if kind == "tier_changed":
        to = (body or {}).get("to") if isinstance(body, dict) else None
        if not isinstance(to, list) or not to or not all(isinstance(t, str) for t in to):
            fail(here, "{to: [tier, …]}")
        return Trigger(kind, tiers=tuple(to))
    if body not in (None, {}):
        fail(here, "takes no options: value_alert: {}")
    return Trigger(kind)


def _holdout(raw: Any, fail) -> tuple[float, float]:
    if isinstance(raw, dict):
        extra = sorted(set(raw) - {"percent", "global_control"})
        if extra:
            fail(f"holdout.{extra[0]}", "unknown option; holdout has percent and global_control")
        percent, control = raw.get("percent", 0), raw.get("global_control", 0)
    else:
        percent, control = raw, 0
    for label, value in (("holdout.percent", percent), ("holdout.global_control", control)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 100:
            fail(label, f"a percent from 0 to 100. Got {value!r}")
    return float(percent), float(control)


def _reentry(raw: Any, fail) -> tuple[str, float | None]:
    if raw in ("never", "after_exit"):
        return raw, None
    if isinstance(raw, dict) and set(raw) == {"cooldown_days"} and _positive(raw["cooldown_days"]):
        return "cooldown", float(raw["cooldown_days"])
    fail("reentry", "never, after_exit or {cooldown_days: N}")


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _steps(items: list, prefix: str, where: str, base: Path | None, templates: dict,
           stored: dict | None = None) -> tuple[Step, ...]:
    steps = []
    for i, item in enumerate(items):
        path = f"{prefix}{i}"
        here = f"steps.{path}"

        def fail(reason: str, at: str = here):
            raise JourneyError(where, at, reason)

        if not isinstance(item, dict) or len(item) != 1:
            fail(f"a step is a mapping with one of {', '.join(STEP_KINDS)}")
        kind, body = next(iter(item.items()))
        if kind not in STEP_KINDS:
            fail(f"unknown step {kind!r}; known: {', '.join(STEP_KINDS)}")
        body = {} if body is None else body
        if not isinstance(body, dict):
            fail("options as a mapping")
        rule = None
        then: tuple[Step, ...] = ()
        otherwise: tuple[Step, ...] = ()
        if kind == "wait":
            if set(body) - {"days", "hours"} or not body or not all(_positive(v) for v in body.values()):
                fail("{days: N} or {hours: N}")
        elif kind == "wait_until":
            _local_time(body.get("local_time"), lambda r: fail(r, f"{here}.local_time"))
        elif kind == "wait_for":
            if "rule" not in body or not _positive(body.get("timeout_days")):
                fail("{rule: RULE, timeout_days: N}")
            rule = parse_rule(body["rule"], where, f"{here}.rule")
        elif kind == "branch":
            if "if" not in body:
                fail("{if: RULE, then: [steps], else: [steps]}")
            rule = parse_rule(body["if"], where, f"{here}.if")
            then = _steps(body.get("then") or [], f"{path}.then.", where, base, templates, stored)
            otherwise = _steps(body.get("else") or [], f"{path}.else.", where, base, templates, stored)
        elif kind == "split":
            if not _positive(body.get("percent")) or body["percent"] > 100:
                fail("{percent: P, a: [steps], b: [steps]}: P% of persons take a, the rest b")
            then = _steps(body.get("a") or [], f"{path}.a.", where, base, templates, stored)
            otherwise = _steps(body.get("b") or [], f"{path}.b.", where, base, templates, stored)
        elif kind == "coupon":
            for key in ("value", "valid_days"):
                if not _positive(body.get(key)):
                    fail(f"{key}: a positive number", f"{here}.{key}")
            if body.get("min_order") is not None and not _positive(body["min_order"]) and body["min_order"] != 0:
                fail("min_order: yuan, 0 or more", f"{here}.min_order")
        elif kind == "send":
            channel = body.get("channel")
            if channel not in CHANNELS:
                fail(f"channel: one of {', '.join(CHANNELS)}. Got {channel!r}", f"{here}.channel")
            if not isinstance(body.get("purpose"), str):
                fail("purpose: the consent purpose the message is sent under", f"{here}.purpose")
            try:
                purpose(body["purpose"])
            except UnknownPurpose as exc:
                fail(str(exc), f"{here}.purpose")
            if ("text" in body) == ("template" in body):
                fail("exactly one of text (inline Jinja2) or template (a file beside the journey)")
            if "template" in body and stored is not None:
                if path not in stored:
                    fail("the stored journey lacks this template's text; apply the journey file again",
                         f"{here}.template")
                templates[path] = stored[path]
            elif "template" in body:
                file = (base or Path(".")) / body["template"]
                try:
                    templates[path] = file.read_text(encoding="utf-8")
                except OSError as exc:
                    fail(f"template {file}: cannot read ({exc.strerror})", f"{here}.template")
            else:
                templates[path] = str(body["text"])
            _template_ok(templates[path], lambda r: fail(r, f"{here}.{'template' if 'template' in body else 'text'}"))
        steps.append(Step(path, kind, body, rule, then, otherwise))
    return tuple(steps)


def _local_time(value: Any, fail) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        fail(f"a local time HH:MM. Got {value!r}")


def _template_ok(text: str, fail) -> None:
    from jinja2 import TemplateSyntaxError

    from flywheel.activate.templates import environment

    try:
        environment().parse(text)
    except TemplateSyntaxError as exc:
        fail(f"template error line {exc.lineno}: {exc.message}")
