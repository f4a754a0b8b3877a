"""Points for many orders at once (`loyalty run`), with exactly the result of one write per order.

A person the ledger has never seen starts from nothing, so their whole story — an earn per order at
its payment time (settling due lots before each, as a single write does), the windows and expiries
due by the run's clock, then the refunds — is played in memory and written in bulk: the first run over
3M orders would otherwise be 3M round trips of a dozen statements. A person with any ledger state
goes through `Ledger.earn` / `Ledger.refund` one order at a time, inside the same transaction.
tests/loyalty/test_batch.py checks the two give the same ledger.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
from dataclasses import dataclass

from flywheel.loyalty.journal import immediate, without_indexes
from flywheel.loyalty.ledger import AVAILABLE, CLAWED, DEBT, EXPIRED, ISSUED, PENDING, Ledger, iso

BULK_PERSONS = 50_000
"""Persons played per batch of rows handed to the writer thread; also the size from which a load
into a small journal drops its indexes and builds them at the end."""


@dataclass(slots=True)
class OrderPoints:
    """One order as `loyalty run` hands it to the ledger (times as `iso()` strings)."""

    person: str
    order: str
    paid_cents: int
    refund_cents: int
    points: int
    at: str
    available_at: str
    expires_at: str | None

    @property
    def pending_days(self) -> int:
        return (dt.datetime.fromisoformat(self.available_at) - dt.datetime.fromisoformat(self.at)).days


def earn_key(order: str) -> str:
    return f"order:{order}:earn"


def refund_key(order: str, refunded_cents: int) -> str:
    """Keyed by the cumulative refunded total: a rerun over the same data finds it."""
    return f"order:{order}:refund:{refunded_cents}"


class _Slot:
    __slots__ = ("id", "tx", "order", "points", "remaining", "pending", "earned_at", "available_at", "expires_at", "state")

    def __init__(self, id, tx, order, points, earned_at, available_at, expires_at, pending):
        self.id, self.tx, self.order, self.points = id, tx, order, points
        self.remaining, self.pending = 0, points if pending else 0
        self.earned_at, self.available_at, self.expires_at = earned_at, available_at, expires_at
        self.state = "pending" if pending else "open"


class _Bulk:
    """Rows of the fresh persons' stories, numbered after the journal's last transaction and lot."""

    def __init__(self, con, now: str):
        self.now = now
        self.recorded = iso(dt.datetime.now(dt.timezone.utc))
        self.tx = con.execute("SELECT COALESCE(MAX(id), 0) FROM transactions").fetchone()[0]
        self.lot = con.execute("SELECT COALESCE(MAX(id), 0) FROM lots").fetchone()[0]
        self.transactions, self.entries, self.lots, self.orders, self.balances = [], [], [], [], []
        self.created = 0

    def _tx(self, key, payload, kind, person, order, points, at, detail=None) -> int:
        self.tx += 1
        self.transactions.append((self.tx, key, payload, kind, person, order, points, at, self.recorded, detail))
        return self.tx

    def person(self, person: str, orders: list[OrderPoints]) -> None:
        slots: list[_Slot] = []
        debt = 0

        def credit(slot: _Slot, points: int, source: str, tx: int) -> None:
            nonlocal debt
            repaid = min(debt, points)
            debt -= repaid
            self.entries.append((tx, source, person if source == PENDING else None, slot.id, -points))
            if repaid:
                self.entries.append((tx, DEBT, person, slot.id, repaid))
            if points - repaid:
                self.entries.append((tx, AVAILABLE, person, slot.id, points - repaid))
            slot.remaining += points - repaid

        due = [None]  # the earliest window end or expiry among the slots: nothing to settle before it

        def settle(at: str) -> None:
            if due[0] is None or at < due[0]:
                return
            for slot in sorted((s for s in slots if s.state == "pending" and s.available_at <= at),
                               key=lambda s: (s.available_at, s.id)):
                points, slot.pending = slot.pending, 0
                slot.state = "open" if points else "cancelled"
                if points:
                    credit(slot, points, PENDING, self._tx(f"resolve:{slot.id}", None, "resolve", person, None,
                                                           points, slot.available_at))
            for slot in sorted((s for s in slots if s.state == "open" and s.expires_at is not None
                                and s.expires_at <= at), key=lambda s: (s.expires_at, s.id)):
                if slot.remaining:
                    tx = self._tx(f"expire:{slot.id}", None, "expire", person, None, slot.remaining, slot.expires_at)
                    self.entries.append((tx, AVAILABLE, person, slot.id, -slot.remaining))
                    self.entries.append((tx, EXPIRED, None, slot.id, slot.remaining))
                slot.remaining, slot.state = 0, "expired"
            times = [s.available_at for s in slots if s.state == "pending"] + \
                [s.expires_at for s in slots if s.state == "open" and s.expires_at is not None]
            due[0] = min(times) if times else None

        mine = {}
        for o in orders:
            settle(o.at)
            self.lot += 1
            pending = o.available_at > o.at
            tx = self._tx(earn_key(o.order), None, "earn", person, o.order, o.points, o.at)
            slot = _Slot(self.lot, tx, o.order, o.points, o.at, o.available_at, o.expires_at, pending)
            slots.append(slot)
            for t in (o.available_at if pending else None, o.expires_at):
                if t is not None and (due[0] is None or t < due[0]):
                    due[0] = t
            mine[o.order] = slot
            if pending:
                self.entries.append((tx, ISSUED, None, slot.id, -o.points))
                self.entries.append((tx, PENDING, person, slot.id, o.points))
            else:
                credit(slot, o.points, ISSUED, tx)
            self.created += 1
        settle(self.now)
        clawed = {}
        for o in orders:
            if not o.refund_cents:
                continue
            slot = mine[o.order]
            refunded = min(o.refund_cents, o.paid_cents)
            claw = o.points - (o.points * (o.paid_cents - refunded)) // o.paid_cents
            clawed[o.order] = (refunded, claw)
            tx = self._tx(refund_key(o.order, refunded), None, "refund", person, o.order, claw, self.now,
                          f'{{"amount_cents": {refunded}, "returned": 0}}')
            self.created += 1
            rest = claw
            if slot.pending:
                x = min(rest, slot.pending)
                slot.pending -= x
                rest -= x
                self.entries.append((tx, PENDING, person, slot.id, -x))
            if rest:
                order_first = [slot] if slot.state == "open" and slot.remaining > 0 else []
                others = sorted((s for s in slots if s.state == "open" and s.remaining > 0 and s is not slot),
                                key=lambda s: (s.expires_at is None, s.expires_at or "", s.id))
                for s in order_first + others:
                    x = min(rest, s.remaining)
                    s.remaining -= x
                    rest -= x
                    self.entries.append((tx, AVAILABLE, person, s.id, -x))
                    if not rest:
                        break
            if rest:
                debt += rest
                self.entries.append((tx, DEBT, person, slot.id, -rest))
            if claw:
                self.entries.append((tx, CLAWED, None, slot.id, claw))
        for s in slots:
            self.lots.append((s.id, person, s.tx, s.order, s.points, s.remaining, s.pending, s.earned_at,
                              s.available_at, s.expires_at, s.state))
        for o in orders:
            refunded, claw = clawed.get(o.order, (0, 0))
            self.orders.append((o.order, person, o.paid_cents, refunded, o.points, claw, mine[o.order].id, 0, 0))
        self.balances.append((person, sum(s.remaining for s in slots if s.state == "open"),
                              sum(s.pending for s in slots), debt))

    def take(self) -> tuple:
        """The rows gathered so far (handed to the writer), leaving the lists empty."""
        rows = (self.transactions, self.entries, self.lots, self.orders, self.balances)
        self.transactions, self.entries, self.lots, self.orders, self.balances = [], [], [], [], []
        return rows

    @staticmethod
    def write(con, rows: tuple) -> None:
        transactions, entries, lots, orders, balances = rows
        con.executemany("INSERT INTO transactions (id, key, payload, kind, person, order_id, points, at, recorded_at, "
                        "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", transactions)
        con.executemany("INSERT INTO entries (tx, account, person, lot, amount) VALUES (?, ?, ?, ?, ?)", entries)
        con.executemany("INSERT INTO lots (id, person, tx, order_id, points, remaining, pending, earned_at, available_at, "
                        "expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", lots)
        con.executemany("INSERT INTO orders (order_id, person, paid, refunded, earned, clawed, lot, spent, returned) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", orders)
        con.executemany("INSERT INTO balances (person, available, pending, debt) VALUES (?, ?, ?, ?)", balances)


def earn_orders(ledger: Ledger, orders: list[OrderPoints], now: dt.datetime, actor: str | None = None) -> dict:
    """Bring the ledger up to date with `orders` (every GMV order that earns points, with its refunded
    total so far): earn the new ones, claw back new refunds. Idempotent: a rerun writes nothing."""
    stamp = iso(now)
    with immediate(ledger.con) as con:
        last = con.execute("SELECT COALESCE(MAX(id), 0) FROM transactions").fetchone()[0]
        known = dict(con.execute("SELECT order_id, refunded FROM orders").fetchall())
        seen = set(con.execute("SELECT person FROM balances").fetchall())
        refused = {k for (k,) in con.execute("SELECT key FROM refusals")}
        fresh: dict[str, list[OrderPoints]] = {}
        slow: list[OrderPoints] = []
        for o in orders:
            if o.order in known:
                if min(o.refund_cents, o.paid_cents) > known[o.order]:
                    slow.append(o)
            elif (o.person,) in seen or earn_key(o.order) in refused:
                slow.append(o)
            else:
                fresh.setdefault(o.person, []).append(o)
        bulk = _Bulk(con, stamp)
        large = len(fresh) > BULK_PERSONS and len(fresh) * 2 > len(seen)
        with (without_indexes(con) if large else contextlib.nullcontext()), \
                concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ledger-writer") as writer:
            pending = None
            for i, (person, mine) in enumerate(fresh.items(), start=1):
                mine.sort(key=lambda o: (o.at, o.order))
                bulk.person(person, mine)
                if i % BULK_PERSONS == 0:
                    # SQLite works without the GIL while the next persons are played here
                    if pending is not None:
                        pending.result()
                    pending = writer.submit(bulk.write, con, bulk.take())
            if pending is not None:
                pending.result()
            bulk.write(con, bulk.take())
        created = bulk.created
        refused_now = 0
        slow.sort(key=lambda o: (o.person, o.at, o.order))
        for o in slow:  # earns at their payment times first, then refunds at the run's clock (as in bulk)
            if o.order not in known:
                r = ledger.earn(o.person, key=earn_key(o.order), points=o.points, at=dt.datetime.fromisoformat(o.at),
                                order=o.order, paid_cents=o.paid_cents,
                                expires_at=dt.datetime.fromisoformat(o.expires_at) if o.expires_at else None,
                                pending_days=o.pending_days, actor=actor, derived=("expires", "pending_days"))
                created += r.status == "created"
                refused_now += r.status == "refused"
        for o in slow:
            before = known.get(o.order, 0)
            refunded = min(o.refund_cents, o.paid_cents)
            if refunded > before:
                r = ledger.refund(o.person, key=refund_key(o.order, refunded), order=o.order,
                                  amount_cents=refunded - before, at=now, actor=actor)
                created += r.status == "created"
                refused_now += r.status == "refused"
        added = con.execute("SELECT COALESCE(MAX(id), 0) FROM transactions").fetchone()[0] - last
    return {"orders": len(orders), "fresh_persons": len(fresh), "slow_orders": len(slow), "transactions": added,
            "writes": created, "refused": refused_now}
