"""The same orders and invites give the same points, levels and referral verdicts on DuckDB and Spark."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from flywheel.loyalty import journal_path
from flywheel.loyalty.ledger import Ledger
from flywheel.loyalty.run import run
from flywheel.privacy import Gate

pytestmark = [pytest.mark.spark, pytest.mark.slow]
T0 = dt.datetime(2025, 1, 10, tzinfo=dt.timezone.utc)


def _fill(wh) -> None:
    users = [f"u{i}" for i in range(12)]
    orders = [(f"o{i}", users[i % 12], ((i % 12) + 1) ** 2 * 2500, (5000 if i % 5 == 0 else 0), T0 + dt.timedelta(days=9 * i),
               "partially_refunded" if i % 5 == 0 else "completed") for i in range(40)]
    wh.append("accounts", pa.table({"source": ["web"] * 12, "account_key": users, "account_key_type": ["user_id"] * 12}))
    wh.append("person_accounts", pa.table({"source": ["web"] * 12, "account_key": users,
                                           "person_id": [f"P{i % 10}" for i in range(12)]}))
    wh.append("orders", pa.table({"source": ["web"] * 40, "order_id": [o[0] for o in orders],
                                  "account_key": [o[1] for o in orders], "paid_cents": [o[2] for o in orders],
                                  "refund_cents": [o[3] for o in orders], "paid_at": [o[4] for o in orders],
                                  "created_at": [o[4] for o in orders], "status": [o[5] for o in orders]}))


def _outcome(wh) -> dict:
    path = journal_path(wh.settings)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    _fill(wh)
    now = T0 + dt.timedelta(days=400)
    with Gate.open(wh.settings.with_overrides(role="owner"), wh, "engines") as gate:
        outcome = run(gate, now)
    with Ledger(path) as book:
        balances = sorted(book.con.execute("SELECT * FROM balances").fetchall())
    members = sorted((r["person_id"], r["level"], r["growth_value"], r["points_available"], r["review_at"])
                     for r in wh.fetch("loyalty_members").to_pylist())
    return {"balances": balances, "members": members, "levels": outcome["members"],
            "transactions": outcome["transactions"]}


def test_points_and_levels_agree_on_duckdb_and_spark(warehouse, spark_warehouse):
    duck = _outcome(warehouse)
    spark = _outcome(spark_warehouse)
    assert duck == spark
    assert len(duck["balances"]) == 10 and duck["transactions"] > 40 and len(set(m[1] for m in duck["members"])) >= 2
