"""One contract every registered adapter passes, on a real export of its format with bad rows in it.

- it recognises its own export, and no other adapter claims that header;
- every input line yields canonical rows or a row rejection, never both and never nothing;
- canonical rows fit the catalog: only catalog fields, required ones filled, UTC times, integer
  cents, order and consent statuses from the shared vocabulary;
- every quarantine entry names the file, a line of it, the field as the file spells it, and a reason;
- lineage: the run records the file's checksum and counts, and every row it wrote carries its run id;
- re-ingesting the file changes nothing; the same rows in another file add nothing;
- a crash mid-file leaves no table touched, and a re-run applies the whole file.

A new adapter must add its export to `EXPORTS` (the registry test fails until it does).
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from flywheel.collect import REGISTRY, ingest_file
from flywheel.collect.adapters import ReadContext
from flywheel.collect.ingest import TABLE_ORDER, choose_adapter, load_mapping
from flywheel.collect.reading import clean_header, decode, header_of
from flywheel.identifiers import IdentifierHasher
from flywheel.schema import table as catalog_table
from flywheel.schema.catalog import TS
from flywheel.schema.orders import ORDER_STATUSES
from flywheel.warehouse import LINE, Warehouse

FIXTURES = Path(__file__).parent / "fixtures"
CONSENT_STATUSES = ("granted", "denied", "withdrawn")
VOCABULARY = {("orders", "status"): ORDER_STATUSES, ("consents", "status"): CONSENT_STATUSES}
LINEAGE = ("quarantine", "ingest_runs")


@dataclass(frozen=True)
class Export:
    path: str
    encoding: str = "utf-8"
    """How the platform writes the file (the fixture is kept in UTF-8)."""
    mapping: str | None = None

    def write(self, directory: Path) -> Path:
        source = FIXTURES / self.path
        target = directory / source.name
        target.write_bytes(source.read_text(encoding="utf-8").encode(self.encoding))
        return target

    def mapping_spec(self) -> dict | None:
        return load_mapping(FIXTURES / self.mapping) if self.mapping else None


EXPORTS = {
    "shopify": Export("shopify/orders_export.csv"),
    "taobao": Export("marketplaces/taobao_orders.csv", "gb18030"),
    "jd": Export("marketplaces/jd_orders.csv", "utf-8-sig"),
    "douyin": Export("marketplaces/douyin_orders.csv"),
    "wecom": Export("other/wecom_contacts.csv"),
    "ad_spend": Export("other/ad_spend.csv"),
    "segment": Export("other/events.jsonl"),
    "generic": Export("other/crm_orders.csv", mapping="other/crm_orders.yaml"),
}
ADAPTERS = sorted(EXPORTS)


def test_every_registered_adapter_has_an_export_in_the_contract():
    assert set(EXPORTS) == set(REGISTRY)


def header(path: Path) -> list[str] | None:
    if path.suffix == ".jsonl":
        return None
    return header_of(decode(path.read_bytes())[0])[0]


def read(name: str, path: Path):
    """The adapter chosen for the file (as `ingest` chooses it), its raw table and its batch."""
    export = EXPORTS[name]
    adapter, source = choose_adapter(path, header(path), "auto", export.mapping_spec())
    raw = adapter.parse(path, path.read_bytes())
    ctx = ReadContext(IdentifierHasher(secrets.token_bytes(32)), source=source, mapping=export.mapping_spec())
    return adapter, raw, adapter.read(raw, ctx)


def ingest(wh: Warehouse, name: str, path: Path):
    return ingest_file(wh, path, mapping=EXPORTS[name].mapping_spec())


def counts(wh: Warehouse) -> dict[str, int]:
    return {t: wh.count(t) for t in (*TABLE_ORDER, *LINEAGE)}


@pytest.mark.parametrize("name", ADAPTERS)
def test_reading_recognises_the_export_accounts_for_every_line_and_writes_catalog_rows(name, tmp_path):
    path = EXPORTS[name].write(tmp_path)
    found = header(path)
    if found is not None:
        assert [a for a, adapter in REGISTRY.items() if adapter.matches(found)] == \
            ([] if name == "generic" else [name]), "detection must be unambiguous (generic needs --mapping)"
    adapter, raw, batch = read(name, path)
    assert adapter.name == name

    rejected = {int(line) for line in raw.lines[batch.problems.rejected]} | {r.line for r in raw.rejected}
    assert rejected, "the export must hold bad rows for the contract to check their quarantine"
    landed = set()
    for table, rows in batch.tables.items():
        lines = set(rows.column(LINE).to_pylist())
        assert not lines & rejected, f"{table}: rows of rejected lines {sorted(lines & rejected)} would land"
        landed |= lines
    every = {int(line) for line in raw.lines} | {r.line for r in raw.rejected}
    assert landed | rejected == every, f"lines yielding nothing: {sorted(every - landed - rejected)}"

    for table, rows in batch.tables.items():
        declared = {f.name: f for f in catalog_table(table).fields}
        assert set(rows.column_names) - {LINE} <= set(declared), f"{table}: fields not in the catalog"
        for column in rows.column_names:
            if column == LINE:
                continue
            f, values = declared[column], rows.column(column)
            if not f.nullable and column != "run_id":
                assert values.null_count == 0, f"{table}.{column} is required but empty"
            if f.type == TS:
                assert pa.types.is_timestamp(values.type) and values.type.tz == "UTC", f"{table}.{column}"
            if column.endswith("_cents"):
                assert pa.types.is_integer(values.type), f"{table}.{column} must be integer cents"
            if (table, column) in VOCABULARY:
                unknown = set(pc.unique(values.drop_null()).to_pylist()) - set(VOCABULARY[table, column])
                assert not unknown, f"{table}.{column}: {unknown} are not in the vocabulary"


@pytest.mark.parametrize("name", ADAPTERS)
def test_ingest_quarantines_with_file_line_field_reason_records_lineage_and_applies_once(name, warehouse, tmp_path):
    path = EXPORTS[name].write(tmp_path)
    found = header(path)
    _, raw, _ = read(name, path)
    report = ingest(warehouse, name, path)
    assert report.adapter == name and not report.already_applied
    assert report.rows == report.loaded + report.updated + report.duplicates + report.quarantined
    assert report.loaded > 0 and report.quarantined > 0

    lines = {int(line) for line in raw.lines} | {r.line for r in raw.rejected}
    malformed = {r.line for r in raw.rejected}
    quarantine = warehouse.fetch("quarantine").to_pylist()
    rejected = {q["line"] for q in quarantine if q["action"] == "row_rejected"}
    assert len(rejected) == report.quarantined
    for q in quarantine:
        assert q["file"] == str(path) and q["line"] in lines and q["reason"], q
        assert q["run_id"] == report.run_id and q["action"] in ("row_rejected", "value_dropped"), q
        if q["field"] is None:
            assert q["line"] in malformed, f"only a malformed row may name no field: {q}"
        elif found is not None:
            assert clean_header(q["field"]) in found, f"{q['field']!r} is not a column of the file ({found})"

    [run] = warehouse.fetch("ingest_runs").to_pylist()
    assert run["run_id"] == report.run_id and run["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (run["rows"], run["loaded"], run["updated"], run["duplicates"], run["quarantined"]) == \
        (report.rows, report.loaded, report.updated, report.duplicates, report.quarantined)
    for table, n in counts(warehouse).items():
        if n and table not in LINEAGE and "run_id" in catalog_table(table).names:
            runs = set(warehouse.fetch(warehouse.table(table).select("run_id")).column("run_id").to_pylist())
            assert runs == {report.run_id}, table

    before = counts(warehouse)
    again = ingest(warehouse, name, path)
    assert again.already_applied and again.loaded == 0 and counts(warehouse) == before

    copy = tmp_path / "copy" / path.name  # the same rows, other bytes: a re-sent export
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes().rstrip(b"\n") + b"\n\n")
    other = ingest(warehouse, name, copy)
    assert not other.already_applied
    assert (other.loaded, other.updated, other.quarantined) == (0, 0, report.quarantined), other
    after = counts(warehouse)
    assert {t: n for t, n in after.items() if t not in LINEAGE} == {t: n for t, n in before.items() if t not in LINEAGE}


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_crash_mid_file_leaves_nothing_half_written_and_a_rerun_applies_it(name, warehouse, tmp_path, monkeypatch):
    path = EXPORTS[name].write(tmp_path)
    _, _, batch = read(name, path)
    writes = sum(1 for rows in batch.tables.values() if rows.num_rows)
    real, calls = Warehouse.insert_new, {"n": 0}

    def failing(self, table, rows):
        calls["n"] += 1
        if calls["n"] == writes:  # the last table: everything before it has been written
            raise KeyboardInterrupt("power cut")
        return real(self, table, rows)

    monkeypatch.setattr(Warehouse, "insert_new", failing)
    with pytest.raises(KeyboardInterrupt):
        ingest(warehouse, name, path)
    assert calls["n"] == writes and not any(counts(warehouse).values())
    monkeypatch.setattr(Warehouse, "insert_new", real)
    report = ingest(warehouse, name, path)
    assert not report.already_applied and report.loaded > 0
    with Warehouse.open(dataclasses.replace(warehouse.settings, db_path=tmp_path / "clean.duckdb")) as clean:
        ingest(clean, name, path)
        expected = counts(clean)
    assert counts(warehouse) == expected, "the re-run must apply the whole file, as into an empty warehouse"
