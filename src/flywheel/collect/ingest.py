"""Apply export files to the warehouse: detect, read, validate, write — once.

A file is applied atomically (one transaction on DuckDB); its lineage record (checksum, counts) is
written last. The same bytes applied again are recognised by checksum and change nothing; overlapping
exports are reduced to their new rows by natural keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from flywheel.collect.adapters import (
    REGISTRY,
    Adapter,
    ReadContext,
    adapter_named,
    detect,
)
from flywheel.collect.contacts import mark_refilled, refill_pending, write_contact_points
from flywheel.collect.reading import decode, header_of
from flywheel.collect.suppress import apply_suppressions, load_suppressor
from flywheel.collect.values import Problems
from flywheel.errors import InputError, UnknownFormatError
from flywheel.identifiers import IdentifierHasher
from flywheel.keys import load_or_create_key
from flywheel.warehouse import LINE, Warehouse

log = logging.getLogger(__name__)

INGESTIBLE = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson")
GROUND_TRUTH_MARKER = ".flywheel-truth"
"""A folder holding a file of this name is a simulator's ground truth, never a merchant's export."""
TABLE_ORDER = ("accounts", "identifiers", "contact_points", "products", "orders", "order_items", "events",
               "touchpoints", "campaigns", "campaign_spend", "referrals", "reviews", "consents")


ORDER_PROGRESSION = {"pending": 0, "paid": 1, "shipped": 2, "completed": 3, "partially_refunded": 4,
                     "refunded": 5, "cancelled": 5}
UPDATABLE: dict[str, tuple[list[str], dict[str, dict[str, int]], tuple[str, ...]]] = {
    "orders": (["status", "status_raw", "paid_at", "refund_cents"], {"status": ORDER_PROGRESSION},
               ("refund_cents",)),
    "order_items": (["refunded"], {}, ("refunded",)),
    "campaign_spend": (["spend_cents", "impressions", "clicks"], {}, ()),
}
"""Fields a later file may change (an order shipped or refunded, a spend report restated); everything
else is fixed at first sight."""


@dataclass
class FileReport:
    path: str
    source: str
    adapter: str
    rows: int = 0
    loaded: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    already_applied: bool = False
    contacts_refilled: int | None = None
    """For a file applied before contact points were kept: the contact points its re-ingest wrote."""
    run_id: str = ""
    quarantine_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestReport:
    files: list[FileReport]
    skipped: list[dict] = field(default_factory=list)
    """Files found in a given directory but not read, each with the reason."""

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def as_json(self) -> dict:
        return {
            "files": [
                {k: v for k, v in asdict(f).items()
                 if k in ("path", "source", "rows", "loaded", "updated", "duplicates", "quarantined")}
                | {"adapter": f.adapter, "already_applied": f.already_applied}
                | ({"contacts_refilled": f.contacts_refilled} if f.contacts_refilled is not None else {})
                for f in self.files
            ],
            **{k: self.total(k) for k in ("rows", "loaded", "updated", "duplicates", "quarantined")},
            "skipped": self.skipped,
        }


def expand(paths: Iterable[Path]) -> tuple[list[Path], list[dict]]:
    """Files to ingest and files passed over: given files are taken as they are; directories are
    searched for export files, and everything else found there is reported as skipped, with why."""
    out: list[Path] = []
    skipped: list[dict] = []
    for p in map(Path, paths):
        if p.is_dir():
            truth_dirs = [m.parent for m in p.rglob(GROUND_TRUTH_MARKER)]
            for f in sorted(f for f in p.rglob("*") if f.is_file()):
                if any(d in f.parents for d in truth_dirs):
                    skipped.append({"path": str(f), "reason": "ground truth written by `flywheel generate`"})
                elif f.suffix.lower() not in INGESTIBLE:
                    skipped.append({"path": str(f), "reason": f"not an export file ({', '.join(INGESTIBLE)})"})
                else:
                    out.append(f)
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or directory")
    return out, skipped


def read_context(wh: Warehouse, source: str | None = None, mapping: dict | None = None) -> ReadContext:
    key = load_or_create_key(wh.settings.key_file)
    return ReadContext(IdentifierHasher(key), wh.settings.timezone, wh.settings.currency, source, mapping)


def load_mapping(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        mapping = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise InputError(f"{path}: cannot read mapping: {e}") from None
    if not isinstance(mapping, dict) or "columns" not in mapping:
        raise InputError(f"{path}: a mapping needs a `columns:` section (see docs/connectors.md)")
    return mapping


def choose_adapter(path: Path, header: list[str] | None, source: str, mapping: dict | None) -> tuple[Adapter, str | None]:
    """The adapter for a file and the source override, from --source (adapter or source name) or the header."""
    if mapping is not None:
        return adapter_named("generic"), mapping.get("source")
    if source and source != "auto":
        if source in REGISTRY:
            adapter = REGISTRY[source]
            return adapter, source if source in adapter.sources else None
        for adapter in REGISTRY.values():
            if source in getattr(adapter, "sources", ()):
                return adapter, source
        raise UnknownFormatError(f"Unknown --source {source!r}. Known: {', '.join(REGISTRY)}.")
    for adapter in REGISTRY.values():
        if adapter.sniff_by_extension and (path.suffix.lower() in adapter.extensions or header is None):
            return adapter, None
    if header is None:
        raise UnknownFormatError("No adapter for this file.")
    return detect(header), None


def ingest_paths(wh: Warehouse, paths: Iterable[Path], source: str = "auto", mapping: Path | None = None,
                 progress: Callable[[Path, int, int], None] | None = None) -> IngestReport:
    files, skipped = expand(paths)
    if not files:
        raise InputError("no files to ingest" + (f" ({len(skipped)} skipped: {skipped[0]['reason']})" if skipped else ""))
    mapping_spec = load_mapping(mapping)
    reports = []
    for i, path in enumerate(files):
        if progress:
            progress(path, i, len(files))
        reports.append(ingest_file(wh, path, source, mapping_spec))
    if progress:
        progress(files[-1], len(files), len(files))
    return IngestReport(reports, skipped)


def ingest_file(wh: Warehouse, path: Path, source: str = "auto", mapping: dict | None = None) -> FileReport:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    sha = hashlib.sha256(data).hexdigest()
    adapter_obj, source_override = _pick(path, data, source, mapping)
    ctx = read_context(wh, source_override, mapping)
    label = str(path)
    applied_as = _applied_as(adapter_obj.name, source_override, mapping)
    previous = _previous_run(wh, sha, applied_as)
    if previous is not None:
        report = FileReport(label, previous["source"], adapter_obj.name, rows=previous["rows"], loaded=0,
                            duplicates=previous["rows"] - previous["quarantined"], quarantined=previous["quarantined"],
                            already_applied=True, run_id=previous["run_id"])
        if refill_pending(wh, previous["run_id"]):
            report.contacts_refilled = _refill_contacts(wh, path, data, adapter_obj, ctx, previous["run_id"])
        return report
    started = dt.datetime.now(dt.timezone.utc)
    raw, batch = _read(path, data, adapter_obj, ctx)
    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    problems = batch.problems or Problems(raw.num_rows)
    quarantine = problems.table(run_id, label, raw.lines)
    tables, suppressed, suppressed_rows = apply_suppressions(
        load_suppressor(wh, load_or_create_key(wh.settings.key_file)), batch.tables, run_id, label)
    quarantine = pa.concat_tables([quarantine, _malformed(raw, run_id, label)]
                                  + ([suppressed] if suppressed.num_rows else []))
    rejected_rows = int(problems.rejected.sum()) + len(raw.rejected) + len(suppressed_rows)
    rows = raw.num_rows + len(raw.rejected)
    new_lines: list[pa.Array] = []
    changed_lines: list[pa.Array] = []
    with wh.transaction():
        for name in TABLE_ORDER:
            t = tables.get(name)
            if t is None or t.num_rows == 0:
                continue
            t = t.append_column("run_id", pa.array([run_id] * t.num_rows, pa.string())) if "run_id" not in t.column_names else t
            if name == "contact_points":
                added, widened = write_contact_points(wh, t)
                new_lines.append(added), changed_lines.append(widened)
                continue
            if name in UPDATABLE:
                changed_lines.append(wh.update_changed(name, t, *UPDATABLE[name]))
            new_lines.append(wh.insert_new(name, _sorted(t)))
        wh.append("quarantine", quarantine)
        loaded_set = _distinct(new_lines)
        changed_set = _distinct(changed_lines)
        updated = int((~np.isin(changed_set, loaded_set, assume_unique=True)).sum()) if len(changed_set) else 0
        loaded = len(loaded_set)
        report = FileReport(label, batch.source, adapter_obj.name, rows=rows, loaded=loaded, updated=updated,
                            duplicates=rows - loaded - updated - rejected_rows, quarantined=rejected_rows,
                            run_id=run_id)
        wh.append("ingest_runs", pa.table({
            "run_id": [run_id], "path": [label], "file_sha256": [sha], "source": [batch.source],
            "adapter": [applied_as], "started_at": [started],
            "finished_at": [dt.datetime.now(dt.timezone.utc)], "rows": [rows], "loaded": [loaded], "updated": [updated],
            "duplicates": [report.duplicates], "quarantined": [rejected_rows],
        }))
    if quarantine.num_rows:
        reasons = pc.value_counts(quarantine.column("reason")).to_pylist()
        report.quarantine_reasons = {r["values"]: r["counts"] for r in reasons}
    log.info("%s: %d rows, %d loaded, %d duplicate, %d quarantined", label, rows, loaded,
             report.duplicates, rejected_rows)
    return report


def _read(path: Path, data: bytes, adapter_obj: Adapter, ctx: ReadContext) -> tuple:
    """The file's raw table and the adapter's canonical batch of it."""
    try:
        raw = adapter_obj.parse(Path(path), data)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    missing = adapter_obj.missing_required(raw.header) if adapter_obj.columns else []
    if missing:
        raise InputError(f"{path}: not a {adapter_obj.name} export: missing column(s) {', '.join(missing)}")
    return raw, adapter_obj.read(raw, ctx)


def _refill_contacts(wh: Warehouse, path: Path, data: bytes, adapter_obj: Adapter, ctx: ReadContext,
                     run_id: str) -> int:
    """Read a file applied before schema v5 again for its contact points only (see collect/contacts.py)."""
    _, batch = _read(path, data, adapter_obj, ctx)
    tables, _, _ = apply_suppressions(load_suppressor(wh, load_or_create_key(wh.settings.key_file)),
                                      batch.tables, run_id, str(path))  # all tables: they decide a row's fate
    t = tables.get("contact_points")
    written = 0
    with wh.transaction():
        if t is not None and t.num_rows:
            t = t.append_column("run_id", pa.array([run_id] * t.num_rows, pa.string()))
            added, widened = write_contact_points(wh, t)
            written = len(added) + len(widened)
        mark_refilled(wh, run_id, written)
    log.info("%s: applied before contact points were kept; %d contact point(s) filled", path, written)
    return written


def _pick(path: Path, data: bytes, source: str, mapping: dict | None) -> tuple[Adapter, str | None]:
    """The adapter for the file and the source it forces, from the header of its first 64 KiB."""
    header = None
    if Path(path).suffix.lower() not in (".jsonl", ".ndjson") and not data.lstrip()[:1] == b"{":
        head = data[: 1 << 16]
        if len(data) > len(head) and b"\n" in head:
            head = head[: head.rfind(b"\n") + 1]
        try:
            text, _ = decode(head)
        except InputError as e:
            raise InputError(f"{path}: {e}") from None
        header, _ = header_of(text)
    try:
        return choose_adapter(Path(path), header, source, mapping)
    except UnknownFormatError as e:
        raise UnknownFormatError(f"{path}: {e}") from None


def _applied_as(adapter: str, source: str | None, mapping: dict | None) -> str:
    """How a file was read, for lineage: the same bytes read another way are a different application."""
    name = adapter + (f"@{source}" if source else "")
    if mapping is not None:
        name += ":" + hashlib.sha256(json.dumps(mapping, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return name


def _previous_run(wh: Warehouse, sha: str, adapter: str) -> dict | None:
    runs = wh.table("ingest_runs")
    found = runs.filter((runs.file_sha256 == sha) & (runs.adapter == adapter)).limit(1).to_pyarrow().to_pylist()
    return found[0] if found else None


def _distinct(lines: list[pa.Array]) -> np.ndarray:
    """The distinct line numbers, in linear time (line numbers are small non-negative integers)."""
    arrays = [a.to_numpy() for a in lines if len(a)]
    if not arrays:
        return np.array([], np.int64)
    seen = np.zeros(max(int(a.max()) for a in arrays) + 1, dtype=bool)
    for a in arrays:
        seen[a] = True
    return np.flatnonzero(seen)


def _sorted(t: pa.Table) -> pa.Table:
    """Earliest first, so the first row kept per natural key carries the earliest first-seen time."""
    if "first_seen_at" in t.column_names:
        return t.sort_by([("first_seen_at", "ascending"), (LINE, "ascending")])
    return t


def _malformed(raw, run_id: str, label: str) -> pa.Table:
    n = len(raw.rejected)
    return pa.table({
        "run_id": [run_id] * n, "file": [label] * n, "line": [r.line for r in raw.rejected],
        "field": [None] * n, "value": [None] * n, "reason": [r.reason for r in raw.rejected],
        "action": ["row_rejected"] * n,
    }, schema=pa.schema([("run_id", pa.string()), ("file", pa.string()), ("line", pa.int64()),
                         ("field", pa.string()), ("value", pa.string()), ("reason", pa.string()),
                         ("action", pa.string())]))
