"""The points ledger's exact cases: each guarantee of flywheel/loyalty/ledger.py, both halves."""

from __future__ import annotations

import datetime as dt
import sqlite3
from concurrent.futures import ProcessPoolExecutor

import pytest

from flywheel.loyalty.invariants import verify
from flywheel.loyalty.ledger import Ledger

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "points.sqlite") as book:
        yield book
        assert verify(book.con)["ok"], verify(book.con)["failures"]


def test_a_key_is_applied_once_and_a_reused_key_with_another_request_is_refused(ledger):
    first = ledger.earn("p1", key="k1", points=10, at=T0)
    again = ledger.earn("p1", key="k1", points=10, at=T0 + DAY)
    other = ledger.earn("p1", key="k1", points=11, at=T0)
    assert (first.status, again.status, again.transaction_id) == ("created", "exists", first.transaction_id)
    assert other.status == "refused" and other.reason == "idempotency_key_conflict"
    assert ledger.balance_row("p1") == {"available": 10, "pending": 0, "debt": 0}
    assert ledger.earn("p1", key="k2", points=11, at=T0).status == "created"


def test_a_refused_write_stays_refused_for_its_key(ledger):
    ledger.earn("p1", key="e1", points=5, at=T0)
    refused = ledger.redeem("p1", key="r1", points=8, at=T0)
    assert refused.status == "refused" and refused.reason == "insufficient_points"
    ledger.earn("p1", key="e2", points=5, at=T0)
    assert ledger.redeem("p1", key="r1", points=8, at=T0).reason == "insufficient_points"
    assert ledger.redeem("p1", key="r2", points=8, at=T0).status == "created"
    assert ledger.balance_row("p1")["available"] == 2


def test_an_order_earns_once_whatever_the_key(ledger):
    assert ledger.earn("p1", key="a", points=10, order="o1", paid_cents=10000, at=T0).status == "created"
    second = ledger.earn("p1", key="b", points=10, order="o1", paid_cents=10000, at=T0)
    assert second.reason == "order_already_earned" and ledger.balance_row("p1")["available"] == 10


def test_refund_after_spending_leaves_explicit_debt_repaid_by_later_earnings(ledger):
    ledger.earn("p1", key="e", points=10, order="o1", paid_cents=10000, at=T0)
    ledger.redeem("p1", key="r", points=8, at=T0)
    refund = ledger.refund("p1", key="f", order="o1", amount_cents=10000, at=T0 + DAY)
    assert (refund.available, refund.debt) == (0, 8) and refund.detail["clawed_back"] == 10
    assert ledger.redeem("p1", key="r2", points=1, at=T0 + DAY).reason == "insufficient_points"
    later = ledger.earn("p1", key="e2", points=5, at=T0 + 2 * DAY)
    assert (later.available, later.debt) == (0, 3)
    last = ledger.earn("p1", key="e3", points=5, at=T0 + 3 * DAY)
    assert (last.available, last.debt) == (2, 0)


def test_partial_refunds_claw_back_by_the_cumulative_formula(ledger):
    ledger.earn("p1", key="e", points=10, order="o1", paid_cents=10900, at=T0)
    claws = [ledger.refund("p1", key=f"f{i}", order="o1", amount_cents=cents, at=T0 + i * DAY).detail["clawed_back"]
             for i, cents in enumerate([2200, 2200, 2200, 2200, 2100], start=1)]
    assert claws == [3, 2, 2, 2, 1] and ledger.balance_row("p1")["available"] == 0
    over = ledger.refund("p1", key="f9", order="o1", amount_cents=1, at=T0 + 9 * DAY)
    assert over.reason == "refund_exceeds_paid"


def test_spending_takes_the_earliest_expiring_lot_and_expiry_runs_once(ledger):
    late = ledger.earn("p1", key="late", points=5, at=T0, expires_at=T0 + 30 * DAY).detail["lot"]
    soon = ledger.earn("p1", key="soon", points=5, at=T0, expires_at=T0 + 10 * DAY).detail["lot"]
    never = ledger.earn("p1", key="never", points=5, at=T0).detail["lot"]
    spent = ledger.redeem("p1", key="r", points=7, at=T0 + DAY).detail["lots"]
    assert spent == [{"lot": soon, "points": 5}, {"lot": late, "points": 2}]
    assert ledger.expire(T0 + 20 * DAY) == {"transactions": 0, "points": 0}  # the soon lot is already spent
    assert ledger.expire(T0 + 31 * DAY) == {"transactions": 1, "points": 3}
    assert ledger.expire(T0 + 31 * DAY) == {"transactions": 0, "points": 0}
    assert [lot["lot"] for lot in ledger.balance("p1")["lots"]] == [never]
    assert ledger.balance_row("p1")["available"] == 5


def test_a_write_never_spends_a_point_past_its_expiry(ledger):
    ledger.earn("p1", key="e", points=5, at=T0, expires_at=T0 + 10 * DAY)
    assert ledger.redeem("p1", key="r", points=5, at=T0 + 11 * DAY).reason == "insufficient_points"
    assert [t["kind"] for t in ledger.history("p1")] == ["earn", "expire"]


def test_pending_points_resolve_once_and_a_refund_inside_the_window_cancels_them(ledger):
    ledger.earn("p1", key="e", points=7, order="o1", paid_cents=7000, at=T0, pending_days=7)
    assert ledger.balance_row("p1") == {"available": 0, "pending": 7, "debt": 0}
    assert ledger.redeem("p1", key="r", points=1, at=T0 + DAY).reason == "insufficient_points"
    assert ledger.resolve(T0 + 6 * DAY)["transactions"] == 0
    assert ledger.resolve(T0 + 8 * DAY) == {"transactions": 1, "points": 7}
    assert ledger.resolve(T0 + 9 * DAY) == {"transactions": 0, "points": 0}
    assert ledger.balance_row("p1") == {"available": 7, "pending": 0, "debt": 0}
    ledger.earn("p2", key="e2", points=7, order="o2", paid_cents=7000, at=T0, pending_days=7)
    cancel = ledger.refund("p2", key="f2", order="o2", amount_cents=7000, at=T0 + 2 * DAY)
    assert cancel.detail["from_pending"] == 7 and ledger.balance_row("p2") == {"available": 0, "pending": 0, "debt": 0}
    assert ledger.resolve(T0 + 8 * DAY)["transactions"] == 0


def test_points_that_paid_for_a_refunded_order_return_to_their_lots(ledger):
    a = ledger.earn("p1", key="a", points=30, at=T0, expires_at=T0 + 10 * DAY).detail["lot"]
    b = ledger.earn("p1", key="b", points=30, at=T0, expires_at=T0 + 40 * DAY).detail["lot"]
    ledger.redeem("p1", key="r", points=40, order="o1", at=T0)
    half = ledger.refund("p1", key="f1", order="o1", amount_cents=5000, paid_cents=10000, at=T0 + DAY)
    assert half.detail["returned_to"] == [{"lot": b, "points": 10}, {"lot": a, "points": 10}]
    rest = ledger.refund("p1", key="f2", order="o1", amount_cents=5000, at=T0 + 20 * DAY)
    # lot a expired on day 10 with the 10 points returned to it; the other 20 it funded go straight to expired
    assert rest.detail["returned_to"] == [{"lot": a, "points": 20}]
    assert ledger.balance_row("p1")["available"] == 30 and ledger.balance("p1")["lots"][0]["lot"] == b


def test_entries_and_transactions_cannot_be_changed(ledger):
    ledger.earn("p1", key="e", points=5, at=T0)
    for statement in ("UPDATE entries SET amount = 50", "DELETE FROM entries", "UPDATE transactions SET points = 9",
                      "DELETE FROM transactions"):
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            ledger.con.execute(statement)


def test_verify_names_a_tampered_balance_and_a_forged_lot(ledger):
    ledger.earn("p1", key="e", points=5, at=T0)
    assert verify(ledger.con)["ok"]
    ledger.con.execute("UPDATE balances SET available = 500 WHERE person = 'p1'")
    ledger.con.execute("UPDATE lots SET remaining = 9")
    report = verify(ledger.con)
    assert not report["ok"]
    assert {"balances_differ_from_replay", "lots_differ_from_replay", "available_differs_from_open_lots",
            "lots_out_of_bounds"} <= set(report["failures"])
    ledger.con.execute("UPDATE balances SET available = 5 WHERE person = 'p1'")
    ledger.con.execute("UPDATE lots SET remaining = 5")


def _earn_same(path, _i):
    with Ledger(path) as book:
        return book.earn("p1", key="same", points=10, at=T0).status


def _earn_then_redeem(path, i):
    with Ledger(path) as book:
        book.earn("p1", key=f"e{i}", points=10, at=T0)
        return book.redeem("p1", key=f"r{i}", points=7, at=T0).status


def _redeem_scarce(path, i):
    with Ledger(path) as book:
        return book.redeem("p2", key=f"s{i}", points=7, at=T0).status


def test_fifty_processes_give_exactly_a_sequential_result(tmp_path):
    path = tmp_path / "points.sqlite"
    with Ledger(path) as book:
        book.earn("p2", key="seed", points=100, at=T0)
    with ProcessPoolExecutor(50) as pool:
        same = list(pool.map(_earn_same, [path] * 50, range(50)))
        pairs = list(pool.map(_earn_then_redeem, [path] * 50, range(50)))
        scarce = list(pool.map(_redeem_scarce, [path] * 50, range(50)))
    assert sorted(same) == ["created"] + ["exists"] * 49
    assert pairs == ["created"] * 50
    assert scarce.count("created") == 14 and scarce.count("refused") == 36
    with Ledger(path) as book:
        assert book.balance_row("p1")["available"] == 10 + 50 * 3
        assert book.balance_row("p2")["available"] == 2
        report = verify(book.con)
        assert report["ok"] and report["transactions"] == 1 + 1 + 100 + 14
