"""What activation did, in aggregates only (L1): segment sizes and their last changes, and each
journey's funnel by group with sends by channel and skips by reason. For the report and the console."""

from __future__ import annotations

import ibis

from flywheel.activate.funnel import funnel


def activation_summary(wh) -> dict:
    """`{"segments": [{name, members, entered, exited, refreshed_at, mode}], "journeys": [{name, status,
    groups, sent, skipped, deferred, failed}]}`; empty lists before anything was applied."""
    return {"segments": segments_summary(wh), "journeys": journeys_summary(wh)}


def segments_summary(wh) -> list[dict]:
    """Each segment's size and its last refresh (what the segment list shows)."""
    from flywheel.activate.segments import stored_segments

    segments = []
    names = sorted(stored_segments(wh))
    if names:
        m = wh.table("segment_members")
        sizes = {r["segment"]: int(r["n"]) for r in wh.fetch(m.group_by("segment").agg(n=m.count())).to_pylist()}
        r = wh.table("segment_refreshes")
        latest = r.mutate(rank=ibis.row_number().over(group_by=r.segment, order_by=ibis.desc(r.now)))
        last = {row["segment"]: row for row in wh.fetch(latest.filter(latest.rank == 0).select(
            "segment", "now", "mode", "entered", "exited")).to_pylist()}
        for name in names:
            done = last.get(name) or {}
            segments.append({"name": name, "members": sizes.get(name, 0), "entered": done.get("entered"),
                             "exited": done.get("exited"), "refreshed_at": done.get("now"), "mode": done.get("mode")})
    return segments


def journeys_summary(wh) -> list[dict]:
    """Each journey's funnel by group, sends by channel, skips and deferrals by reason."""
    from flywheel.activate.running import stored_journeys

    journeys = []
    for name, (journey, status) in sorted(stored_journeys(wh).items()):
        a = wh.table("journey_actions")
        mine = a.filter(a.journey == name)
        counts = wh.fetch(mine.group_by(["status", "channel", "reason"]).agg(n=mine.count())).to_pylist()
        by = {"sent": {}, "skipped": {}, "failed": {}, "deferred": {}}
        for c in counts:
            n = int(c["n"])
            if c["status"] == "sent":
                by["sent"][c["channel"]] = by["sent"].get(c["channel"], 0) + n
            elif c["status"] in ("skipped", "failed"):
                key = c["reason"] or c["status"]
                by[c["status"]][key] = by[c["status"]].get(key, 0) + n
            elif c["status"] == "planned" and c["reason"]:
                by["deferred"][c["reason"]] = by["deferred"].get(c["reason"], 0) + n
        journeys.append({"name": name, "status": status, "description": journey.description,
                         "groups": funnel(wh, journey), **by})
    return journeys
