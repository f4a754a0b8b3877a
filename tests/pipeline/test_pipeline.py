"""The pipeline runs stages in order, reports progress, and records every stage — failures included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.config import load_settings
from flywheel.errors import InputError
from flywheel.pipeline import Stage, identity_stage, ingest_stage, report_stage, run_pipeline, value_stage
from flywheel.warehouse import Warehouse

FIXTURES = Path(__file__).parents[1] / "collect" / "fixtures"


def _stored(settings) -> list[dict]:
    with Warehouse.open(settings) as wh:
        return wh.fetch(wh.table("pipeline_runs").order_by(["run_id", "seq"])).to_pylist()


def test_stages_run_in_order_with_progress_and_a_stored_record(tmp_path):
    settings = load_settings()
    seen = []
    stages = [ingest_stage([FIXTURES / "shopify" / "orders_export.csv", FIXTURES / "other" / "events.jsonl"]),
              identity_stage(), value_stage(), report_stage(tmp_path / "r.html", "t")]
    record, results = run_pipeline("test", stages, settings,
                                   progress=lambda stage, text, done, total: seen.append((stage, text)))
    assert [s.stage for s in record.stages] == ["ingest", "identity", "value", "report"]
    assert record.ok and all(s.seconds > 0 and s.peak_rss_bytes > 10 * 2**20 for s in record.stages)
    assert [stage for stage, text in seen if text is None] == ["ingest", "identity", "value", "report"]
    firsts = list(dict.fromkeys(stage for stage, _ in seen))
    assert firsts == ["ingest", "identity", "value", "report"]
    assert (tmp_path / "r.html").exists() and results["identity"].persons > 0
    rows = _stored(settings)
    assert [(r["seq"], r["stage"], r["status"]) for r in rows] == [
        (1, "ingest", "ok"), (2, "identity", "ok"), (3, "value", "ok"), (4, "report", "ok")]
    assert {r["run_id"] for r in rows} == {record.run_id}
    assert json.loads(rows[0]["summary"])["loaded"] == record.stages[0].summary["loaded"] > 0
    assert record.as_dict()["stages"][2]["stage"] == "value"


def test_a_failing_stage_ends_the_run_and_is_recorded(tmp_path):
    settings = load_settings()

    def broken(context):
        context.warehouse
        raise InputError("no such thing")

    after = []
    stages = [ingest_stage([FIXTURES / "shopify" / "orders_export.csv"]), Stage("broken", "breaking", broken),
              Stage("after", "never", lambda context: after.append(1) or {})]
    with pytest.raises(InputError, match="no such thing"):
        run_pipeline("test", stages, settings)
    assert after == []
    rows = _stored(settings)
    assert [(r["stage"], r["status"]) for r in rows] == [("ingest", "ok"),
                                                         ("broken", "failed: InputError: no such thing")]


@pytest.mark.no_warehouse
def test_a_run_that_never_opens_the_warehouse_writes_nothing(tmp_path):
    settings = load_settings()
    record, _ = run_pipeline("test", [Stage("noop", "nothing", lambda context: {"n": 1})], settings)
    assert record.ok and record.stages[0].summary == {"n": 1}
    assert not Path(settings.db_path).exists()
