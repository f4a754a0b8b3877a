"""Data-subject rights in the points journal: the access copy's sections (PIPL Art. 45, GDPR Art. 15)
and erasure (PIPL Art. 47, GDPR Art. 17). The privacy capability covers the warehouse; the
commands that serve a request call these for the journal beside it.

The journal is append-only, but an erased person must not stay in it under their id. Their id is
replaced, everywhere it occurs, by one random tombstone that nothing maps back: person columns,
the person fields of stored requests and details, and the parts of idempotency keys and counter
scopes that name them. Amounts, lots, times and order numbers stay, so the merchant's points
liability still adds up and `points verify` still holds (the same rows, consistently renamed).
Overwritten bytes are zeroed (`secure_delete`) and the WAL is checkpointed and truncated, so the
id is gone from the files, not only from the tables.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

from flywheel.errors import FlywheelError
from flywheel.loyalty.journal import SCHEMA, connect
from flywheel.loyalty.ledger import Ledger

TRIGGERS = ("entries_immutable_u", "entries_immutable_d", "transactions_immutable_u", "transactions_immutable_d")
PERSON_COLUMNS = {"transactions": ("person",), "entries": ("person",), "lots": ("person",), "balances": ("person",),
                  "orders": ("person",), "counters": ("person",), "assists": ("helper", "initiator")}
JSON_COLUMNS = {"transactions": ("payload", "detail"), "refusals": ("payload",)}
KEY_COLUMNS = {"transactions": ("key",), "refusals": ("key",), "counters": ("scope",)}


def journal_copy(path: Path, person_ids: list[str]) -> dict[str, list[dict]]:
    """The persons' rows in the journal, for their access copy: every transaction with what it changed
    on their accounts, every lot (spent and expired ones too) and the balance. Empty without a journal."""
    if not path.exists() or not person_ids:
        return {}
    with Ledger(path) as ledger:
        copy: dict[str, list[dict]] = {"points_transactions": [], "points_lots": [], "points_balances": []}
        names = ("lot", "order_id", "points", "remaining", "pending", "earned_at", "available_at", "expires_at",
                 "state")
        for pid in sorted(set(person_ids)):
            copy["points_transactions"] += [{"person_id": pid} | t for t in ledger.history(pid)]
            lots = ledger.con.execute(f"SELECT id, {', '.join(names[1:])} FROM lots WHERE person = ? ORDER BY id",
                                      (pid,)).fetchall()
            copy["points_lots"] += [{"person_id": pid} | dict(zip(names, r)) for r in lots]
            copy["points_balances"].append({"person_id": pid} | ledger.balance_row(pid))
    return copy


class JournalErasure:
    """The journal's part of an erasure, in two steps around the warehouse's: `lock()` once the request
    is confirmed and before anything changes (a busy journal then refuses the erasure while nothing is
    erased anywhere), `forget(ids)` after the warehouse's has committed. Leaving the block without
    `forget` rolls back."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.con: sqlite3.Connection | None = None

    def __enter__(self) -> "JournalErasure":
        return self

    def __exit__(self, *exc) -> None:
        if self.con is not None:
            if self.con.in_transaction:
                self.con.execute("ROLLBACK")
            self.con.close()
            self.con = None

    def lock(self, busy_seconds: float = 60.0) -> None:
        """Take the journal's write lock (nothing to take without a journal)."""
        if not self.path.exists():
            return
        con = connect(self.path, busy_seconds=busy_seconds)
        try:
            con.execute("PRAGMA secure_delete=ON")
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            con.close()
            raise FlywheelError(f"The points journal {self.path} is busy ({e}); nothing was erased. Try again "
                                "once the running `loyalty run` or points write has finished.") from None
        self.con = con

    def forget(self, person_ids: list[str]) -> dict:
        """Replace the ids by a tombstone and commit. Returns `{tombstone, rows}` (values rewritten per
        table: a row counts once per column it changed in)."""
        ids = sorted(set(person_ids))
        con = self.con
        if con is None or not ids:
            return {"tombstone": None, "rows": {}}
        tombstone = "erased-" + uuid.uuid4().hex[:16]
        rows: dict[str, int] = {}
        for name in TRIGGERS:
            con.execute(f"DROP TRIGGER IF EXISTS {name}")
        marks = ",".join("?" * len(ids))
        for table, columns in PERSON_COLUMNS.items():
            for column in columns:
                n = con.execute(f"UPDATE {table} SET {column} = ? WHERE {column} IN ({marks})",
                                [tombstone, *ids]).rowcount
                rows[table] = rows.get(table, 0) + n
        for table, columns in JSON_COLUMNS.items():
            for column in columns:
                n = _rewrite(con, table, column, ids, lambda v: _json(v, ids, tombstone))
                rows[table] = rows.get(table, 0) + n
        for table, columns in KEY_COLUMNS.items():
            for column in columns:
                n = _rewrite(con, table, column, ids, lambda v: _parts(v, ids, tombstone))
                rows[table] = rows.get(table, 0) + n
        for statement in _trigger_statements():
            con.execute(statement)
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return {"tombstone": tombstone, "rows": {k: v for k, v in rows.items() if v}}


def forget_persons(path: Path, person_ids: list[str]) -> dict:
    """`JournalErasure` in one go, for a caller with no other store to erase alongside."""
    with JournalErasure(path) as erasure:
        erasure.lock()
        return erasure.forget(person_ids)


def _rewrite(con, table: str, column: str, ids: list[str], change) -> int:
    """Rows whose `column` mentions one of the ids (a text search, then an exact rewrite)."""
    where = " OR ".join(f"instr({column}, ?) > 0" for _ in ids)
    found = con.execute(f"SELECT rowid, {column} FROM {table} WHERE {where}", ids).fetchall()
    changed = [(new, rowid) for rowid, old in found if (new := change(old)) != old]
    con.executemany(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", changed)
    return len(changed)


def _json(text: str, ids: list[str], tombstone: str) -> str:
    """Every string value equal to an id, at any depth (the changed text re-written compactly, keys sorted)."""
    try:
        value = json.loads(text)
    except ValueError:
        return _parts(text, ids, tombstone)

    def swap(v):
        if isinstance(v, str):
            return tombstone if v in ids else v
        if isinstance(v, list):
            return [swap(x) for x in v]
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        return v

    new = swap(value)
    return text if new == value else json.dumps(new, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _parts(text: str, ids: list[str], tombstone: str) -> str:
    """A `:`-separated key or scope with the parts equal to an id replaced (`task:checkin:P:day:…`)."""
    return ":".join(tombstone if part in ids else part for part in text.split(":"))


def _trigger_statements() -> list[str]:
    """The journal's immutability triggers, as its schema declares them."""
    statements, current = [], []
    for line in SCHEMA.splitlines():
        if line.startswith("CREATE TRIGGER") or current:
            current.append(line)
            if line.rstrip().endswith("END;"):
                statements.append("\n".join(current))
                current = []
    return statements
