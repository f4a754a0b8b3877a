"""`flywheel identity …` contracts: --json prints one object, export writes the documented columns,
errors are one line."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "collect" / "fixtures"


def flywheel(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, FLYWHEEL_DB=str(tmp_path / "w.duckdb"), FLYWHEEL_KEY_FILE=str(tmp_path / "k"))
    return subprocess.run([sys.executable, "-m", "flywheel", *args], capture_output=True, text=True, env=env)


def test_resolve_stats_explain_export(tmp_path):
    assert flywheel(tmp_path, "ingest", str(FIXTURES / "shopify"), str(FIXTURES / "other" / "wecom_contacts.csv"),
                    str(FIXTURES / "marketplaces")).returncode == 0
    res = flywheel(tmp_path, "--json", "identity", "resolve", "--no-match")
    assert res.returncode == 0, res.stderr
    run = json.loads(res.stdout)
    assert set(run) >= {"resolution_id", "mode", "accounts", "persons", "new_persons", "merges", "links",
                        "refusals", "probabilistic_links", "seconds"}
    assert run["mode"] == "full" and run["persons"] < run["accounts"]

    stats = json.loads(flywheel(tmp_path, "--json", "identity", "stats").stdout)
    assert stats["accounts"] == run["accounts"] and stats["persons"] == run["persons"]
    assert sum(stats["cluster_sizes"].values()) == stats["persons"]

    out = tmp_path / "accounts.csv"
    res = flywheel(tmp_path, "--json", "identity", "export", "--of", "accounts", "--out", str(out))
    assert json.loads(res.stdout)["rows"] == run["accounts"]
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["source", "account_key", "person_id"]
    orders = tmp_path / "orders.csv"
    flywheel(tmp_path, "identity", "export", "--of", "orders", "--out", str(orders))
    with open(orders, newline="", encoding="utf-8") as f:
        order_rows = list(csv.DictReader(f))
    assert list(order_rows[0]) == ["source", "order_id", "person_id"]
    assert {r["person_id"] for r in order_rows} <= {r["person_id"] for r in rows}

    biggest = stats["largest_cluster"]["person_id"]
    story = json.loads(flywheel(tmp_path, "--json", "identity", "explain", biggest).stdout)
    assert story["person_id"] == biggest and len(story["accounts"]) == stats["largest_cluster"]["accounts"]
    assert story["links"], "a person of several accounts is explained by at least one link"
    text = flywheel(tmp_path, "identity", "explain", biggest)
    assert text.returncode == 0 and "Links" in text.stdout


def test_unknown_person_is_a_one_line_error(tmp_path):
    res = flywheel(tmp_path, "identity", "explain", "p_nobody")
    assert res.returncode == 1 and res.stderr.strip().count("\n") == 0
    assert "No person 'p_nobody'" in res.stderr


def test_bad_rules_file_names_the_problem(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("types:\n  - {id_type: phone, limit: 0}\n")
    res = flywheel(tmp_path, "identity", "resolve", "--rules", str(rules))
    assert res.returncode == 1
    assert "types[0] (phone) limit must be a whole number ≥ 1. Got 0." in res.stderr
