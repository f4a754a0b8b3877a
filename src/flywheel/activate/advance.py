"""Moving episodes through their steps at one tick, a group of episodes at a time.

Episodes at the same step are handled together, so a rule (`branch`, `wait_for`) is one query per
step, not one per person. A step either completes at once (branch, split, coupon, send, exit) and the
episode goes on to the next, or makes it wait (wait, wait_until, an unmet wait_for). Nothing here
writes: the tick collects the new episode states, actions and coupons and stores them together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

import ibis

from flywheel.activate.compile import (
    RuleContext,
    compile_rule,
    percent_threshold,
    random_bucket,
)
from flywheel.activate.journeys import Journey, Step
from flywheel.activate.templates import fields_used, render

MAX_STEPS_PER_TICK = 1000
OWN_FIELDS = frozenset({"person_id", "journey", "coupon_code", "coupon_value", "coupon_min_order",
                        "coupon_valid_until"})
"""Template fields the journey itself knows; any other field is the person's (`context_of`)."""
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass
class Outcome:
    """What one tick decided for one journey."""

    episodes: dict[tuple, dict] = field(default_factory=dict)
    actions: list[dict] = field(default_factory=list)
    coupons: list[dict] = field(default_factory=list)
    completed: int = 0
    exited: int = 0


def action_key(journey: str, person_id: str, episode: int, step: str) -> str:
    return f"{journey}/{person_id}/{episode}/{step}"


def coupon_code(secret: bytes, key: str, prefix: str = "FW") -> str:
    """A code no one can guess, the same for the same action at every replay (crash or dry run)."""
    digest = hmac.new(secret, key.encode(), hashlib.sha256).digest()
    return prefix + "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in digest[:10])


class Advancer:
    """Runs the steps of one journey's due episodes at `now`."""

    def __init__(self, ctx: RuleContext, journey: Journey, now: dt.datetime, secret: bytes,
                 zones: dict[str, str], context_of):
        self.ctx, self.journey, self.now, self.secret = ctx, journey, now, secret
        self.zones = zones
        self.context_of = context_of
        self.outcome = Outcome()
        self.issued: dict[str, dict] = {}

    def run(self, episodes: list[dict]) -> Outcome:
        pending = [dict(e) for e in episodes]
        self.issued = self._issued_before(sorted({e["coupon_code"] for e in pending if e.get("coupon_code")}))
        for _ in range(MAX_STEPS_PER_TICK):
            if not pending:
                break
            by_position: dict[str | None, list[dict]] = {}
            for e in pending:
                by_position.setdefault(e["position"], []).append(e)
            pending = []
            for position, group in sorted(by_position.items(), key=lambda kv: str(kv[0])):
                pending += self._step(position, group)
        for e in pending:  # a journey cannot loop; this only guards against a bug
            self._keep(e)
        return self.outcome

    def _issued_before(self, codes: list[str]) -> dict[str, dict]:
        """Coupons issued at earlier ticks, so a send after a wait can state the coupon's terms."""
        if not codes:
            return {}
        wanted = ibis.memtable({"code": codes}, schema={"code": "string"})
        rows = self.ctx.wh.fetch(self.ctx.wh.table("coupons").semi_join(wanted, "code")).to_pylist()
        return {r["code"]: r for r in rows}

    def _keep(self, e: dict) -> None:
        e["updated_at"] = self.now
        self.outcome.episodes[(e["journey"], e["person_id"], e["episode"])] = e

    def _next(self, e: dict, path: str | None) -> dict:
        e["position"] = path
        e["wait_started_at"] = None
        e["due_at"] = None
        return e

    def _end(self, e: dict, state: str, reason: str) -> None:
        e.update(state=state, end_reason=reason, ended_at=self.now, position=None, due_at=None,
                 wait_started_at=None)
        if state == "completed":
            self.outcome.completed += 1
        else:
            self.outcome.exited += 1
        self._keep(e)

    def _step(self, position: str | None, group: list[dict]) -> list[dict]:
        """Handle every episode of `group` at `position`; returns those that go on this tick."""
        j = self.journey
        step = j.step(position) if position is not None else None
        if step is None:
            for e in group:
                self._end(e, "completed", "completed")
            return []
        after = j.next_path(step.path)
        if step.kind in ("wait", "wait_until"):
            go = []
            for e in group:
                if e["wait_started_at"] is None:
                    e["wait_started_at"] = self.now
                    e["due_at"] = self._wait_end(step, e)
                if e["due_at"] <= self.now:
                    go.append(self._next(e, after))
                else:
                    self._keep(e)
            return go
        if step.kind == "wait_for":
            met = self._satisfied(step, group)
            go = []
            for e in group:
                if e["wait_started_at"] is None:
                    e["wait_started_at"] = self.now
                    e["due_at"] = self.now + dt.timedelta(days=float(step.options["timeout_days"]))
                if e["person_id"] in met or e["due_at"] <= self.now:
                    go.append(self._next(e, after))
                else:
                    self._keep(e)
            return go
        if step.kind == "branch":
            met = self._satisfied(step, group)
            return [self._next(e, self._into(step, e["person_id"] in met, after)) for e in group]
        if step.kind == "split":
            threshold = percent_threshold(float(step.options["percent"]))
            salt = f"journey split:{j.name}:{step.path}"
            return [self._next(e, self._into(step, random_bucket(e["person_id"], salt) < threshold, after))
                    for e in group]
        if step.kind == "exit":
            for e in group:
                self._end(e, "exited", "exit step")
            return []
        if step.kind == "coupon":
            for e in group:
                self._coupon(step, e)
            return [self._next(e, after) for e in group]
        if step.kind == "send":
            texts = [self.journey.templates[step.path], str(step.options.get("subject") or "")]
            personal = any(fields_used(t) - OWN_FIELDS for t in texts)
            contexts = self.context_of([e["person_id"] for e in group]) if personal else {}
            for e in group:
                self._send(step, e, contexts.get(e["person_id"], {}))
            return [self._next(e, after) for e in group]
        raise AssertionError(step.kind)

    def _into(self, step: Step, taken: bool, after: str | None) -> str | None:
        branch = step.then if taken else step.otherwise
        label = ("then" if taken else "else") if step.kind == "branch" else ("a" if taken else "b")
        return f"{step.path}.{label}.0" if branch else after

    def _wait_end(self, step: Step, e: dict) -> dt.datetime:
        if step.kind == "wait":
            o = step.options
            return self.now + dt.timedelta(days=float(o.get("days", 0)), hours=float(o.get("hours", 0)))
        at = dt.time.fromisoformat(str(step.options["local_time"]))
        zone = ZoneInfo(self.zones.get(e["person_id"], self.ctx.wh.settings.timezone))
        return next_local(self.now, at, zone)

    def _satisfied(self, step: Step, group: list[dict]) -> set[str]:
        ids = sorted({e["person_id"] for e in group})
        universe = ibis.memtable({"person_id": ids}, schema={"person_id": "string"})
        anchors = ibis.memtable({"person_id": [e["person_id"] for e in group],
                                 "anchor_at": [e["entered_at"] for e in group]},
                                schema={"person_id": "string", "anchor_at": "timestamp('UTC')"})
        ctx = RuleContext(self.ctx.wh, self.now, universe, self.ctx.members, anchors, few=True)
        expr = compile_rule(step.rule, ctx)
        return set(self.ctx.wh.fetch(expr).column("person_id").to_pylist())

    def _coupon(self, step: Step, e: dict) -> None:
        key = action_key(self.journey.name, e["person_id"], e["episode"], step.path)
        o = step.options
        code = coupon_code(self.secret, key, str(o.get("prefix", "FW")))
        e["coupon_code"] = code
        self.outcome.coupons.append({
            "code": code, "person_id": e["person_id"], "journey": self.journey.name, "episode": e["episode"],
            "step": step.path, "value_cents": _cents(o["value"]), "min_order_cents": _cents(o.get("min_order", 0)),
            "valid_from": self.now, "valid_until": self.now + dt.timedelta(days=float(o["valid_days"])),
            "issued_at": self.now})
        self.issued[code] = self.outcome.coupons[-1]

    def _send(self, step: Step, e: dict, person: dict) -> None:
        j, o = self.journey, step.options
        key = action_key(j.name, e["person_id"], e["episode"], step.path)
        coupon = self.issued.get(e.get("coupon_code") or "")
        context = dict(person, person_id=e["person_id"], journey=j.name, coupon_code=e.get("coupon_code") or "",
                       coupon_value=Decimal(coupon["value_cents"]) / 100 if coupon else None,
                       coupon_min_order=Decimal(coupon["min_order_cents"]) / 100 if coupon else None,
                       coupon_valid_until=coupon["valid_until"].date().isoformat() if coupon else None)
        self.outcome.actions.append({
            "action_key": key, "journey": j.name, "person_id": e["person_id"], "episode": e["episode"],
            "step": step.path, "channel": o["channel"], "purpose": o["purpose"], "marketing": j.marketing,
            "subject": render(str(o.get("subject", "")), context) if o.get("subject") else None,
            "text": render(j.templates[step.path], context), "coupon_code": e.get("coupon_code"),
            "scheduled_at": self.now, "status": "planned", "reason": None, "attempts": 0, "created_at": self.now,
            "sent_at": None, "deferrals": 0})


def _cents(yuan) -> int:
    from decimal import Decimal

    return int((Decimal(str(yuan)) * 100).to_integral_value())


def next_local(now: dt.datetime, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The first instant after `now` when the clock in `zone` reads `at` (a time skipped by a DST
    change is taken as the same wall time after the gap)."""
    local = now.astimezone(zone)
    for days in range(0, 3):
        day = (local + dt.timedelta(days=days)).date()
        candidate = dt.datetime.combine(day, at).replace(tzinfo=zone)
        candidate = candidate.astimezone(dt.timezone.utc).astimezone(zone)  # normalise a skipped wall time
        if candidate.astimezone(dt.timezone.utc) > now:
            return candidate.astimezone(dt.timezone.utc)
    raise AssertionError("no next local time")
