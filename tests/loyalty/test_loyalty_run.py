"""`flywheel loyalty apply|run|level|stats` over ingested orders: points follow the data, reruns add
nothing, refunds claw back, levels are published for segments and reports."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
from flywheel_cli import cli

from flywheel.warehouse import Warehouse

T0 = dt.datetime(2026, 1, 10, 4, tzinfo=dt.timezone.utc)
RULES = """
points:
  earn:
    cny_per_point: 10
    by_source: {tmall: {cny_per_point: 5}}
  pending_days: 7
  expiry: {after_days: 365}
  value: 0.01
growth:
  window: rolling_days
  days: 365
levels:
  - {name: Member, threshold: 0}
  - {name: Silver, threshold: 500, benefits: [free shipping]}
  - {name: Gold, threshold: 2000, benefits: [free shipping, birthday gift]}
"""


def _merchant(orders: list[tuple[str, str, str, int, int, dt.datetime, str]]) -> None:
    """orders: (source, order_id, account_key, paid_cents, refund_cents, paid_at, status)."""
    accounts = sorted({(o[0], o[2]) for o in orders})
    with Warehouse.open() as wh:
        wh.append("accounts", pa.table({"source": [a[0] for a in accounts], "account_key": [a[1] for a in accounts]}))
        wh.append("person_accounts", pa.table({"source": [a[0] for a in accounts], "account_key": [a[1] for a in accounts],
                                               "person_id": ["P-" + a[1] for a in accounts]}))
        wh.append("persons", pa.table({"person_id": sorted({"P-" + a[1] for a in accounts}), "status": ["active"] * len(
            {a[1] for a in accounts}), "created_at": [T0] * len({a[1] for a in accounts})}))
        wh.replace("orders", wh.table("orders").filter(False))
        wh.append("orders", pa.table({"source": [o[0] for o in orders], "order_id": [o[1] for o in orders],
                                      "account_key": [o[2] for o in orders], "paid_cents": [o[3] for o in orders],
                                      "refund_cents": [o[4] for o in orders], "paid_at": [o[5] for o in orders],
                                      "created_at": [o[5] for o in orders], "status": [o[6] for o in orders]}))


def _json(monkeypatch, capsys, *args, role="owner"):
    code, out, err = cli(monkeypatch, capsys, "--role", role, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_points_and_levels_follow_the_orders(monkeypatch, capsys, tmp_path):
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    assert _json(monkeypatch, capsys, "loyalty", "apply", str(tmp_path / "rules.yaml"))["status"] == "applied"
    assert _json(monkeypatch, capsys, "loyalty", "apply", str(tmp_path / "rules.yaml"))["status"] == "unchanged"
    orders = [("web", "1", "ann", 10900, 0, T0, "completed"),
              ("tmall", "2", "ann", 150000, 0, T0 + dt.timedelta(days=20), "completed"),
              ("web", "3", "bob", 900, 0, T0, "completed"),          # under 10 CNY: no point
              ("web", "4", "bob", 50000, 0, T0, "cancelled"),        # not GMV
              ("web", "5", "cat", 30000, 30000, T0, "refunded")]
    _merchant(orders)
    now = (T0 + dt.timedelta(days=40)).isoformat()
    first = _json(monkeypatch, capsys, "loyalty", "run", "--now", now)
    assert (first["orders"], first["transactions"]) == (3, 3 + 3 + 1)  # earns, ends of windows, a refund
    assert _json(monkeypatch, capsys, "loyalty", "run", "--now", now)["transactions"] == 0
    ann = _json(monkeypatch, capsys, "points", "balance", "P-ann")
    assert (ann["available"], ann["pending"]) == (10 + 300, 0)   # tmall earns 1 per 5 CNY
    cat = _json(monkeypatch, capsys, "points", "balance", "P-cat")
    assert (cat["available"], cat["debt"]) == (0, 0)
    level = _json(monkeypatch, capsys, "loyalty", "level", "P-ann", "--at", now, role="analyst")
    assert (level["level"], level["growth_value"]) == ("Silver", 1609)
    with Warehouse.open() as wh:
        members = {r["person_id"]: r for r in wh.fetch("loyalty_members").to_pylist()}
    assert members["P-ann"]["level"] == "Silver" and members["P-ann"]["points_available"] == 310
    assert set(members) == {"P-ann", "P-cat"}
    # a later partial refund of ann's tmall order claws back and re-evaluates the level at once
    orders[1] = ("tmall", "2", "ann", 150000, 100000, T0 + dt.timedelta(days=20), "partially_refunded")
    _merchant(orders)
    later = (T0 + dt.timedelta(days=41)).isoformat()
    again = _json(monkeypatch, capsys, "loyalty", "run", "--now", later)
    assert again["transactions"] == 1
    ann = _json(monkeypatch, capsys, "points", "balance", "P-ann")
    assert ann["available"] == 310 - (300 - 300 * 50000 // 150000)
    assert _json(monkeypatch, capsys, "loyalty", "level", "P-ann", "--at", later)["level"] == "Silver"
    stats = _json(monkeypatch, capsys, "loyalty", "stats", "--at", later, role="auditor")
    assert stats["members_per_level"] == {"Member": 1, "Silver": 1, "Gold": 0}
    assert stats["points"]["issued"] == 310 + 30 and stats["points"]["clawed_back"] == 30 + 200
    assert stats["liability_cny"] == "1.10" and _json(monkeypatch, capsys, "points", "verify")["ok"]


def test_an_invalid_rules_file_names_the_file_and_the_path(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("points:\n  earn:\n    cny_per_point: -1\n", encoding="utf-8")
    code, out, err = cli(monkeypatch, capsys, "--role", "owner", "loyalty", "apply", str(bad))
    assert code == 1 and f"{bad}: points.earn.cny_per_point:" in err and err.count("\n") == 1
    code, out, err = cli(monkeypatch, capsys, "--role", "analyst", "loyalty", "apply", str(bad))
    assert code == 1 and "may not loyalty.apply" in err


def test_a_publish_replays_only_the_persons_whose_standing_may_have_moved(monkeypatch, capsys, tmp_path):
    from flywheel.config import load_settings
    from flywheel.loyalty import journal_path
    from flywheel.loyalty.ledger import Ledger

    orders = [("web", str(i), f"u{i % 7}", 30000 + 1000 * i, 0, T0 + dt.timedelta(days=i), "completed")
              for i in range(30)]
    _merchant(orders)
    day = T0 + dt.timedelta(days=40)
    _json(monkeypatch, capsys, "loyalty", "run", "--now", day.isoformat())
    orders.append(("web", "new", "u1", 90000, 0, day + dt.timedelta(hours=1), "completed"))
    _merchant(orders)
    later = day + dt.timedelta(days=1)
    _json(monkeypatch, capsys, "loyalty", "run", "--now", later.isoformat())
    with Ledger(journal_path(load_settings())) as book:
        runs = book.con.execute("SELECT persons, recomputed FROM publishes ORDER BY rowid").fetchall()
    assert runs == [(7, 7), (7, 1)]
    with Warehouse.open() as wh:
        published = {r["person_id"]: r for r in wh.fetch("loyalty_members").to_pylist()}
    for person, row in published.items():  # the kept standings are what a full replay says
        full = _json(monkeypatch, capsys, "loyalty", "level", person, "--at", later.isoformat())
        assert (row["level"], row["growth_value"]) == (full["level"], full["growth_value"]), person
        assert row["review_at"].isoformat() == full["review_at"]


def test_the_shipped_example_rules_apply_and_are_what_the_docs_show(monkeypatch, capsys):
    from pathlib import Path

    from flywheel.loyalty.program import example_rules_file

    applied = _json(monkeypatch, capsys, "loyalty", "apply", "--example")
    assert applied["status"] == "applied" and applied["levels"] == ["Member", "Silver", "Gold"]
    assert applied["assist_campaigns"] == ["spring_sample"]
    doc = (Path(__file__).resolve().parents[2] / "docs" / "loyalty.md").read_text(encoding="utf-8")
    assert example_rules_file().read_text(encoding="utf-8").strip() in doc


def test_segments_select_by_level_points_and_demotion(monkeypatch, capsys, tmp_path):
    orders = [("web", "1", "ann", 150000, 0, T0, "completed"), ("web", "2", "bob", 20000, 0, T0, "completed")]
    _merchant(orders)
    _json(monkeypatch, capsys, "loyalty", "run", "--now", (T0 + dt.timedelta(days=20)).isoformat())
    (tmp_path / "s.yaml").write_text("""
segments:
  - name: silver_or_more
    rule: {trait: loyalty_level, in: [Silver, Gold]}
  - name: has_points
    rule: {trait: points_available, gte: 15}
  - name: demoted_soon
    rule: {trait: demotion_due, eq: true}
""", encoding="utf-8")
    _json(monkeypatch, capsys, "segment", "apply", str(tmp_path / "s.yaml"), role="marketer")
    later = (T0 + dt.timedelta(days=20)).isoformat()
    refreshed = {r["name"]: r for r in _json(monkeypatch, capsys, "segment", "refresh", "--now", later,
                                                 role="marketer")["segments"]}
    assert refreshed["silver_or_more"]["members"] == 1 and refreshed["has_points"]["members"] == 2
    assert refreshed["demoted_soon"]["members"] == 0
    # a year on, ann's order leaves the window: her review is a month away and would demote her
    _json(monkeypatch, capsys, "loyalty", "run", "--now", (T0 + dt.timedelta(days=340)).isoformat())
    again = {r["name"]: r for r in _json(monkeypatch, capsys, "segment", "refresh", "--now",
                                             (T0 + dt.timedelta(days=340)).isoformat(), role="marketer")["segments"]}
    assert again["demoted_soon"]["members"] == 1 and again["demoted_soon"]["mode"] == "full"
    out = tmp_path / "m.csv"
    _json(monkeypatch, capsys, "segment", "members", "demoted_soon", "--out", str(out), "--trait", "loyalty_level",
          "--trait", "level_review_at", role="marketer")
    assert "Silver" in out.read_text(encoding="utf-8")
