"""Ingestion guarantees around the adapters: clear errors for paths, mappings and directories, schema
versions, restated reports. The contract each adapter passes (atomic files, lineage, quarantine, applied
once) runs over every registered adapter in `test_adapter_contract.py`."""

from pathlib import Path

import pytest

from flywheel.collect import ingest_paths
from flywheel.errors import InputError

SHOPIFY = Path(__file__).parent / "fixtures" / "shopify" / "orders_export.csv"


def test_unreadable_and_missing_paths_are_one_line_errors(warehouse, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        ingest_paths(warehouse, [tmp_path / "missing.csv"])
    bad = tmp_path / "bin.csv"
    bad.write_bytes(b"\xff\xfe\x00\x81\x00garbage\x80\x81")
    with pytest.raises(InputError):
        ingest_paths(warehouse, [bad])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no files"):
        ingest_paths(warehouse, [empty])


def test_schema_version_is_recorded_and_migration_is_idempotent(warehouse):
    from flywheel.schema import SCHEMA_VERSION

    assert warehouse.version == SCHEMA_VERSION
    assert warehouse.migrate() == SCHEMA_VERSION
    assert warehouse.con.table("schema_version").count().execute() == SCHEMA_VERSION


def test_the_same_file_read_with_another_mapping_is_applied_again(warehouse, tmp_path):
    fixtures = Path(__file__).parent / "fixtures" / "other"
    first = ingest_paths(warehouse, [fixtures / "crm_orders.csv"], mapping=fixtures / "crm_orders.yaml").files[0]
    assert not first.already_applied
    again = ingest_paths(warehouse, [fixtures / "crm_orders.csv"], mapping=fixtures / "crm_orders.yaml").files[0]
    assert again.already_applied
    with pytest.raises(InputError):
        ingest_paths(warehouse, [fixtures / "crm_orders.csv"], mapping=fixtures / "crm_orders_bad_header.yaml")


def test_json_lines_in_a_txt_file_are_read_as_events(warehouse, tmp_path):
    events = (Path(__file__).parent / "fixtures" / "other" / "events.jsonl").read_bytes()
    (tmp_path / "events.txt").write_bytes(events)
    assert ingest_paths(warehouse, [tmp_path / "events.txt"]).files[0].adapter == "segment"


def test_a_restated_spend_report_replaces_the_days_it_restates(warehouse, tmp_path):
    head = "date,channel,campaign_id,campaign_name,spend,impressions,clicks\n"
    (tmp_path / "a.csv").write_text(head + "2024-05-01,douyin_ads,DO1,x,100.00,10,1\n2024-05-02,douyin_ads,DO1,x,50,5,1\n")
    (tmp_path / "b.csv").write_text(head + "2024-05-02,douyin_ads,DO1,x,40.00,5,1\n")
    ingest_paths(warehouse, [tmp_path / "a.csv"])
    f = ingest_paths(warehouse, [tmp_path / "b.csv"]).files[0]
    assert (f.loaded, f.updated, f.duplicates) == (0, 1, 0)
    spend = sorted((str(r["day"]), r["spend_cents"]) for r in warehouse.fetch("campaign_spend").to_pylist())
    assert spend == [("2024-05-01", 10000), ("2024-05-02", 4000)]


def test_files_a_directory_holds_besides_exports_are_reported_as_skipped_not_silently_ignored(warehouse, tmp_path):
    import shutil

    from flywheel.collect import GROUND_TRUTH_MARKER

    (tmp_path / "exports" / "truth").mkdir(parents=True)
    shutil.copy(SHOPIFY, tmp_path / "exports" / "orders.csv")
    (tmp_path / "exports" / "notes.md").write_text("read me")
    (tmp_path / "exports" / "truth" / GROUND_TRUTH_MARKER).write_text("")
    (tmp_path / "exports" / "truth" / "persons.csv").write_text("person_id\nP1\n")
    report = ingest_paths(warehouse, [tmp_path / "exports"])
    assert [Path(f.path).name for f in report.files] == ["orders.csv"]
    skipped = {Path(s["path"]).name: s["reason"] for s in report.as_json()["skipped"]}
    assert set(skipped) == {"notes.md", "persons.csv", GROUND_TRUTH_MARKER}
    assert "not an export file" in skipped["notes.md"] and "ground truth" in skipped["persons.csv"]
