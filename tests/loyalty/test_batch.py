"""`loyalty run`'s bulk path gives exactly the ledger one write per order gives, and reruns add nothing."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from flywheel.loyalty import batch
from flywheel.loyalty.batch import OrderPoints, earn_key, earn_orders, refund_key
from flywheel.loyalty.invariants import verify
from flywheel.loyalty.ledger import Ledger, iso

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


def _orders(seed: int, n: int = 400) -> list[OrderPoints]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = T0 + dt.timedelta(hours=rng.randint(0, 24 * 500))
        paid = rng.randint(100, 90000)
        pending = rng.choice([0, 0, 7, 400])
        expiry = rng.choice([None, 30, 365])
        out.append(OrderPoints(f"p{rng.randint(0, 40)}", f"tmall:{i}", paid,
                               rng.choice([0, 0, 0, paid, paid // 3]), max(1, paid // 1000), iso(at),
                               iso(at + dt.timedelta(days=pending)),
                               iso(at + dt.timedelta(days=expiry)) if expiry else None))
    return out


def _one_by_one(book: Ledger, orders: list[OrderPoints]) -> None:
    for o in sorted(orders, key=lambda o: (o.person, o.at, o.order)):
        book.earn(o.person, key=earn_key(o.order), points=o.points, at=dt.datetime.fromisoformat(o.at), order=o.order,
                  paid_cents=o.paid_cents, pending_days=o.pending_days, derived=("expires", "pending_days"),
                  expires_at=dt.datetime.fromisoformat(o.expires_at) if o.expires_at else None)
    for o in sorted(orders, key=lambda o: (o.person, o.at, o.order)):
        if o.refund_cents:
            book.refund(o.person, key=refund_key(o.order, o.refund_cents), order=o.order, amount_cents=o.refund_cents,
                        at=NOW)


def _state(book: Ledger) -> dict:
    con = book.con
    lots = {r[0]: r[1:] for r in con.execute(
        "SELECT order_id, person, points, remaining, pending, earned_at, available_at, expires_at, state FROM lots")}
    # lot ids differ between the two ledgers: settle keys (expire:LOT, resolve:LOT) are named by the lot's order
    named = "CASE WHEN t.kind IN ('expire', 'resolve') THEN t.kind || ':' || (SELECT order_id FROM lots WHERE " \
            "id = CAST(substr(t.key, instr(t.key, ':') + 1) AS INTEGER)) ELSE t.key END"
    txs = sorted((named_key, book.request(key), *rest) for named_key, key, *rest in con.execute(
        f"SELECT {named}, t.key, t.kind, t.person, t.order_id, t.points, t.at, t.detail FROM transactions t"))
    entries = sorted(con.execute(f"SELECT {named}, e.account, e.person, l.order_id, SUM(e.amount) FROM entries e "
                                 "JOIN transactions t ON t.id = e.tx JOIN lots l ON l.id = e.lot "
                                 "GROUP BY 1, 2, 3, 4 HAVING SUM(e.amount) != 0"))
    return {"balances": sorted(con.execute("SELECT * FROM balances")), "orders": sorted(con.execute(
        "SELECT order_id, person, paid, refunded, earned, clawed, spent, returned FROM orders")),
        "lots": lots, "transactions": txs, "entries": entries}


@pytest.mark.parametrize("chunk", [50_000, 7])
def test_the_bulk_path_equals_one_write_per_order(tmp_path, monkeypatch, chunk):
    """With small chunks the rows go through the writer thread and the indexes are built at the end."""
    monkeypatch.setattr(batch, "BULK_PERSONS", chunk)
    orders = _orders(5)
    with Ledger(tmp_path / "bulk.sqlite") as bulk, Ledger(tmp_path / "single.sqlite") as single:
        for book in (bulk, single):  # two persons with history take the one-by-one path in bulk too
            book.earn("p1", key="old", points=3, at=T0, order="web:old", paid_cents=3000)
            book.redeem("p2", key="none", points=3, at=T0)
        outcome = earn_orders(bulk, orders, NOW)
        _one_by_one(single, orders)
        for book in (bulk, single):
            book.resolve(NOW)
            book.expire(NOW)
        assert outcome["fresh_persons"] >= 35 and outcome["slow_orders"] > 0
        assert verify(bulk.con)["ok"] and verify(single.con)["ok"]
        a, b = _state(bulk), _state(single)
        for part in a:
            assert a[part] == b[part], part
        assert any(r[5] for r in a["orders"]) and any(r[2] for r in a["balances"]) and any(r[3] for r in a["balances"])


def test_a_rerun_adds_nothing_and_a_grown_refund_is_clawed_back_once(tmp_path):
    orders = _orders(6, 100)
    with Ledger(tmp_path / "p.sqlite") as book:
        first = earn_orders(book, orders, NOW)
        assert first["transactions"] > 100
        assert earn_orders(book, orders, NOW)["transactions"] == 0
        o = orders[0]  # a client retrying an order's earn through a single write finds the bulk's
        again = book.earn(o.person, key=earn_key(o.order), points=o.points, at=NOW, order=o.order,
                          paid_cents=o.paid_cents, derived=("expires", "pending_days"))
        assert again.status == "exists"
        other = book.earn(o.person, key=earn_key(o.order), points=o.points + 1, at=NOW, order=o.order,
                          paid_cents=o.paid_cents, derived=("expires", "pending_days"))
        assert other.reason == "idempotency_key_conflict"
        target = next(o for o in orders if not o.refund_cents)
        target.refund_cents = target.paid_cents // 2
        again = earn_orders(book, orders, NOW + dt.timedelta(days=1))
        assert again["transactions"] == 1 and again["slow_orders"] == 1
        assert earn_orders(book, orders, NOW + dt.timedelta(days=1))["transactions"] == 0
        assert verify(book.con)["ok"]

