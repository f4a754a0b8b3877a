"""A seeded simulator in the style of TigerBeetle's VOPR: thousands of random earn, redeem, refund,
expire, resolve and crash (kill -9) steps against the ledger, each checked against an independent
in-memory model and by `verify()` after every step.

The model below is written from the guarantees in flywheel/loyalty/ledger.py, not from its code. A
crash step hands a batch of requests to a child process that is killed at a random moment; the parent
then retries the whole batch with the same keys, and the ledger must end exactly where the model
(applying each request once, in order) does.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import signal
import time
from dataclasses import dataclass, field

import pytest

from flywheel.loyalty.invariants import verify
from flywheel.loyalty.ledger import Ledger

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@dataclass
class Lot:
    points: int
    remaining: int
    pending: int
    available_at: dt.datetime
    expires_at: dt.datetime | None
    state: str
    order: str | None


@dataclass
class Person:
    lots: list[Lot] = field(default_factory=list)
    debt: int = 0

    @property
    def available(self) -> int:
        return sum(lot.remaining for lot in self.lots if lot.state == "open")

    @property
    def pending(self) -> int:
        return sum(lot.pending for lot in self.lots)


@dataclass
class Order:
    person: str
    paid: int
    refunded: int = 0
    earned: int = 0
    clawed: int = 0
    lot: Lot | None = None
    spent: int = 0
    returned: int = 0
    spends: list[tuple[Lot, int]] = field(default_factory=list)


class Model:
    def __init__(self):
        self.persons: dict[str, Person] = {}
        self.orders: dict[str, Order] = {}
        self.keys: dict[str, tuple[tuple, str]] = {}

    def person(self, p: str) -> Person:
        return self.persons.setdefault(p, Person())

    def apply(self, request: tuple) -> str:
        key, op, p, args, at = request
        body = (op, p, tuple(sorted(args.items())))
        if key in self.keys:
            seen, outcome = self.keys[key]
            return outcome if seen == body else "refused:idempotency_key_conflict"
        self.settle(p, at)
        outcome = getattr(self, op)(self.person(p), p, at, **args)
        self.keys[key] = (body, outcome)
        return outcome

    def credit(self, person: Person, lot: Lot, points: int) -> None:
        repay = min(person.debt, points)
        person.debt -= repay
        lot.remaining += points - repay

    def settle(self, p: str, at: dt.datetime) -> None:
        person = self.person(p)
        for lot in sorted((x for x in person.lots if x.state == "pending" and x.available_at <= at),
                          key=lambda x: x.available_at):
            self.resolve_lot(person, lot)
        for lot in [x for x in person.lots if x.state == "open" and x.expires_at is not None and x.expires_at <= at]:
            lot.remaining, lot.state = 0, "expired"

    def resolve_lot(self, person: Person, lot: Lot) -> None:
        points, lot.pending = lot.pending, 0
        lot.state = "open" if points else "cancelled"
        self.credit(person, lot, points)

    def sweep(self, job: str, at: dt.datetime) -> None:
        for person in self.persons.values():
            for lot in sorted(person.lots, key=lambda x: x.available_at if job == "resolve" else x.expires_at or at):
                if job == "resolve" and lot.state == "pending" and lot.available_at <= at:
                    self.resolve_lot(person, lot)
                elif job == "expire" and lot.state == "open" and lot.expires_at is not None and lot.expires_at <= at:
                    lot.remaining, lot.state = 0, "expired"

    def earn(self, person, p, at, points, order=None, paid=None, pending_days=0, expires_days=None) -> str:
        if order is not None and order in self.orders:
            return "refused:order_already_earned"
        lot = Lot(points, 0, 0, at + dt.timedelta(days=pending_days), at + dt.timedelta(days=expires_days)
                  if expires_days else None, "pending" if pending_days else "open", order)
        person.lots.append(lot)
        if pending_days:
            lot.pending = points
        else:
            self.credit(person, lot, points)
        if order is not None:
            self.orders[order] = Order(p, paid, earned=points, lot=lot)
        return "created"

    def redeem(self, person, p, at, points, order=None) -> str:
        if person.available < points:
            return "refused:insufficient_points"
        need = points
        spends = []
        for lot in sorted((x for x in person.lots if x.state == "open" and x.remaining > 0),
                          key=lambda x: (x.expires_at is None, x.expires_at or at)):
            x = min(need, lot.remaining)
            if x:
                lot.remaining -= x
                need -= x
                spends.append((lot, x))
        if order is not None:
            o = self.orders.setdefault(order, Order(p, 0))
            o.spent += points
            o.spends.extend(spends)
        return "created"

    def refund(self, person, p, at, order, amount, paid=None) -> str:
        o = self.orders.get(order)
        if o is None:
            return "refused:unknown_order"
        if o.person != p:
            return "refused:order_person_mismatch"
        if (o.paid or paid or 0) <= 0:
            return "refused:unknown_order"
        if o.refunded + amount > (o.paid or paid):
            return "refused:refund_exceeds_paid"
        o.paid = o.paid or paid
        o.refunded += amount
        claw = o.earned - (o.earned * (o.paid - o.refunded)) // o.paid - o.clawed
        o.clawed += claw
        if o.lot is not None and o.lot.pending:
            x = min(claw, o.lot.pending)
            o.lot.pending -= x
            claw -= x
        order_of = [o.lot] if o.lot is not None else []
        others = sorted((x for x in person.lots if x.state == "open" and x.remaining > 0 and x is not o.lot),
                        key=lambda x: (x.expires_at is None, x.expires_at or at))
        for lot in [x for x in order_of if x.state == "open"] + others:
            x = min(claw, lot.remaining)
            lot.remaining -= x
            claw -= x
        person.debt += claw
        give = (o.spent if o.refunded == o.paid else (o.spent * o.refunded) // o.paid) - o.returned
        skip = o.returned
        o.returned += give
        for lot, spent in reversed(o.spends):
            s = min(skip, spent)
            skip -= s
            x = min(give, spent - s)
            if x <= 0:
                continue
            give -= x
            if lot.state != "expired" and not (lot.expires_at is not None and lot.expires_at <= at):
                lot.state = "open"
                self.credit(person, lot, x)
            if give == 0:
                break
        return "created"


def _call(book: Ledger, request: tuple):
    key, op, p, args, at = request
    args = dict(args)
    if op == "earn":
        days = args.pop("expires_days", None)
        return book.earn(p, key=key, at=at, points=args["points"], order=args.get("order"), paid_cents=args.get("paid"),
                         pending_days=args.get("pending_days", 0),
                         expires_at=at + dt.timedelta(days=days) if days else None)
    if op == "redeem":
        return book.redeem(p, key=key, at=at, points=args["points"], order=args.get("order"))
    return book.refund(p, key=key, at=at, order=args["order"], amount_cents=args["amount"], paid_cents=args.get("paid"))


def _outcome(result) -> str:
    return f"refused:{result.reason}" if result.status == "refused" else "created"


def _child(path, requests, progress):
    with Ledger(path) as book:
        for r in requests:
            _call(book, r)
            progress.send(1)


class Sim:
    def __init__(self, seed: int, path):
        self.rng = random.Random(seed)
        self.path = path
        self.now = T0
        self.n = 0
        self.model = Model()
        self.persons = [f"p{i}" for i in range(6)]
        self.orders: list[tuple[str, str]] = []
        self.sent: dict[str, tuple] = {}
        self.crashes = 0

    def request(self) -> tuple:
        rng = self.rng
        self.n += 1
        self.now += dt.timedelta(hours=rng.choice([0, 1, 7, 30, 200]))
        p = rng.choice(self.persons)
        roll = rng.random()
        if roll < 0.05 and self.sent:  # a client's retry (the same request), or a key reused for another one
            key = rng.choice(list(self.sent))
            if rng.random() < 0.5:
                return self.sent[key]
            return key, "earn", p, {"points": rng.randint(1, 9)}, self.now
        request = self._fresh(f"k{self.n}", p, roll)
        self.sent[request[0]] = request
        return request

    def _fresh(self, key: str, p: str, roll: float) -> tuple:
        rng = self.rng
        if roll < 0.45:
            args = {"points": rng.randint(1, 40)}
            if rng.random() < 0.6:
                order = f"o{self.n}"
                args |= {"order": order, "paid": rng.randint(1, 400) * 100 + rng.choice([0, 1, 99])}
                self.orders.append((order, p))
            if rng.random() < 0.3:
                args["pending_days"] = rng.randint(1, 10)
            if rng.random() < 0.7:
                args["expires_days"] = rng.randint(1, 60)
            return key, "earn", p, args, self.now
        if roll < 0.75:
            args = {"points": rng.randint(1, 50)}
            if rng.random() < 0.4:
                order = f"o{self.n}"
                args["order"] = order
                self.orders.append((order, p))
            return key, "redeem", p, args, self.now
        if self.orders and rng.random() < 0.9:
            order, owner = rng.choice(self.orders)
            p = owner if rng.random() < 0.95 else p
        else:
            order = f"nowhere{self.n}"
        args = {"order": order, "amount": rng.choice([1, 50, 999, 2500, 10000, 40000])}
        if rng.random() < 0.5:
            args["paid"] = 20000
        return key, "refund", p, args, self.now

    def check(self, book: Ledger) -> None:
        report = verify(book.con)
        assert report["ok"], report["failures"]
        for p in self.persons:
            mine = self.model.person(p)
            stored = book.balance_row(p)
            assert stored == {"available": mine.available, "pending": mine.pending, "debt": mine.debt}, (p, self.n)
            lots = book.con.execute("SELECT points, remaining, pending, state FROM lots WHERE person = ? ORDER BY id",
                                    (p,)).fetchall()
            expected = [(x.points, x.remaining, x.pending, x.state) for x in mine.lots]
            assert [tuple(r) for r in lots] == expected, (p, self.n)

    def crash(self, book: Ledger) -> None:
        batch = [self.request() for _ in range(self.rng.randint(5, 40))]
        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child, args=(self.path, batch, send))
        child.start()
        for _ in range(self.rng.randrange(len(batch))):  # let it apply a random prefix, then kill it mid-write
            receive.recv()
        time.sleep(self.rng.uniform(0, 0.002))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        self.crashes += 1
        for r in batch:
            expected = self.model.apply(r)
            got = _call(book, r)
            assert _outcome(got) == expected or (got.status == "exists" and expected == "created"), (r, got, expected)

    def run(self, steps: int) -> None:
        with Ledger(self.path) as book:
            for _ in range(steps):
                roll = self.rng.random()
                if roll < 0.04:
                    self.now += dt.timedelta(days=self.rng.randint(1, 20))
                    job = self.rng.choice(["expire", "resolve"])
                    getattr(book, job)(self.now)
                    self.model.sweep(job, self.now)
                elif roll < 0.07:
                    self.crash(book)
                else:
                    r = self.request()
                    expected = self.model.apply(r)
                    got = _call(book, r)
                    assert _outcome(got) == expected or (got.status == "exists" and expected == "created"), (r, got)
                self.check(book)
        assert self.crashes >= steps // 50


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_steps_with_crashes_match_the_model(tmp_path, seed):
    Sim(seed, tmp_path / "points.sqlite").run(700)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 10 + int(os.environ.get("FLYWHEEL_SIM_SEEDS", "2"))))
def test_many_more_random_steps(tmp_path, seed):
    """Two long runs in `make test`; `FLYWHEEL_SIM_SEEDS=50 pytest -k many_more` for a longer hunt."""
    Sim(seed, tmp_path / "points.sqlite").run(1500)
