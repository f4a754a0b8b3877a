"""`flywheel points verify`: replay the journal and check every guarantee the ledger states.

Each check is a query that returns its violations (empty when the invariant holds), so a damaged or
tampered journal names the transaction, person or lot at fault.
"""

from __future__ import annotations

from collections import defaultdict

CHECKS = {
    "unbalanced_transactions":
        "SELECT tx, SUM(amount) FROM entries GROUP BY tx HAVING SUM(amount) != 0",
    "transactions_without_entries":
        "SELECT t.id, t.kind FROM transactions t WHERE t.points != 0 AND NOT EXISTS "
        "(SELECT 1 FROM entries e WHERE e.tx = t.id)",
    "entries_without_transaction":
        "SELECT e.id, e.tx FROM entries e LEFT JOIN transactions t ON t.id = e.tx WHERE t.id IS NULL",
    "keys_both_refused_and_applied":
        "SELECT r.key FROM refusals r JOIN transactions t ON t.key = r.key",
    "balances_differ_from_replay":
        "WITH replay AS (SELECT person, SUM(CASE WHEN account = 'available' THEN amount ELSE 0 END) AS available, "
        "SUM(CASE WHEN account = 'pending' THEN amount ELSE 0 END) AS pending, "
        "-SUM(CASE WHEN account = 'debt' THEN amount ELSE 0 END) AS debt FROM entries WHERE person IS NOT NULL "
        "GROUP BY person) "
        "SELECT COALESCE(b.person, r.person), b.available, r.available, b.pending, r.pending, b.debt, r.debt "
        "FROM balances b FULL OUTER JOIN replay r ON r.person = b.person "
        "WHERE b.person IS NULL OR r.person IS NULL OR b.available != r.available OR b.pending != r.pending "
        "OR b.debt != r.debt",
    "negative_balances":
        "SELECT person, available, pending, debt FROM balances WHERE available < 0 OR pending < 0 OR debt < 0",
    "debt_while_available":
        "SELECT person, available, debt FROM balances WHERE debt > 0 AND available > 0",
    "lots_differ_from_replay":
        "WITH replay AS (SELECT lot, SUM(CASE WHEN account = 'available' THEN amount ELSE 0 END) AS remaining, "
        "SUM(CASE WHEN account = 'pending' THEN amount ELSE 0 END) AS pending FROM entries "
        "WHERE lot IS NOT NULL AND person IS NOT NULL GROUP BY lot) "
        "SELECT l.id, l.remaining, COALESCE(r.remaining, 0), l.pending, COALESCE(r.pending, 0) FROM lots l "
        "LEFT JOIN replay r ON r.lot = l.id "
        "WHERE l.remaining != COALESCE(r.remaining, 0) OR l.pending != COALESCE(r.pending, 0)",
    "lots_out_of_bounds":
        "SELECT id, points, remaining, pending FROM lots WHERE remaining < 0 OR pending < 0 "
        "OR remaining + pending > points OR (state != 'open' AND remaining != 0)",
    "available_differs_from_open_lots":
        "SELECT b.person, b.available, COALESCE(l.open, 0) FROM balances b LEFT JOIN "
        "(SELECT person, SUM(remaining) AS open FROM lots WHERE state = 'open' GROUP BY person) l "
        "ON l.person = b.person WHERE b.available != COALESCE(l.open, 0)",
    "clawback_differs_from_formula":
        "SELECT order_id, earned, paid, refunded, clawed FROM orders WHERE paid > 0 AND "
        "clawed != earned - (earned * (paid - refunded)) / paid",
    "refunds_exceed_paid":
        "SELECT order_id, paid, refunded FROM orders WHERE refunded > paid OR (paid = 0 AND refunded > 0)",
    "returns_exceed_spent":
        "SELECT order_id, spent, returned FROM orders WHERE returned > spent",
}


def verify(con) -> dict:
    """Every check's violations (up to 20 each), the journal's size, and `ok`."""
    failures = {}
    for name, query in CHECKS.items():
        rows = con.execute(query + " LIMIT 20").fetchall()
        if rows:
            failures[name] = [list(r) for r in rows]
    total = con.execute("SELECT COALESCE(SUM(amount), 0) FROM entries").fetchone()[0]
    if total != 0:
        failures["accounts_do_not_sum_to_zero"] = [[total]]
    negative = _ever_negative(con)
    if negative:
        failures["balance_went_negative"] = negative
    size = dict(zip(("transactions", "entries", "persons", "lots"), (
        con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("transactions", "entries", "balances", "lots"))))
    return {"ok": not failures, "checked": list(CHECKS) + ["accounts_do_not_sum_to_zero", "balance_went_negative"],
            "failures": failures} | size


def _ever_negative(con, limit: int = 20) -> list[list]:
    """Persons whose available, pending or debt balance went below zero after any transaction, by replay."""
    running: dict[tuple[str, str], int] = defaultdict(int)
    found = []
    rows = con.execute("SELECT tx, person, account, SUM(amount) FROM entries WHERE person IS NOT NULL "
                       "GROUP BY tx, person, account ORDER BY tx")
    for tx, person, account, amount in rows:
        key = (person, account)
        running[key] += amount
        value = -running[key] if account == "debt" else running[key]
        if value < 0:
            found.append([tx, person, account, value])
            if len(found) >= limit:
                break
    return found
