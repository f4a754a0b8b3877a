"""A segment is one Ibis expression: the same members on DuckDB and Spark, full and incremental."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from test_segments import T0, _apply, _events, _gate, _orders, _track

from flywheel.activate import load_segment_files, refresh_segments
from flywheel.activate.segments import apply_segments
from flywheel.collect import ingest_paths
from flywheel.warehouse import account_persons

pytestmark = [pytest.mark.spark, pytest.mark.slow]
MORE = """
segments:
  - name: gift_pairs
    rule: {performed: {event: Product Viewed, within_days: 30, where: {qty: 2, gift: true}}}
  - name: sampled
    rule: {random: {percent: 50, salt: s1}}
"""


def _scenario(wh, tmp_path: Path) -> list[dict]:
    users = [f"u{i}" for i in range(16)]
    events = [_track(u, "Product Viewed", T0 + dt.timedelta(hours=7 * i), i, plan="gold" if i % 3 else "free",
                     qty=i % 4, gift=i % 2 == 0) for i, u in enumerate(users)]
    events += [_track(u, "Product Viewed", T0 + dt.timedelta(days=2, hours=i), 100 + i) for i, u in enumerate(users[:6])]
    events += [_track(u, "Community Opened", T0 + dt.timedelta(days=i % 5), 200 + i) for i, u in enumerate(users[::2])]
    ingest_paths(wh, [_events(tmp_path / "e.jsonl", events),
                      _orders(tmp_path / "o.csv", [(1000 + i, f"u{i}@example.com", T0 - dt.timedelta(days=3 * i),
                                                     [5000, 12000, 30000][i % 3]) for i in range(10)])])
    _apply(wh, tmp_path)
    (tmp_path / "more.yaml").write_text(MORE, encoding="utf-8")
    with _gate(wh) as gate:
        apply_segments(gate, load_segment_files([tmp_path / "more.yaml"]))
    keys = {r["person_id"]: r["account_key"] for r in wh.fetch(account_persons(wh)).to_pylist()}
    seen = []
    for days in (3, 9):  # the first refresh is full, the second incremental (the clock moved windows)
        refresh_segments(wh, T0 + dt.timedelta(days=days))
        m = wh.table("segment_members")
        members = sorted((r["segment"], keys[r["person_id"]], r["entered_at"])
                         for r in wh.fetch(m.select("segment", "person_id", "entered_at")).to_pylist())
        c = wh.table("segment_changes")
        changes = sorted((r["segment"], keys[r["person_id"]], r["change"], r["reason"], r["at"])
                         for r in wh.fetch(c.select("segment", "person_id", "change", "reason", "at")).to_pylist())
        modes = sorted(wh.fetch(wh.table("segment_refreshes").select("segment", "mode")).to_pylist(),
                       key=lambda r: (r["segment"], r["mode"]))
        seen.append({"members": members, "changes": changes, "modes": modes})
    return seen


def test_segment_membership_agrees_on_duckdb_and_spark(warehouse, spark_warehouse, tmp_path):
    (tmp_path / "duck").mkdir()
    (tmp_path / "spark").mkdir()
    duck = _scenario(warehouse, tmp_path / "duck")
    spark = _scenario(spark_warehouse, tmp_path / "spark")
    assert duck == spark
    names = {row[0] for row in duck[0]["members"] + duck[1]["members"]}
    assert {"quiet_community", "browsing", "spenders", "quiet_spenders", "gift_pairs", "sampled"} <= names, names
    assert duck[0]["members"] != duck[1]["members"], "the clock moved people in and out"
    assert any(r["mode"] == "incremental" for r in duck[1]["modes"])
