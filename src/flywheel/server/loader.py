"""From spool to warehouse: closed segments applied with `ingest_file`, then deleted.

The warehouse is opened for each load cycle and closed after it, so other processes (`flywheel
events stats`, `flywheel ingest`) can use it between cycles while the server runs; when another
process holds DuckDB's writer lock, the cycle waits and tries again instead of failing.

Exactly once: a segment is one `.jsonl` file applied atomically; the `events` table keeps one row per
`messageId`, and ingestion recognises a file it already applied by checksum. So a crash anywhere —
before the commit, after it but before the delete — only means the segment is applied again, and
nothing lands twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path

from flywheel.collect import ingest_file
from flywheel.config import Settings
from flywheel.server.loadworker import apply_once
from flywheel.server.spool import (
    Spool,
    SpoolLock,
    close_leftovers,
    closed_segments,
    spool_dir,
)
from flywheel.warehouse import Warehouse
from flywheel.warehouse.store import is_lock_conflict, open_when_free  # noqa: F401 - named here by the server modules

log = logging.getLogger(__name__)

DEDUPE_DAYS = 7


def apply_segments(wh: Warehouse, directory: Path) -> tuple[int, int]:
    """Apply every closed segment, oldest first; returns the events newly stored and quarantined.

    Call with the warehouse open: DuckDB's one-writer lock is what keeps two processes (a server's
    loader and `flywheel events stats` after a crash) from applying the same segment at once."""
    loaded = quarantined = 0
    for path in closed_segments(directory):
        report = ingest_file(wh, path, source="segment")
        loaded += report.loaded
        quarantined += report.quarantined
        if report.quarantined:
            log.warning("%s: %d spooled lines quarantined: %s", path.name, report.quarantined,
                        report.quarantine_reasons)
        path.unlink(missing_ok=True)
    return loaded, quarantined


def recover(settings: Settings) -> int:
    """Load what a stopped or crashed server left in the spool; a no-op when there is no spool.

    Raises `SpoolBusyError` while a server holds the spool.
    """
    directory = spool_dir(settings.db_path)
    if not directory.exists():
        return 0
    lock = SpoolLock(directory)
    try:
        close_leftovers(directory)
        if not closed_segments(directory):
            return 0
        with open_when_free(settings) as wh:
            return apply_segments(wh, directory)[0]
    finally:
        lock.release()


def recent_message_ids(wh: Warehouse, days: int = DEDUPE_DAYS) -> list[str]:
    """messageIds stored in the last `days` days: the seed of the server's in-memory dedupe index."""
    events = wh.table("events")
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    recent = events.filter(events.received_at >= since).select("message_id")
    return wh.fetch(recent).column("message_id").to_pylist()


class Loader:
    """A background thread: every `interval` seconds, rotate the spool and apply closed segments.

    `apply(wait)` does one load cycle — in this process (`apply_once`, the default) or in a
    `LoadWorker` process (what `flywheel serve` uses) — and reports `{"loaded", "quarantined"}` or
    `{"error": "busy"|"failed"}`. A busy warehouse (another process has it) just means a later cycle.
    """

    def __init__(self, settings: Settings, spool: Spool, interval: float = 1.0, apply=None):
        self.settings, self.spool, self.interval = settings, spool, interval
        self.apply = apply or (lambda wait: apply_once(settings, wait))
        self.loaded = self.quarantined = self.failures = self.lock_waits = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spool-loader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def load_now(self, timeout: float = 60.0) -> None:
        """Rotate and apply at once, waiting until done (tests, shutdown)."""
        self._idle.clear()
        self._wake.set()
        self._idle.wait(timeout)

    def stop(self) -> None:
        """Stop after one last rotation and load (waiting up to a minute for a busy warehouse)."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self.interval)
                self._wake.clear()
                stopping = self._stop.is_set()
                self._cycle(wait=60.0 if stopping else 0.5)
                self._idle.set()
                if stopping:
                    return
        finally:
            close = getattr(self.apply, "close", None)
            if close:
                close()

    def _cycle(self, wait: float) -> None:
        try:
            self.spool.rotate()
            if not closed_segments(self.spool.directory):
                return
            result = self.apply(wait)
        except Exception:
            log.exception("loading the spool failed; segments are kept and retried")
            result = {"error": "failed"}
        if result.get("error") == "busy":
            self.lock_waits += 1
        elif result.get("error"):
            self.failures += 1
        else:
            self.loaded += result["loaded"]
            self.quarantined += result["quarantined"]
