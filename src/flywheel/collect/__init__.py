"""Collect: load export files and events into the canonical tables, rejecting bad input with reasons."""

from flywheel.collect.adapters import REGISTRY, Adapter, known, register
from flywheel.collect.ingest import (
    GROUND_TRUTH_MARKER,
    FileReport,
    IngestReport,
    ingest_file,
    ingest_paths,
)
from flywheel.collect.reading import decode

__all__ = ["GROUND_TRUTH_MARKER", "REGISTRY", "Adapter", "FileReport", "IngestReport", "decode", "ingest_file", "ingest_paths",
           "known", "register"]
