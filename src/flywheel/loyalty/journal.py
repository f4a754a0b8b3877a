"""Where the points ledger is kept: a SQLite journal beside the warehouse.

Points are an OLTP workload — single writes that must be serialised per person, idempotent, and
durable one by one — which the analytical warehouse is built against: a DuckDB file admits one
writing process at a time and commits ~750 small transactions a second here, and Spark has no
transactions at all. SQLite in WAL mode serialises writers across processes (`BEGIN IMMEDIATE`),
commits tens of thousands of small transactions a second, and a killed process leaves nothing
half-written. The warehouse receives the ledger's per-person snapshot for segments, reports and the
console (`loyalty run`).

Entries and transactions are immutable (triggers refuse UPDATE and DELETE); lots, balances and
orders are state derived from them, which `verify()` rebuilds from the entries and compares.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS refusals (
    key TEXT PRIMARY KEY, payload TEXT NOT NULL, reason TEXT NOT NULL, message TEXT, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, payload TEXT, kind TEXT NOT NULL, person TEXT,
    order_id TEXT, points INTEGER NOT NULL, at TEXT NOT NULL, recorded_at TEXT NOT NULL,
    reverses INTEGER, actor TEXT, reason TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY, tx INTEGER NOT NULL, account TEXT NOT NULL,
    person TEXT, lot INTEGER, amount INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lots (
    id INTEGER PRIMARY KEY, person TEXT NOT NULL, tx INTEGER NOT NULL, order_id TEXT,
    points INTEGER NOT NULL, remaining INTEGER NOT NULL, pending INTEGER NOT NULL,
    earned_at TEXT NOT NULL, available_at TEXT NOT NULL, expires_at TEXT, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS balances (
    person TEXT NOT NULL, available INTEGER NOT NULL, pending INTEGER NOT NULL, debt INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT NOT NULL, person TEXT NOT NULL, paid INTEGER NOT NULL, refunded INTEGER NOT NULL,
    earned INTEGER NOT NULL, clawed INTEGER NOT NULL, lot INTEGER, spent INTEGER NOT NULL,
    returned INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS spends (
    tx INTEGER NOT NULL, lot INTEGER NOT NULL, order_id TEXT, points INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS spends_order ON spends(order_id);
CREATE TABLE IF NOT EXISTS rules (
    version INTEGER PRIMARY KEY, definition TEXT NOT NULL, sha256 TEXT NOT NULL, file TEXT,
    applied_at TEXT NOT NULL, applied_by TEXT);
CREATE TABLE IF NOT EXISTS counters (
    scope TEXT NOT NULL, person TEXT NOT NULL, day TEXT NOT NULL, used INTEGER NOT NULL,
    PRIMARY KEY (scope, person, day));
CREATE TABLE IF NOT EXISTS publishes (
    at TEXT NOT NULL, max_tx INTEGER NOT NULL, rules_sha TEXT NOT NULL, persons INTEGER NOT NULL,
    recomputed INTEGER NOT NULL, published_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS assists (
    campaign TEXT NOT NULL, helper TEXT NOT NULL, initiator TEXT NOT NULL, at TEXT NOT NULL, day TEXT NOT NULL,
    channel TEXT);
CREATE TRIGGER IF NOT EXISTS entries_immutable_u BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
CREATE TRIGGER IF NOT EXISTS entries_immutable_d BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
CREATE TRIGGER IF NOT EXISTS transactions_immutable_u BEFORE UPDATE ON transactions
    BEGIN SELECT RAISE(ABORT, 'ledger transactions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS transactions_immutable_d BEFORE DELETE ON transactions
    BEGIN SELECT RAISE(ABORT, 'ledger transactions are immutable'); END;
"""


INDEXES = {
    "transactions_key": "CREATE UNIQUE INDEX IF NOT EXISTS transactions_key ON transactions(key)",
    "transactions_person": "CREATE INDEX IF NOT EXISTS transactions_person ON transactions(person, id)",
    "entries_tx": "CREATE INDEX IF NOT EXISTS entries_tx ON entries(tx)",
    "lots_person": "CREATE INDEX IF NOT EXISTS lots_person ON lots(person, state)",
    "lots_due": "CREATE INDEX IF NOT EXISTS lots_due ON lots(available_at) WHERE state = 'pending'",
    "lots_expiry": "CREATE INDEX IF NOT EXISTS lots_expiry ON lots(expires_at) WHERE state = 'open'",
    "orders_id": "CREATE UNIQUE INDEX IF NOT EXISTS orders_id ON orders(order_id)",
    "balances_person": "CREATE UNIQUE INDEX IF NOT EXISTS balances_person ON balances(person)",
}
"""Indexes kept apart from the tables so a bulk load into a (nearly) empty journal can drop them
and build them once at the end: building an index sorts, inserting into one is a random B-tree
write per row (3M orders: 13 s to build them all against ~35 s spent maintaining them)."""


@contextlib.contextmanager
def without_indexes(con: sqlite3.Connection) -> Iterator[None]:
    """Inside a write transaction: drop the indexes, run the block, build them again (all or nothing)."""
    for name in INDEXES:
        con.execute(f"DROP INDEX IF EXISTS {name}")
    yield
    for statement in INDEXES.values():
        con.execute(statement)


def journal_path(settings) -> Path:
    """`flywheel.duckdb` → `flywheel.duckdb.points.sqlite`; a Spark warehouse directory → `<dir>/points.sqlite`."""
    db = Path(settings.db_path)
    return db / "points.sqlite" if settings.engine == "spark" else db.with_name(db.name + ".points.sqlite")


def connect(path: Path, synchronous: str = "NORMAL", busy_seconds: float = 60.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) on a WAL journal.

    `synchronous=NORMAL` in WAL mode survives a killed process (what the simulator tests); `FULL`
    also survives a power cut at the price of an fsync per commit (FLYWHEEL_LEDGER_SYNC=full)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), isolation_level=None, timeout=busy_seconds, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"PRAGMA synchronous={synchronous}")
    con.executescript(SCHEMA + ";\n".join(INDEXES.values()) + ";")
    return con


@contextlib.contextmanager
def immediate(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction holding SQLite's write lock from its first statement: writers are
    serialised, so concurrent processes give exactly a sequential result. Inside another one, it
    joins it."""
    if con.in_transaction:
        yield con
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
