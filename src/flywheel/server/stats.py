"""Stored events counted by type and source — after loading whatever a stopped server left spooled."""

from __future__ import annotations

from flywheel.config import Settings
from flywheel.server.spool import SpoolBusyError, spool_dir


def event_stats(settings: Settings) -> dict:
    """`{"total": N, "by_type": {...}, "by_source": {...}}` over the warehouse `events` table.

    Leftover spool segments (a server killed with -9) are loaded first, so the figures are final.
    While a server runs it owns the spool and loads it itself: the figures then leave out what was
    acknowledged since its last load cycle (at most `--load-interval` seconds' worth). The warehouse
    is opened between the server's load cycles, waiting for one to finish if needed. With nothing
    spooled the counts are read without the query layer (`warehouse.glance`), in well under a second.
    """
    if _spooled(settings):
        from flywheel.server.loader import recover

        try:
            recover(settings)
        except SpoolBusyError:
            pass
    counts = _quick_counts(settings)
    if counts is None:
        counts = _counts(settings)
    types, sources = counts["type"], counts["source"]
    return {"total": sum(types.values()), "by_type": types, "by_source": sources}


def _spooled(settings: Settings) -> bool:
    directory = spool_dir(settings.db_path)
    return directory.exists() and any(p.name != "lock" for p in directory.iterdir())


def _quick_counts(settings: Settings, wait: float = 30.0) -> dict | None:
    import time

    from flywheel.warehouse.glance import grouped_counts

    deadline, pause = time.monotonic() + wait, 0.05
    while True:
        try:
            return grouped_counts(settings, "events", ["type", "source"])
        except Exception as e:
            from flywheel.server.loader import is_lock_conflict

            if not is_lock_conflict(e) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def _counts(settings: Settings) -> dict:
    from flywheel.server.loader import open_when_free

    with open_when_free(settings) as wh:
        events = wh.table("events")
        counts = {}
        for column in ("type", "source"):
            rows = wh.fetch(events.group_by(column).agg(n=events.count())).to_pylist()
            counts[column] = {r[column]: r["n"] for r in sorted(rows, key=lambda r: (-r["n"], str(r[column])))}
    return counts
