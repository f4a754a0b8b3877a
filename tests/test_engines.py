"""The same ingestion + summary pipeline gives identical results on DuckDB and on Spark."""

from pathlib import Path

import pytest

from flywheel.collect import ingest_paths
from flywheel.collect.summary import summarize
from flywheel.schema import TABLES

FIXTURES = Path(__file__).parent / "collect" / "fixtures"
COMPARED = [t.name for t in TABLES if t.name not in ("ingest_runs",)]
RANDOM = {"salt", "created_at"}
"""Columns random or timed by design (account_keys' salts); every other value must be equal."""


def _content(wh, name):
    """Rows as sorted tuples without run ids (which differ by design)."""
    t = wh.table(name)
    cols = [c for c in t.columns if c != "run_id" and not (name == "account_keys" and c in RANDOM)]
    rows = wh.sealer.unseal(name, wh.fetch(t)).select(cols).to_pylist()  # ciphertexts differ by design
    return sorted(tuple(str(r[c]) for c in cols) for r in rows)


def _files():
    return sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".csv", ".tsv", ".jsonl") and not p.name.startswith("crm_"))


@pytest.mark.spark
def test_ingest_and_summary_identical_on_duckdb_and_spark(warehouse, spark_warehouse):
    files = _files()
    assert files
    crm = FIXTURES / "other" / "crm_orders.csv", FIXTURES / "other" / "crm_orders.yaml"
    duck = ingest_paths(warehouse, files).as_json(), ingest_paths(warehouse, [crm[0]], mapping=crm[1]).as_json()
    spark = (ingest_paths(spark_warehouse, files).as_json(),
             ingest_paths(spark_warehouse, [crm[0]], mapping=crm[1]).as_json())
    assert duck == spark
    assert duck[0]["updated"] > 0, "the later exports must exercise order updates on both engines"
    for name in COMPARED:
        assert _content(warehouse, name) == _content(spark_warehouse, name), name
    s_duck, s_spark = summarize(warehouse), summarize(spark_warehouse)
    assert s_duck.totals == s_spark.totals
    assert s_duck.monthly == s_spark.monthly
    assert s_duck.repeat == s_spark.repeat
    assert s_duck.volume == s_spark.volume
    assert s_duck.quarantine == s_spark.quarantine
    again = ingest_paths(spark_warehouse, files)
    assert again.total("loaded") == 0


@pytest.mark.spark
def test_a_spark_warehouse_keeps_its_tables_between_runs(tmp_path):
    """Each `flywheel --engine spark` call is a new Spark session: the catalog must persist, and the
    JVM's log stays in the warehouse's `_spark/spark.log`, out of the terminal and of `--json`."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, FLYWHEEL_ENGINE="spark", FLYWHEEL_DB=str(tmp_path / "wh"))
    fixture = str(FIXTURES / "shopify" / "orders_export.csv")
    runs = [subprocess.run([sys.executable, "-m", "flywheel", "--json", "ingest", fixture], env=env, cwd=tmp_path,
                           capture_output=True, text=True) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr[-2000:]
    first, second = (json.loads(r.stdout) for r in runs)
    assert first["loaded"] == 3 and second["files"][0]["already_applied"]
    assert not (tmp_path / "spark-warehouse").exists() and not (tmp_path / "metastore_db").exists()
    for run in runs:  # nothing the JVM prints reaches the terminal: no log lines, no stage bars
        assert not any(word in run.stderr for word in ("WARN", "log4j", "[Stage", "WARNING")), run.stderr[-2000:]
    assert (tmp_path / "wh" / "_spark" / "spark.log").stat().st_size > 0, "the JVM says something at start"
