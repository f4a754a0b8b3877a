"""Stored events counted by type and source — after loading whatever a stopped server left spooled."""

from __future__ import annotations

from flywheel.config import Settings
from flywheel.server.loader import open_when_free, recover
from flywheel.server.spool import SpoolBusyError


def event_stats(settings: Settings) -> dict:
    """`{"total": N, "by_type": {...}, "by_source": {...}}` over the warehouse `events` table.

    Leftover spool segments (a server killed with -9) are loaded first, so the figures are final.
    While a server runs it owns the spool and loads it itself: the figures then leave out what was
    acknowledged since its last load cycle (at most `--load-interval` seconds' worth). The warehouse
    is opened between the server's load cycles, waiting for one to finish if needed.
    """
    try:
        recover(settings)
    except SpoolBusyError:
        pass
    with open_when_free(settings) as wh:
        events = wh.table("events")
        by_type = wh.fetch(events.group_by("type").agg(n=events.count())).to_pylist()
        by_source = wh.fetch(events.group_by("source").agg(n=events.count())).to_pylist()
    types = {r["type"]: r["n"] for r in sorted(by_type, key=lambda r: -r["n"])}
    sources = {r["source"]: r["n"] for r in sorted(by_source, key=lambda r: -r["n"])}
    return {"total": sum(types.values()), "by_type": types, "by_source": sources}
