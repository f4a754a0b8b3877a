"""A hand-made merchant with known overview, retention and funnel answers (Asia/Shanghai, UTC+8).

Persons: P1 (tmall a1 + jd j1 + web w1: linked across platforms), P2 (tmall a2), P3…P6 (web only).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    """An instant written as UTC (`2026-03-02T04:00`)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


ACCOUNTS = [("tmall", "a1", "P1"), ("jd", "j1", "P1"), ("web", "w1", "P1"), ("tmall", "a2", "P2"),
            ("web", "w3", "P3"), ("web", "w4", "P4"), ("web", "w5", "P5"), ("web", "w6", "P6")]

ORDERS = [  # source, order, account, status, created (UTC), paid, refund
    ("tmall", "o1", "a1", "paid", "2026-03-01T02:00", 10000, 0),
    ("tmall", "o2", "a1", "refunded", "2026-03-15T04:00", 5000, 5000),
    ("tmall", "o3", "a2", "paid", "2026-03-20T04:00", 3000, 0),
    # 01:30 on 1 April in Shanghai, still 31 March in UTC: an April order on the merchant's calendar
    ("tmall", "o4", "a2", "completed", "2026-03-31T17:30", 4000, 0),
    ("jd", "o5", "j1", "completed", "2026-04-02T04:00", 20000, 1000),
    ("tmall", "o6", "a1", "cancelled", "2026-03-05T04:00", 9900, 0),  # not GMV
    ("jd", "o7", "j1", "paid", "2026-05-10T04:00", 2500, 0),
]

EVENTS = [  # account, event, time (UTC)
    ("w1", "Product Viewed", "2026-03-02T04:00"), ("w1", "Product Added", "2026-03-03T04:00"),
    ("w1", "Order Completed", "2026-03-05T04:00"),
    # P3 adds 15 days after viewing: one day past a 14-day window
    ("w3", "Product Viewed", "2026-03-10T04:00"), ("w3", "Product Added", "2026-03-25T04:00"),
    # P4 adds before viewing: out of order, so only step 1
    ("w4", "Product Added", "2026-03-04T04:00"), ("w4", "Product Viewed", "2026-03-06T04:00"),
    ("w4", "Order Completed", "2026-03-07T04:00"),
    # P5's step 1 falls before the range: not in the funnel although steps 2 and 3 fall in it
    ("w5", "Product Viewed", "2026-02-27T04:00"), ("w5", "Product Added", "2026-03-01T04:00"),
    ("w5", "Order Completed", "2026-03-02T04:00"),
    ("w6", "Product Viewed", "2026-03-20T04:00"), ("w6", "Product Added", "2026-03-21T04:00"),
    ("w6", "Product Viewed", "2026-03-22T04:00"),
]


def build(wh) -> None:
    wh.append("accounts", pa.Table.from_pylist([
        {"source": s, "account_key": k, "account_key_type": "user_id" if s == "web" else "nick",
         "first_seen_at": at("2026-01-01T00:00")} for s, k, _ in ACCOUNTS]))
    wh.append("person_accounts", pa.Table.from_pylist([
        {"source": s, "account_key": k, "person_id": p, "linked_by": "deterministic"} for s, k, p in ACCOUNTS]))
    wh.append("orders", pa.Table.from_pylist([
        {"source": s, "order_id": o, "account_key": a, "status": st, "created_at": at(c), "paid_cents": paid,
         "refund_cents": refund, "currency": "CNY"} for s, o, a, st, c, paid, refund in ORDERS]))
    wh.append("events", pa.Table.from_pylist([
        {"message_id": f"m{i}", "type": "track", "event": ev, "user_id": acc, "source": "web", "timestamp": at(t)}
        for i, (acc, ev, t) in enumerate(EVENTS)]))
