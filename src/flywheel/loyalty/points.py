"""Points through the gate: who may write, which person a write lands on, what each role sees, and
the audit entry of every manual write. The CLI and any other edge call these, never the ledger
directly."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation

from flywheel.errors import InputError
from flywheel.loyalty.journal import journal_path
from flywheel.loyalty.ledger import Ledger, Result
from flywheel.loyalty.rules import LoyaltyRules, parse_rules

LEVELS = {"person_id": 2, "available": 2, "pending": 2, "debt": 2, "lots": 2, "lot": 2, "order_id": 2, "points": 2,
          "remaining": 2, "earned_at": 2, "available_at": 2, "expires_at": 2, "state": 2, "transaction_id": 2,
          "key": 2, "kind": 2, "at": 2, "reverses": 2, "actor": 2, "reason": 3, "detail": 2, "status": 1,
          "available_change": 2, "pending_change": 2, "debt_change": 2, "message": 1}
"""Sensitivity of ledger outputs: balances and histories are person-level behaviour (L2, like orders);
a staff member's free-text reason may name the customer (L3)."""


def open_ledger(settings) -> Ledger:
    import os

    return Ledger(journal_path(settings), "FULL" if os.environ.get("FLYWHEEL_LEDGER_SYNC", "").lower() == "full"
                  else "NORMAL")


def cents(text: str, option: str) -> int:
    """`109.00` CNY → 10900 cents, exactly; more than two decimals or a negative amount is refused."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"{option}: {text!r} is not an amount (e.g. 109.00)") from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise InputError(f"{option}: {text!r} must be an amount > 0 with at most two decimals")
    return int(value * 100)


def stored_rules(ledger: Ledger) -> LoyaltyRules:
    """The rules applied last (`loyalty apply`), else the defaults."""
    import json

    row = ledger.con.execute("SELECT definition FROM rules ORDER BY version DESC LIMIT 1").fetchone()
    return parse_rules(json.loads(row[0]), "stored rules") if row else LoyaltyRules()


def _person(gate, person_id: str) -> str:
    """The person a write lands on now: a merged id leads to the person that absorbed it."""
    from flywheel.loyalty.ledger import Refused
    from flywheel.privacy import UnknownSubject, find_subject

    try:
        return find_subject(gate.warehouse, person_id).person_id
    except UnknownSubject:
        raise Refused("unknown_person", f"no person {person_id!r}") from None


def write(gate, op: str, person_id: str, *, at: dt.datetime, key: str | None = None, points: int | None = None,
          order: str | None = None, paid_cents: int | None = None, amount_cents: int | None = None,
          expires_at: dt.datetime | None = None, pending_days: int | None = None, reason: str | None = None) -> dict:
    """One manual ledger write (`earn`, `redeem` or `refund`), audited. `key` defaults to one derived
    from the order for order earns (a retry finds it) and to a fresh one otherwise."""
    from flywheel.loyalty.ledger import Refused

    gate.require("points.write")
    key = key or (f"order:{order}:earn" if op == "earn" and order else f"manual:{uuid.uuid4()}")
    with open_ledger(gate.settings) as ledger:
        try:
            person = _person(gate, person_id)
        except Refused as r:
            result = Result("refused", None, key, reason=r.code, message=r.message)
            return _shown(gate, result, person_id)
        rules = stored_rules(ledger)
        if op == "earn":
            if points is None:
                if order is None or paid_cents is None:
                    raise InputError("points earn: give --points N, or --order ID with --paid AMOUNT")
                points = rules.earning.points(paid_cents)
            expiry = expires_at or rules.earning.expires_at(at, gate.settings.tz)
            days = rules.earning.pending_days if pending_days is None else pending_days
            derived = tuple(name for name, given in (("expires", expires_at), ("pending_days", pending_days))
                            if given is None)
            result = ledger.earn(person, key=key, points=points, at=at, order=order, paid_cents=paid_cents,
                                 expires_at=expiry, pending_days=days, actor=gate.actor.name, reason=reason,
                                 derived=derived)
        elif op == "redeem":
            result = ledger.redeem(person, key=key, points=points, at=at, order=order, actor=gate.actor.name,
                                   reason=reason)
        elif op == "refund":
            result = ledger.refund(person, key=key, order=order, amount_cents=amount_cents, at=at,
                                   paid_cents=paid_cents, actor=gate.actor.name, reason=reason)
        else:
            raise ValueError(op)
    if result.status == "created":
        gate.audit(f"points.{op}", person=person,
                   detail={"key": key, "transaction_id": result.transaction_id, "points": points,
                           "order": order, "reason": reason})
    return _shown(gate, result, person)


def _shown(gate, result: Result, person: str) -> dict:
    gate.about(person)
    return gate.disclosure.record("points", {"person_id": person} | result.as_dict(), LEVELS)


def sweep(gate, job: str, at: dt.datetime) -> dict:
    """`points expire` / `points resolve`: the job over every person at business time `at`."""
    gate.require("points.write")
    with open_ledger(gate.settings) as ledger:
        outcome = ledger.expire(at) if job == "expire" else ledger.resolve(at)
    if outcome["transactions"]:
        gate.audit(f"points.{job}", detail=outcome | {"at": at.isoformat()})
    return outcome


def balance(gate, person_id: str, history: bool = False) -> dict:
    """A person's balance and open lots (or their history), as the acting role may see it."""
    gate.require("read.persons")
    from flywheel.privacy import find_subject

    person = find_subject(gate.warehouse, person_id).person_id
    with open_ledger(gate.settings) as ledger:
        if history:
            rows = ledger.history(person)
            shown = {"person_id": person, "transactions": gate.disclosure.records("points", rows, LEVELS)}
        else:
            b = ledger.balance(person)
            shown = {k: v for k, v in b.items() if k != "lots"} | {"lots": gate.disclosure.records("points", b["lots"], LEVELS)}
    gate.about(person)
    return gate.disclosed(gate.disclosure.record("points", {k: v for k, v in shown.items()
                                                            if k not in ("lots", "transactions")}, LEVELS)
                          | {k: v for k, v in shown.items() if k in ("lots", "transactions")})


def verify_ledger(gate) -> dict:
    """Replay the journal and check every invariant (aggregate output: any role)."""
    from flywheel.loyalty.invariants import verify

    with open_ledger(gate.settings) as ledger:
        return verify(ledger.con)
