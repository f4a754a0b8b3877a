"""The subject's rights reach the points journal. `privacy export` carries their transactions, lots and
balance and nobody else's; `privacy erase` takes their id out of its tables and its files, the ledger
still verifies, and a person whose id merely contains theirs keeps everything."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from test_points_cli import _persons, _run

from flywheel.config import load_settings
from flywheel.loyalty import journal_path

GONE = "pa1b2c3d4e5f60718"
LOOKALIKE = GONE + "9"  # contains the erased id: a text search alone would hit it


def _journal_bytes() -> bytes:
    path = journal_path(load_settings())
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def _state(person: str, monkeypatch, capsys) -> tuple:
    code, b, _ = _run(monkeypatch, capsys, "points", "balance", person, role="analyst")
    code2, h, _ = _run(monkeypatch, capsys, "points", "history", person, role="analyst")
    assert code == 0 and code2 == 0
    return b["available"], b["pending"], b["debt"], [(t["kind"], t["points"]) for t in h["transactions"]]


def test_access_copy_and_erasure_reach_the_journal_and_nobody_else(monkeypatch, capsys, tmp_path):
    _persons((GONE, "active", None), (LOOKALIKE, "active", None))
    for person, order in ((GONE, "o-gone"), (LOOKALIKE, "o-kept")):
        code, _, _ = _run(monkeypatch, capsys, "points", "earn", person, "--order", order, "--paid", "209.00",
                          "--at", "2026-03-01T10:00", "--pending-days", "0")
        assert code == 0
        code, _, _ = _run(monkeypatch, capsys, "points", "redeem", person, "--points", "5",
                          "--key", f"manual:{person}:1", "--at", "2026-03-02T10:00")
        assert code == 0
        code, refused, _ = _run(monkeypatch, capsys, "points", "redeem", person, "--points", "999",
                                "--key", f"manual:{person}:2", "--at", "2026-03-02T11:00")
        assert code == 1 and refused["reason"] == "insufficient_points"
    kept_before = _state(LOOKALIKE, monkeypatch, capsys)
    assert GONE.encode() in _journal_bytes()

    out = tmp_path / "copy.json"
    code, summary, err = _run(monkeypatch, capsys, "privacy", "export", GONE, "--out", str(out), role="privacy_officer")
    assert code == 0, err
    data = json.loads(out.read_text(encoding="utf-8"))["data"]
    assert [(t["kind"], t["points"], t["available_change"]) for t in data["points_transactions"]] == [
        ("earn", 20, 20), ("redeem", 5, -5)]
    assert [(lot["order_id"], lot["remaining"]) for lot in data["points_lots"]] == [("o-gone", 15)]
    assert data["points_balances"] == [{"person_id": GONE, "available": 15, "pending": 0, "debt": 0}]
    assert LOOKALIKE not in out.read_text(encoding="utf-8"), "only the subject's rows"

    code, report, err = _run(monkeypatch, capsys, "privacy", "erase", GONE, "--yes", role="privacy_officer")
    assert code == 0, err
    rows = report["points_journal"]
    assert rows["transactions"] >= 2 and rows["entries"] >= 2 and rows["balances"] == 1
    assert rows["refusals"] == 2, "the refused write's key and its request both named the person"

    assert re.search(re.escape(GONE).encode() + rb"(?!9)", _journal_bytes()) is None, "not in the files either"
    assert _state(LOOKALIKE, monkeypatch, capsys) == kept_before, "the look-alike keeps every point and row"
    code, verified, _ = _run(monkeypatch, capsys, "points", "verify", role="auditor")
    assert code == 0 and verified["ok"] and verified["transactions"] == 4
    con = sqlite3.connect(journal_path(load_settings()))
    tombstone = con.execute("SELECT DISTINCT person FROM transactions WHERE person LIKE 'erased-%'").fetchall()
    assert len(tombstone) == 1, "one tombstone, the same in every row: the liability still adds up per account"
    (payload,) = con.execute("SELECT payload FROM refusals WHERE key LIKE 'manual:erased-%'").fetchone()
    assert json.loads(payload)["person"] == tombstone[0][0]
    with pytest.raises(sqlite3.DatabaseError, match="immutable"):
        con.execute("UPDATE entries SET amount = 0")
    with pytest.raises(sqlite3.DatabaseError, match="immutable"):
        con.execute("DELETE FROM transactions")
    con.close()


def test_erasing_someone_without_points_leaves_the_journal_as_it_was(monkeypatch, capsys):
    _persons((GONE, "active", None), (LOOKALIKE, "active", None))
    code, _, _ = _run(monkeypatch, capsys, "points", "earn", LOOKALIKE, "--order", "o1", "--paid", "99.00",
                      "--at", "2026-03-01T10:00", "--pending-days", "0")
    assert code == 0
    before = _state(LOOKALIKE, monkeypatch, capsys)
    code, report, err = _run(monkeypatch, capsys, "privacy", "erase", GONE, "--yes", role="privacy_officer")
    assert code == 0 and report["points_journal"] == {}, err
    assert _state(LOOKALIKE, monkeypatch, capsys) == before


def test_a_busy_journal_refuses_the_erasure_before_anything_is_erased(monkeypatch, capsys):
    from flywheel.loyalty import JournalErasure

    _persons((GONE, "active", None))
    code, _, _ = _run(monkeypatch, capsys, "points", "earn", GONE, "--order", "o1", "--paid", "99.00",
                      "--at", "2026-03-01T10:00", "--pending-days", "0")
    assert code == 0
    before = _state(GONE, monkeypatch, capsys)
    monkeypatch.setattr(JournalErasure.lock, "__defaults__", (0.2,))
    writer = sqlite3.connect(journal_path(load_settings()), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a loyalty run holding the journal's write lock
    code, _, err = _run(monkeypatch, capsys, "privacy", "erase", GONE, "--yes", role="privacy_officer")
    assert code == 1 and "busy" in err and "nothing was erased" in err and "Traceback" not in err, err
    assert _state(GONE, monkeypatch, capsys) == before, "the warehouse and the journal still hold the person"
    writer.execute("ROLLBACK")
    writer.close()
    code, report, err = _run(monkeypatch, capsys, "privacy", "erase", GONE, "--yes", role="privacy_officer")
    assert code == 0 and report["points_journal"]["balances"] == 1, err
