"""The points ledger: double-entry, idempotent, serialised, never negative.

Guarantees (each checked by `verify()` and by the seeded simulator in tests/loyalty):

1. Every transaction's entries sum to zero, so the sum over all accounts is zero at all times.
   Person accounts: `available`, `pending` (inside a return window), `debt` (≤ 0: points owed).
   Merchant accounts: `merchant:issued`, `merchant:redeemed`, `merchant:expired`, `merchant:clawed_back`.
2. A key is applied at most once (the transaction keeps the request it stands for). The same key with the same payload returns the first result
   (`created`, then `exists`); with another payload it is refused (`idempotency_key_conflict`); a
   refused write stays refused for its key. Keys are kept for ever.
3. Available and pending never go below zero; debt only arises when available is zero, and any
   credit to available repays debt first (so debt > 0 implies available = 0).
4. Each earning is a lot. Available = Σ remaining of open lots; spending takes the lot that expires
   first; expiry and the end of a return window are transactions of their own, keyed by lot, so
   re-running either job adds nothing.
5. An order's cumulative clawback is `earned − floor(earned × (paid − refunded) / paid)`; the points
   that paid for part of an order come back to their lots in proportion to the refund.

Before a write for a person at business time T, their lots due at T are settled first (pending that
matured becomes available, lots past expiry expire), so a write never spends an expired point.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from flywheel.errors import FlywheelError, InputError
from flywheel.loyalty.journal import connect, immediate

AVAILABLE, PENDING, DEBT = "available", "pending", "debt"
ISSUED, REDEEMED, EXPIRED, CLAWED = "merchant:issued", "merchant:redeemed", "merchant:expired", "merchant:clawed_back"
ACCOUNTS = (AVAILABLE, PENDING, DEBT, ISSUED, REDEEMED, EXPIRED, CLAWED)
REASONS = ("insufficient_points", "idempotency_key_conflict", "unknown_person", "unknown_order", "order_already_earned",
           "order_person_mismatch", "refund_exceeds_paid", "invalid_amount")


class Refused(FlywheelError):
    """A write the ledger refuses, with its reason code."""

    def __init__(self, code: str, message: str):
        if code not in REASONS:
            raise ValueError(f"undeclared refusal code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def iso(at: dt.datetime) -> str:
    if at.tzinfo is None:
        raise InputError("ledger times must be timezone-aware")
    return at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


@dataclass
class Result:
    """What a write returns: `status` is created, exists or refused."""

    status: str
    transaction_id: int | None
    key: str
    available: int = 0
    pending: int = 0
    debt: int = 0
    reason: str | None = None
    message: str | None = None
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {"transaction_id": self.transaction_id, "status": self.status, "key": self.key,
               "available": self.available, "pending": self.pending, "debt": self.debt}
        if self.reason:
            out |= {"reason": self.reason, "message": self.message}
        return out | ({"detail": self.detail} if self.detail else {})


def payload_of(op: str, person: str, **fields) -> str:
    """The canonical request a key stands for (business fields only; not the time or the reason)."""
    body = {"op": op, "person": person} | {k: v for k, v in fields.items() if v is not None}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _request_of(con, row) -> str | None:
    """The request a stored transaction stands for. `loyalty run`'s bulk writes leave it out (3M copies
    of what the row says) and it is rebuilt here, exactly as a single write would have written it."""
    tx, payload, kind, person, order, points, detail = row
    if payload is not None or order is None:
        return payload
    if kind == "earn":
        paid = con.execute("SELECT paid FROM orders WHERE order_id = ?", (order,)).fetchone()
        return payload_of("earn", person, points=points, order=order, paid=paid[0] if paid else None)
    if kind == "refund":
        return payload_of("refund", person, order=order, amount=json.loads(detail)["amount_cents"])
    return None


class _Book:
    """The entries of one transaction and the state they change, inside the write lock."""

    def __init__(self, con, person: str | None, payload: str | None = None):
        self.con = con
        self.person = person
        self.payload = payload
        self.entries: list[tuple[str, str | None, int | None, int]] = []
        self.balance = self._balance(person) if person else None

    def _balance(self, person: str) -> dict:
        row = self.con.execute("SELECT available, pending, debt FROM balances WHERE person = ?", (person,)).fetchone()
        return dict(zip((AVAILABLE, PENDING, DEBT), row)) if row else {AVAILABLE: 0, PENDING: 0, DEBT: 0}

    def post(self, account: str, amount: int, lot: int | None = None) -> None:
        if amount == 0:
            return
        personal = account in (AVAILABLE, PENDING, DEBT)
        self.entries.append((account, self.person if personal else None, lot, amount))
        if personal:
            self.balance[account] += -amount if account == DEBT else amount

    def lot_change(self, lot: int, remaining: int = 0, pending: int = 0, state: str | None = None) -> None:
        self.con.execute("UPDATE lots SET remaining = remaining + ?, pending = pending + ?, state = COALESCE(?, state) "
                         "WHERE id = ?", (remaining, pending, state, lot))

    def credit_available(self, points: int, lot: int, source: str = ISSUED) -> int:
        """Points reaching available: debt is repaid first; returns what reached the lot."""
        repaid = min(self.balance[DEBT], points)
        self.post(source, -points, lot)
        self.post(DEBT, repaid, lot)
        self.post(AVAILABLE, points - repaid, lot)
        return points - repaid

    def take_available(self, points: int, first_lot: int | None = None) -> list[tuple[int, int]]:
        """Take up to `points` from open lots, `first_lot` first, then the earliest-expiring; returns (lot, taken)."""
        lots = self.con.execute(
            "SELECT id, remaining FROM lots WHERE person = ? AND state = 'open' AND remaining > 0 "
            "ORDER BY id = ? DESC, expires_at IS NULL, expires_at, id", (self.person, first_lot or -1)).fetchall()
        taken = []
        for lot, remaining in lots:
            if points <= 0:
                break
            x = min(points, remaining)
            taken.append((lot, x))
            self.post(AVAILABLE, -x, lot)
            self.lot_change(lot, remaining=-x)
            points -= x
        return taken

    def write(self, kind: str, key: str, at: str, *, points: int, order: str | None = None,
              reverses: int | None = None, actor: str | None = None, reason: str | None = None,
              detail: dict | None = None) -> int:
        if sum(e[3] for e in self.entries) != 0:
            raise AssertionError(f"unbalanced {kind} transaction: {self.entries}")
        now = iso(dt.datetime.now(dt.timezone.utc))
        tx = self.con.execute(
            "INSERT INTO transactions (key, payload, kind, person, order_id, points, at, recorded_at, reverses, actor, "
            "reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, self.payload, kind, self.person, order, points, at, now, reverses, actor, reason,
             json.dumps(detail, sort_keys=True) if detail else None)).lastrowid
        self.con.executemany("INSERT INTO entries (tx, account, person, lot, amount) VALUES (?, ?, ?, ?, ?)",
                             [(tx, a, p, lot, amount) for a, p, lot, amount in self.entries])
        if self.person:
            b = self.balance
            self.con.execute("INSERT INTO balances (person, available, pending, debt) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (person) DO UPDATE SET available = excluded.available, "
                             "pending = excluded.pending, debt = excluded.debt",
                             (self.person, b[AVAILABLE], b[PENDING], b[DEBT]))
        self.entries = []
        return tx


class Ledger:
    """The points ledger of one warehouse. Every write is one serialised SQLite transaction.

        ledger = Ledger(journal_path(settings))
        ledger.earn("p1", key="order:42:earn", points=10, at=now).status  # 'created'
    """

    def __init__(self, path: Path, synchronous: str = "NORMAL"):
        self.path = Path(path)
        self.con = connect(self.path, synchronous)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # writes -----------------------------------------------------------------------------------------

    def _apply(self, key: str, payload: str, person: str | None, at: dt.datetime, body) -> Result:
        if not key:
            raise InputError("every ledger write needs an idempotency key")
        with immediate(self.con) as con:
            seen = con.execute("SELECT id, payload, kind, person, order_id, points, detail FROM transactions "
                               "WHERE key = ?", (key,)).fetchone()
            refused = None if seen else con.execute("SELECT payload, reason, message FROM refusals WHERE key = ?",
                                                    (key,)).fetchone()
            if seen or refused:
                balance = self.balance_row(person) if person else {}
                if (_request_of(con, seen) if seen else refused[0]) != payload:
                    return Result("refused", None, key, **balance, reason="idempotency_key_conflict",
                                  message=f"key {key!r} was used for another request")
                if refused:
                    return Result("refused", None, key, **balance, reason=refused[1], message=refused[2])
                return Result("exists", seen[0], key, **balance)
            stamp = iso(at)
            if person:
                self._settle(con, person, stamp)
            book = _Book(con, person, payload)
            try:
                tx, detail = body(con, book, stamp)
            except Refused as r:
                con.execute("INSERT INTO refusals (key, payload, reason, message, at) VALUES (?, ?, ?, ?, ?)",
                            (key, payload, r.code, r.message, stamp))
                return Result("refused", None, key, **(book.balance or {}), reason=r.code, message=r.message)
            return Result("created", tx, key, **(book.balance or {}), detail=detail)

    def earn(self, person: str, *, key: str, points: int, at: dt.datetime, order: str | None = None,
             paid_cents: int | None = None, expires_at: dt.datetime | None = None, pending_days: int = 0,
             actor: str | None = None, reason: str | None = None, derived: tuple[str, ...] = (),
             task: dict | None = None) -> Result:
        """Issue `points` (for `order` paid `paid_cents`, when given): a lot, pending for `pending_days`.
        `task` (`{"task", "growth"}`) records a task's reward: the transaction's kind is `task`.

        `derived` names the fields the caller computed from the rules and the clock (`expires`,
        `pending_days`) rather than received: a retry recomputes them, so they are not part of the
        request its key stands for."""
        if points < 0 or pending_days < 0 or (paid_cents is not None and paid_cents <= 0):
            raise InputError("points and pending days must be ≥ 0 and a paid amount > 0")
        asked = {"points": points, "order": order, "paid": paid_cents,
                 "expires": iso(expires_at) if expires_at else None, "pending_days": pending_days or None}
        payload = payload_of("earn", person, **{k: v for k, v in asked.items() if k not in derived},
                             task=json.dumps(task, sort_keys=True) if task else None)

        def body(con, book: _Book, stamp: str):
            if order is not None:
                row = con.execute("SELECT person FROM orders WHERE order_id = ?", (order,)).fetchone()
                if row:
                    raise Refused("order_already_earned", f"order {order!r} has already earned points")
            available_at = iso(at + dt.timedelta(days=pending_days)) if pending_days else stamp
            lot = con.execute(
                "INSERT INTO lots (person, tx, order_id, points, remaining, pending, earned_at, available_at, expires_at, "
                "state) VALUES (?, 0, ?, ?, 0, 0, ?, ?, ?, ?)",
                (person, order, points, stamp, available_at, iso(expires_at) if expires_at else None,
                 "pending" if pending_days else "open")).lastrowid
            if pending_days:
                book.post(ISSUED, -points, lot)
                book.post(PENDING, points, lot)
                book.lot_change(lot, pending=points)
            else:
                book.lot_change(lot, remaining=book.credit_available(points, lot))
            tx = book.write("task" if task else "earn", key, stamp, points=points, order=order, actor=actor,
                            reason=reason, detail=task)
            con.execute("UPDATE lots SET tx = ? WHERE id = ?", (tx, lot))
            if order is not None:
                con.execute("INSERT INTO orders (order_id, person, paid, refunded, earned, clawed, lot, spent, returned) "
                            "VALUES (?, ?, ?, 0, ?, 0, ?, 0, 0)", (order, person, paid_cents or 0, points, lot))
            return tx, {"lot": lot}

        return self._apply(key, payload, person, at, body)

    def redeem(self, person: str, *, key: str, points: int, at: dt.datetime, order: str | None = None,
               actor: str | None = None, reason: str | None = None) -> Result:
        """Spend `points`, earliest-expiring lot first (towards `order`, whose refund returns them)."""
        if points <= 0:
            raise InputError("points to redeem must be > 0")
        payload = payload_of("redeem", person, points=points, order=order)

        def body(con, book: _Book, stamp: str):
            if book.balance[AVAILABLE] < points:
                raise Refused("insufficient_points", f"{points} points asked, {book.balance[AVAILABLE]} available")
            taken = book.take_available(points)
            book.post(REDEEMED, points)
            tx = book.write("redeem", key, stamp, points=points, order=order, actor=actor, reason=reason)
            con.executemany("INSERT INTO spends (tx, lot, order_id, points) VALUES (?, ?, ?, ?)",
                            [(tx, lot, order, x) for lot, x in taken])
            if order is not None:
                con.execute("INSERT INTO orders (order_id, person, paid, refunded, earned, clawed, lot, spent, returned) "
                            "VALUES (?, ?, 0, 0, 0, 0, NULL, ?, 0) ON CONFLICT (order_id) DO UPDATE SET "
                            "spent = spent + excluded.spent", (order, person, points))
            return tx, {"lots": [{"lot": lot, "points": x} for lot, x in taken]}

        return self._apply(key, payload, person, at, body)

    def refund(self, person: str, *, key: str, order: str, amount_cents: int, at: dt.datetime,
               paid_cents: int | None = None, actor: str | None = None, reason: str | None = None) -> Result:
        """Record a refund of `amount_cents` of `order`: claw back what the formula says, return the
        points that paid for the refunded part. `paid_cents` fills in the cash paid of an order that
        earned nothing but was paid partly with points."""
        if amount_cents <= 0:
            raise InputError("a refund amount must be > 0")
        payload = payload_of("refund", person, order=order, amount=amount_cents)

        def body(con, book: _Book, stamp: str):
            row = con.execute("SELECT person, paid, refunded, earned, clawed, lot, spent, returned FROM orders "
                              "WHERE order_id = ?", (order,)).fetchone()
            if row is None:
                raise Refused("unknown_order", f"order {order!r} has no points in the ledger")
            owner, paid, refunded, earned, clawed, lot, spent, returned = row
            if owner != person:
                raise Refused("order_person_mismatch", f"order {order!r} belongs to another person")
            paid = paid or paid_cents or 0
            if paid <= 0:
                raise Refused("unknown_order", f"order {order!r}: the paid amount is not known")
            if refunded + amount_cents > paid:
                raise Refused("refund_exceeds_paid", f"refunds of {refunded + amount_cents} cents exceed the "
                              f"{paid} cents paid for order {order!r}")
            refunded += amount_cents
            claw = earned - (earned * (paid - refunded)) // paid - clawed
            give_back = (spent if refunded == paid else (spent * refunded) // paid) - returned
            taken_pending = 0
            if claw and lot is not None:
                pending_left = con.execute("SELECT pending FROM lots WHERE id = ?", (lot,)).fetchone()[0]
                taken_pending = min(claw, pending_left)
                if taken_pending:
                    book.post(PENDING, -taken_pending, lot)
                    book.lot_change(lot, pending=-taken_pending)
            rest = claw - taken_pending
            taken = sum(x for _, x in book.take_available(rest, lot)) if rest else 0
            owed = rest - taken
            book.post(DEBT, -owed, lot)
            book.post(CLAWED, claw, lot)
            returned_to = self._give_back(con, book, order, give_back, stamp) if give_back else []
            tx = book.write("refund", key, stamp, points=claw, order=order, actor=actor, reason=reason,
                            detail={"amount_cents": amount_cents, "returned": give_back})
            con.execute("UPDATE orders SET paid = ?, refunded = ?, clawed = clawed + ?, returned = returned + ? "
                        "WHERE order_id = ?", (paid, refunded, claw, give_back, order))
            return tx, {"clawed_back": claw, "from_pending": taken_pending, "from_available": taken, "debt": owed,
                        "returned": give_back, "returned_to": returned_to}

        return self._apply(key, payload, person, at, body)

    def _give_back(self, con, book: _Book, order: str, points: int, stamp: str) -> list[dict]:
        """Return `points` that paid for `order` to the lots they came from, latest spend first; a
        lot already past its expiry passes them straight to expired (a lot expires once)."""
        spends = con.execute("SELECT s.lot, s.points, l.expires_at, l.state FROM spends s JOIN lots l ON l.id = s.lot "
                             "WHERE s.order_id = ? ORDER BY s.tx DESC, s.rowid DESC", (order,)).fetchall()
        already = con.execute("SELECT returned FROM orders WHERE order_id = ?", (order,)).fetchone()[0]
        out = []
        for lot, spent, expires, state in spends:
            skip = min(already, spent)
            already -= skip
            x = min(points, spent - skip)
            if x <= 0:
                continue
            points -= x
            if state == "expired" or (expires is not None and expires <= stamp):
                book.post(REDEEMED, -x, lot)
                book.post(EXPIRED, x, lot)
            else:
                book.lot_change(lot, remaining=book.credit_available(x, lot, source=REDEEMED), state="open")
            out.append({"lot": lot, "points": x})
            if points == 0:
                break
        return out

    def _settle(self, con, person: str, stamp: str) -> None:
        """Resolve the person's pending lots whose window ended and expire their lots past expiry, at `stamp`."""
        due = con.execute("SELECT id FROM lots WHERE person = ? AND state = 'pending' AND available_at <= ? "
                          "ORDER BY available_at, id", (person, stamp)).fetchall()
        for (lot,) in due:
            self._resolve_lot(con, lot)
        expired = con.execute("SELECT id FROM lots WHERE person = ? AND state = 'open' AND expires_at <= ? "
                              "ORDER BY expires_at, id", (person, stamp)).fetchall()
        for (lot,) in expired:
            self._expire_lot(con, lot)

    def _resolve_lot(self, con, lot: int) -> int:
        person, pending, available_at = con.execute(
            "SELECT person, pending, available_at FROM lots WHERE id = ?", (lot,)).fetchone()
        book = _Book(con, person)
        reached = book.credit_available(pending, lot, source=PENDING) if pending else 0
        book.lot_change(lot, remaining=reached, pending=-pending, state="open" if pending else "cancelled")
        if pending:
            book.write("resolve", f"resolve:{lot}", available_at, points=pending)
        return pending

    def _expire_lot(self, con, lot: int) -> int:
        person, remaining, expires_at = con.execute(
            "SELECT person, remaining, expires_at FROM lots WHERE id = ?", (lot,)).fetchone()
        book = _Book(con, person)
        book.post(AVAILABLE, -remaining, lot)
        book.post(EXPIRED, remaining, lot)
        book.lot_change(lot, remaining=-remaining, state="expired")
        if remaining:
            book.write("expire", f"expire:{lot}", expires_at, points=remaining)
        return remaining

    def expire(self, at: dt.datetime) -> dict:
        """Expire every open lot past its expiry at `at` (one transaction per lot); a rerun adds nothing."""
        return self._sweep(at, "SELECT id FROM lots WHERE state = 'open' AND expires_at <= ? ORDER BY expires_at, id",
                           self._expire_lot)

    def resolve(self, at: dt.datetime) -> dict:
        """End the return window of every pending lot due at `at`: its points become available (debt first)."""
        return self._sweep(at, "SELECT id FROM lots WHERE state = 'pending' AND available_at <= ? "
                               "ORDER BY available_at, id", self._resolve_lot)

    def _sweep(self, at: dt.datetime, query: str, one, batch: int = 5000) -> dict:
        stamp = iso(at)
        transactions = points = 0
        while True:
            with immediate(self.con) as con:
                due = con.execute(query + f" LIMIT {batch}", (stamp,)).fetchall()
                for (lot,) in due:
                    moved = one(con, lot)
                    transactions += moved > 0
                    points += moved
            if len(due) < batch:
                return {"transactions": transactions, "points": points}

    # reads ------------------------------------------------------------------------------------------

    def balance_row(self, person: str) -> dict:
        row = self.con.execute("SELECT available, pending, debt FROM balances WHERE person = ?", (person,)).fetchone()
        return dict(zip((AVAILABLE, PENDING, DEBT), row or (0, 0, 0)))

    def balance(self, person: str) -> dict:
        lots = self.con.execute(
            "SELECT id, order_id, points, remaining, pending, earned_at, available_at, expires_at, state FROM lots "
            "WHERE person = ? AND state IN ('open', 'pending') AND (remaining > 0 OR pending > 0) "
            "ORDER BY expires_at IS NULL, expires_at, id", (person,)).fetchall()
        names = ("lot", "order_id", "points", "remaining", "pending", "earned_at", "available_at", "expires_at", "state")
        return {"person_id": person} | self.balance_row(person) | {"lots": [dict(zip(names, r)) for r in lots]}

    def history(self, person: str, limit: int | None = None) -> list[dict]:
        rows = self.con.execute(
            "SELECT t.id, t.key, t.kind, t.order_id, t.points, t.at, t.reverses, t.actor, t.reason, t.detail, "
            "COALESCE(SUM(CASE WHEN e.account = 'available' THEN e.amount END), 0), "
            "COALESCE(SUM(CASE WHEN e.account = 'pending' THEN e.amount END), 0), "
            "COALESCE(-SUM(CASE WHEN e.account = 'debt' THEN e.amount END), 0) "
            "FROM transactions t LEFT JOIN entries e ON e.tx = t.id WHERE t.person = ? GROUP BY t.id ORDER BY t.id"
            + (f" LIMIT {int(limit)}" if limit else ""), (person,)).fetchall()
        names = ("transaction_id", "key", "kind", "order_id", "points", "at", "reverses", "actor", "reason", "detail",
                 "available_change", "pending_change", "debt_change")
        out = []
        for r in rows:
            item = dict(zip(names, r))
            item["detail"] = json.loads(item["detail"]) if item["detail"] else None
            out.append(item)
        return out

    def request(self, key: str) -> str | None:
        """The canonical request a key was applied or refused for (None for a key never seen)."""
        row = self.con.execute("SELECT id, payload, kind, person, order_id, points, detail FROM transactions "
                               "WHERE key = ?", (key,)).fetchone()
        if row:
            return _request_of(self.con, row)
        refused = self.con.execute("SELECT payload FROM refusals WHERE key = ?", (key,)).fetchone()
        return refused[0] if refused else None

    def key_status(self, key: str) -> str | None:
        """created, refused, or None for a key never seen."""
        if self.con.execute("SELECT 1 FROM transactions WHERE key = ?", (key,)).fetchone():
            return "created"
        return "refused" if self.con.execute("SELECT 1 FROM refusals WHERE key = ?", (key,)).fetchone() else None
