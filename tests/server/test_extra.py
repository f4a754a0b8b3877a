"""Unknown top-level fields are kept in `events.extra`; schema v2 adds the column to v1 warehouses."""

from __future__ import annotations

import datetime as dt
import json

import ibis
import pyarrow as pa
import pytest

from flywheel.collect import ingest_file
from flywheel.schema import SCHEMA_VERSION
from flywheel.schema import table as catalog_table
from flywheel.warehouse import Warehouse


def make_v1(wh: Warehouse) -> None:
    """Turn a fresh warehouse back into schema v1: `events` without `extra`, version 1 recorded."""
    v1 = ibis.schema({f.name: f.dtype for f in catalog_table("events").fields if f.name != "extra"})
    wh.con.drop_table("events")
    wh.con.create_table("events", schema=v1)
    wh.con.drop_table("schema_version")
    wh.con.create_table("schema_version", schema=ibis.schema({"version": "int64", "applied_at": "timestamp('UTC')"}))
    wh.con.insert("schema_version", pa.table({"version": [1], "applied_at": [dt.datetime.now(dt.timezone.utc)]}))


def extra_of(wh: Warehouse) -> dict:
    rows = wh.fetch(wh.table("events").select("message_id", "extra")).to_pylist()
    return {r["message_id"]: r["extra"] and json.loads(r["extra"]) for r in rows}


def test_v1_warehouse_gains_extra_and_files_fill_it(warehouse, tmp_path):
    make_v1(warehouse)
    assert "extra" not in warehouse.con.table("events").columns
    assert warehouse.migrate() == SCHEMA_VERSION
    assert list(warehouse.con.table("events").columns) == catalog_table("events").names
    lines = [{"type": "page", "userId": "u", "messageId": "p1", "name": "Home", "category": "Docs",
              "integrations": {"All": False}, "channel": "server", "email": "a@example.com",
              "timestamp": "2024-05-01T00:00:00Z"},
             {"type": "track", "userId": "u", "messageId": "t1", "event": "E", "timestamp": "2024-05-01T00:00:00Z"}]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(m) for m in lines))
    assert ingest_file(warehouse, path).loaded == 2
    assert extra_of(warehouse) == {"p1": {"category": "Docs", "integrations": {"All": False}, "channel": "server"},
                                   "t1": None}
    ids = warehouse.fetch(warehouse.table("identifiers")).to_pylist()
    assert any(r["id_type"] == "email" for r in ids), "a top-level e-mail becomes a hashed identifier"
    assert "a@example.com" not in json.dumps(warehouse.fetch(warehouse.table("events")).to_pylist(), default=str)


def test_server_keeps_unknown_fields_in_extra(live):
    body = {"batch": [{"type": "track", "userId": "u", "event": "E", "messageId": "x1", "category": "c",
                       "integrations": {"Mixpanel": False}, "myField": [1, 2]}], "writeKey": live.write_key}
    assert live.post("batch", body, auth=False).status_code == 200
    live.load()
    with Warehouse.open(live.settings) as wh:
        assert extra_of(wh) == {"x1": {"category": "c", "integrations": {"Mixpanel": False}, "myField": [1, 2]}}


@pytest.mark.spark
def test_spark_v1_warehouse_gains_extra(spark_warehouse):
    make_v1(spark_warehouse)
    assert spark_warehouse.migrate() == SCHEMA_VERSION
    assert list(spark_warehouse.con.table("events").columns) == catalog_table("events").names
    row = pa.table({"message_id": ["s1"], "type": ["track"], "source": ["web"], "extra": ['{"k": 1}']})
    spark_warehouse.append("events", row)
    assert extra_of(spark_warehouse) == {"s1": {"k": 1}}
