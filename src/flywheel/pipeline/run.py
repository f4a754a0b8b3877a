"""Run stages in order with progress, timing and peak memory, and record the run.

A stage is a name, a label for progress displays and a function of the `RunContext`; it returns a
JSON-able summary and may leave richer results in `context.results` for the stages after it. The
warehouse is opened when a stage first asks for it and closed at the end. The run is recorded in
`pipeline_runs` (one row per stage) whether it succeeds or not; a failing stage ends the run and its
error propagates after the record is written.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flywheel.config import Settings
from flywheel.pipeline.record import PeakMemory, RunRecord, StageRecord

log = logging.getLogger(__name__)

Progress = Callable[[str, "str | None", "int | None", "int | None"], None]
"""`progress(stage, description, done, total)`; `total` None while unknown; a description of None
means the stage has finished."""


@dataclass(frozen=True)
class Stage:
    name: str
    label: str
    run: Callable[["RunContext"], dict]


class RunContext:
    """What stages share: settings, the warehouse (opened on first use), progress and results."""

    def __init__(self, settings: Settings, progress: Progress | None = None):
        self.settings = settings
        self.results: dict[str, Any] = {}
        self._progress = progress or (lambda stage, description, done, total: None)
        self._warehouse = None
        self.stage: Stage | None = None

    @property
    def warehouse(self):
        if self._warehouse is None:
            from flywheel.warehouse import Warehouse

            self._warehouse = Warehouse.open(self.settings)
        return self._warehouse

    def tick(self, done: int | None = None, total: int | None = None, description: str | None = None) -> None:
        stage = self.stage
        self._progress(stage.name, description or stage.label, done, total)

    def close(self) -> None:
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None


def run_pipeline(name: str, stages: Sequence[Stage], settings: Settings,
                 progress: Progress | None = None) -> tuple[RunRecord, dict[str, Any]]:
    """Run `stages` in order; returns the run record and the stages' results by stage name."""
    now = dt.datetime.now(dt.timezone.utc)
    record = RunRecord(now.strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6], name, now)
    context = RunContext(settings, progress)
    try:
        for stage in stages:
            context.stage = stage
            context.tick(0, None)
            started_at, started = dt.datetime.now(dt.timezone.utc), time.perf_counter()
            with PeakMemory() as memory:
                try:
                    summary = stage.run(context)
                except BaseException as exc:
                    record.stages.append(StageRecord(stage.name, started_at, time.perf_counter() - started,
                                                     memory.peak, f"failed: {type(exc).__name__}: {exc}"[:500]))
                    raise
            record.stages.append(StageRecord(stage.name, started_at, time.perf_counter() - started, memory.peak,
                                             "ok", summary or {}))
            context._progress(stage.name, None, None, None)
            log.info("%s: stage %s done in %.1f s", name, stage.name, record.stages[-1].seconds)
    finally:
        try:
            _store(context, record)
        finally:
            context.close()
    return record, context.results


def _store(context: RunContext, record: RunRecord) -> None:
    """Write the record if a stage opened the warehouse (a run that never reached it has no place)."""
    if context._warehouse is None or not record.stages:
        return
    import pyarrow as pa

    wh = context.warehouse
    rows = record.rows(wh.engine.name)
    wh.append("pipeline_runs", pa.Table.from_pylist(rows))
