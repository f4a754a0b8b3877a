"""What a pipeline run did: each stage's time, peak memory and summary, kept in `pipeline_runs`."""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import threading
from dataclasses import dataclass, field
from typing import Any


def rss_bytes() -> int:
    """The process's resident set now (Linux `/proc`; elsewhere the lifetime peak)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Samples the resident set every `interval` s on a thread; `peak` is the largest seen.

    `ru_maxrss` is a peak over the process's whole life, so it cannot tell one stage from the one
    before it; sampling can. Memory of a Spark JVM is not counted (it is another process).
    """

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="peak-memory", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


@dataclass
class StageRecord:
    stage: str
    started_at: dt.datetime
    seconds: float
    peak_rss_bytes: int
    status: str
    summary: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"stage": self.stage, "started_at": self.started_at.isoformat(), "seconds": round(self.seconds, 3),
                "peak_rss_mb": round(self.peak_rss_bytes / 2**20, 1), "status": self.status}


@dataclass
class RunRecord:
    """One run of a pipeline: its id, name and stages in order (a failed stage is the last)."""

    run_id: str
    pipeline: str
    started_at: dt.datetime
    stages: list[StageRecord] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.stages)

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "pipeline": self.pipeline, "started_at": self.started_at.isoformat(),
                "seconds": round(self.seconds, 3), "ok": self.ok, "stages": [s.as_dict() for s in self.stages]}

    def rows(self, engine: str) -> list[dict]:
        """The run as `pipeline_runs` rows, one per stage."""
        return [{"run_id": self.run_id, "pipeline": self.pipeline, "seq": i, "stage": s.stage,
                 "started_at": s.started_at, "seconds": s.seconds, "peak_rss_bytes": s.peak_rss_bytes,
                 "status": s.status, "engine": engine,
                 "summary": json.dumps(s.summary, ensure_ascii=False, default=str, sort_keys=True)}
                for i, s in enumerate(self.stages, 1)]
