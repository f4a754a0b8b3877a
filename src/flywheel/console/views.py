"""What each console page and API resource shows, computed once for both.

Every function takes the request's `Gate` (the key's actor on the warehouse): aggregates need only a
valid key; person-level views need `read.persons` and pass every value through the gate's
disclosure, so the HTML, the HTMX fragments, the JSON and the CSV of a view are the same masked
values. Views read the pipeline's pre-aggregated tables (`insight` rollups, segment members,
journey actions, attribution credits), never the raw events.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

import ibis

from flywheel.console.auth import ApiError
from flywheel.errors import InputError

MAX_LIMIT = 100
CURSOR = re.compile(r"[A-Za-z0-9_-]{1,400}")


def rollups_ready(wh) -> dict | None:
    from flywheel.insight import rollup_status

    return rollup_status(wh)


def overview_view(gate, period, sources: Sequence[str] = ()) -> dict:
    from flywheel.insight import overview
    from flywheel.insight.headline import sources as known_sources

    wh = gate.warehouse
    return overview(wh, period, sources) | {"known_sources": known_sources(wh), "build": rollups_ready(wh)}


def retention_view(gate, grain: str, basis: str) -> dict:
    from flywheel.insight import retention

    return retention(gate.warehouse, grain, basis) | {"build": rollups_ready(gate.warehouse)}


def funnel_view(gate, steps: Sequence[str], period, window_days: float) -> dict:
    from flywheel.insight import funnel, funnel_events

    wh = gate.warehouse
    events = funnel_events(wh)
    result = funnel(wh, steps, period, window_days) if steps else None
    return {"funnel": result, "events": events, "build": rollups_ready(wh)}


def default_steps(events: list[dict]) -> list[str]:
    """The shop funnel when its events exist, else the three most frequent events."""
    names = [e["event"] for e in events]
    shop = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
    chosen = [s for s in shop if s in names]
    return chosen if len(chosen) >= 2 else names[:3]


def segments_view(gate) -> dict:
    from flywheel.activate import segments_summary, stored_segments

    wh = gate.warehouse
    summary = segments_summary(wh)
    defs = stored_segments(wh)
    for s in summary:
        seg = defs.get(s["name"])
        s["description"] = getattr(seg, "description", None) if seg else None
    return {"segments": summary}


def encode_cursor(person_id: str) -> str:
    return base64.urlsafe_b64encode(person_id.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        if not CURSOR.fullmatch(cursor):
            raise ValueError(cursor)
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        if not value:
            raise ValueError(cursor)
        return value
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InputError(f"cursor {cursor[:40]!r} is not one this API gave out") from None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit {limit}: use 1 to {MAX_LIMIT}")
    return limit


def _latest_scores(wh) -> ibis.Table:
    runs = wh.table("value_runs")
    latest = runs.order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(1).select("run_id")
    s = wh.table("person_scores")
    return s.semi_join(latest, "run_id").select("person_id", "tier", "rfm_segment", "potential_value",
                                                "churn_probability")


MEMBER_FIELDS = {"person_id": "segment_members.person_id", "entered_at": "segment_members.entered_at",
                 "tier": "person_scores.tier", "rfm_segment": "person_scores.rfm_segment",
                 "clv": "person_scores.potential_value", "churn_probability": "person_scores.churn_probability"}


def members_view(gate, segment: str | None, limit: int = 50, cursor: str | None = None) -> dict:
    """A page of persons (of a segment, or all), ordered by person id: `items`, `next_cursor`, `has_more`."""
    gate.require("read.persons")
    wh = gate.warehouse
    limit = check_limit(limit)
    if segment is not None:
        from flywheel.activate import stored_segments

        if segment not in stored_segments(wh):
            raise ApiError(404, "not_found", f"no segment named {segment!r}")
        m = wh.table("segment_members")
        base = m.filter(m.segment == segment).select("person_id", "entered_at")
    else:
        p = wh.table("metric_persons")
        base = p.select("person_id", entered_at=ibis.null("timestamp('UTC')"))
    if cursor:
        base = base.filter(base.person_id > decode_cursor(cursor))
    page = base.order_by("person_id").limit(limit + 1)
    j = page.left_join(_latest_scores(wh), "person_id")
    rows = wh.fetch(j.select(page.person_id, page.entered_at, j.tier, j.rfm_segment, clv=j.potential_value,
                             churn_probability=j.churn_probability).order_by("person_id")).to_pylist()
    more = len(rows) > limit
    rows = rows[:limit]
    items = gate.disclosure.records("segment_members", rows, fields=MEMBER_FIELDS)
    for r in items:
        if isinstance(r.get("clv"), float):
            r["clv"] = round(r["clv"], 2)
    return gate.disclosed({"segment": segment, "items": items, "has_more": more,
                           "next_cursor": encode_cursor(rows[-1]["person_id"]) if more and rows else None})


TIMELINE = 50
PERSON_SECTIONS = ("accounts", "identifiers", "contact_points", "consents", "orders", "events", "person_traits",
                   "person_scores", "value_alerts", "identity_links", "identity_refusals", "segment_members",
                   "journey_episodes", "coupons")
"""What the 360 shows (the subject-access copy, `privacy export`, holds every table)."""


def person_view(gate, person_id: str) -> dict:
    """Person 360: identity, traits, scores, consent, segments, journeys and a timeline, as the role sees it."""
    from flywheel.privacy import person_show
    from flywheel.privacy.subjects import UnknownSubject

    try:
        shown = person_show(gate, person_id, PERSON_SECTIONS)
    except UnknownSubject:
        raise ApiError(404, "not_found", f"no person {person_id!r}") from None
    data = shown["data"]
    timeline = [{"at": o.get("created_at"), "kind": "order", "source": o.get("source"),
                 "what": f"{o.get('status')} {_yuan(o.get('paid_cents'))}", "id": o.get("order_id")}
                for o in data.get("orders", [])]
    timeline += [{"at": e.get("timestamp"), "kind": e.get("type"), "source": e.get("source"),
                  "what": e.get("event") or e.get("name") or e.get("type"), "id": None}
                 for e in data.get("events", [])]
    timeline = sorted((t for t in timeline if t["at"] is not None), key=lambda t: t["at"], reverse=True)
    scores = sorted(data.get("person_scores", []), key=lambda s: str(s.get("as_of")), reverse=True)
    traits = data.get("person_traits", [])
    return {
        "person_id": shown["person_id"],
        "accounts": data.get("accounts", []),
        "identifiers": data.get("identifiers", []),
        "contact_points": data.get("contact_points", []),
        "links": data.get("identity_links", []),
        "refusals": data.get("identity_refusals", []),
        "consents": data.get("consents", []),
        "traits": traits[0] if traits else {},
        "scores": scores[0] if scores else {},
        "alerts": data.get("value_alerts", []),
        "segments": data.get("segment_members", []),
        "journeys": data.get("journey_episodes", []),
        "coupons": data.get("coupons", []),
        "timeline": timeline[:TIMELINE],
        "timeline_total": len(timeline),
        "disclosure": shown["disclosure"],
    }


def _yuan(cents) -> str:
    return "" if cents is None else f"¥{int(cents) / 100:,.2f}"


def journeys_view(gate) -> dict:
    from flywheel.activate import journeys_summary

    return {"journeys": journeys_summary(gate.warehouse)}


def set_journey_status(gate, name: str, status: str) -> None:
    from flywheel.activate.running import set_status

    set_status(gate, name, status)


def channels_view(gate, model: str = "markov") -> dict:
    from flywheel.measure import channel_report, latest_run, recommend, warehouse_arms

    wh = gate.warehouse
    run_id = latest_run(wh)
    if run_id is None:
        return {"run_id": None, "models": [], "credits": [], "report": None, "budget": None}
    c = wh.table("attribution_credits")
    mine = c.filter(c.run_id == run_id)
    rows = wh.fetch(mine.group_by(["model", "channel"]).agg(
        conversions=mine.conversions.sum(), value_cents=mine.value_cents.sum()).order_by(["channel", "model"])
    ).to_pylist()
    models = sorted({r["model"] for r in rows})
    if model not in models:
        model = "markov" if "markov" in models else (models[0] if models else model)
    report = channel_report(wh, run_id, model)
    try:
        arms, basis = warehouse_arms(wh, run_id, model)
        budget = recommend(arms, "rate", floor=0.02) | {"basis": basis}
    except InputError as e:
        budget = {"error": str(e)}
    credits: dict[str, dict] = {}
    for r in rows:
        credits.setdefault(r["channel"], {"channel": r["channel"]})[r["model"]] = {
            "conversions": float(r["conversions"] or 0), "value_cents": int(r["value_cents"] or 0)}
    return {"run_id": run_id, "model": model, "models": models, "credits": list(credits.values()),
            "report": report, "budget": budget}


def value_view(gate) -> dict:
    """Tiers, CLV bands, P(alive) by recency × frequency, concentration, clusters; CLV-drop alerts
    (the persons only for roles that may read persons)."""
    from flywheel.insight import value_summary

    wh = gate.warehouse
    data = value_summary(wh)
    if data is None:
        return {"run_id": None}
    a = wh.table("value_alerts")
    mine = a.filter(a.run_id == data["run_id"])
    data["alerts_total"] = int(wh.fetch(mine.aggregate(n=mine.count())).column(0)[0].as_py() or 0)
    data["alerts"] = []
    if "read.persons" in gate.actor.role.may:
        rows = wh.fetch(mine.order_by([ibis.desc("drop_share"), "person_id"]).limit(20).select(
            "person_id", "previous_value", "potential_value", "drop_share", "churn_probability", "tier")).to_pylist()
        data["alerts"] = gate.disclosure.records("value_alerts", rows)
    return data


def data_view(gate) -> dict:
    """Ingest runs and quarantine by reason, consent coverage per purpose, erasures, the audit chain."""
    from flywheel.privacy import audit_verify

    wh = gate.warehouse
    runs = wh.table("ingest_runs")
    recent = wh.fetch(runs.order_by(ibis.desc("started_at")).limit(20).select(
        "run_id", "path", "source", "adapter", "finished_at", "rows", "loaded", "updated", "duplicates",
        "quarantined")).to_pylist()
    for r in recent:
        r["file"] = r.pop("path").rsplit("/", 1)[-1]
    q = wh.table("quarantine")
    reasons = wh.fetch(q.group_by(["reason", "action"]).agg(rows=q.count()).order_by(ibis.desc("rows"))
                       .limit(50)).to_pylist()
    c = wh.table("metric_consents")
    consents: dict[str, dict] = {}
    for r in wh.fetch(c.order_by(["purpose", "status"])).to_pylist():
        consents.setdefault(r["purpose"], {"purpose": r["purpose"]})[r["status"]] = int(r["persons"])
    p = wh.table("metric_persons")
    persons = int(wh.fetch(p.aggregate(n=p.count())).column(0)[0].as_py() or 0)
    for row in consents.values():
        decided = sum(v for k, v in row.items() if k != "purpose")
        row["coverage"] = decided / persons if persons else None
    e = wh.table("erasures")
    erasures = wh.fetch(e.aggregate(n=e.count(), last=e.erased_at.max(), rows=e.rows_removed.sum())).to_pylist()[0]
    audit = None
    if "audit.read" in gate.actor.role.may:
        audit = audit_verify(gate).as_dict()
    return {"ingest_runs": recent, "quarantine": reasons, "consents": list(consents.values()), "persons": persons,
            "erasures": {"count": int(erasures["n"] or 0), "last": erasures["last"],
                         "rows_removed": int(erasures["rows"] or 0)},
            "audit": audit}


SEGMENT_TEMPLATE = """name: gold_gone_quiet
description: gold and diamond members without an order in 30 days
rule:
  all:
    - trait: tier
      in: [gold, diamond]
    - not_performed:
        event: Order Completed
        within_days: 30
"""


def drop_segment(steps: list[dict], k: int, window_days: float) -> str:
    """A segment definition for those who dropped before step `k` (1-based, ≥ 2): did step k−1 in the
    last window and not step k — the rule language's nearest form of the funnel's drop-off."""
    import yaml

    before, after = steps[k - 2]["event"], steps[k - 1]["event"]
    slug = re.sub(r"[^a-z0-9]+", "_", before.lower()).strip("_")[:40] or "step"
    days = max(1, int(round(window_days)))
    definition = {
        "name": f"dropped_after_{slug}",
        "description": f"did {before!r} in the last {days} days but not {after!r} (funnel drop-off at step {k})",
        "rule": {"all": [{"performed": {"event": before, "within_days": days}},
                         {"not_performed": {"event": after, "within_days": days}}]},
    }
    return yaml.safe_dump(definition, allow_unicode=True, sort_keys=False)


def segment_preview(gate, text: str) -> dict:
    """The live count of a definition (any role: a count is an aggregate)."""
    from flywheel.activate import parse_segment, preview_segment

    return preview_segment(gate.warehouse, parse_segment(text))


def segment_save(gate, text: str) -> str:
    """Apply a definition (`activate.apply`) and refresh it at the clock the members are shown at."""
    import datetime as dt

    from flywheel.activate import apply_segments, parse_segment, refresh_segments

    gate.require("activate.apply")
    seg = parse_segment(text)
    apply_segments(gate, [seg])
    clock = segment_preview(gate, text)["now"]
    refresh_segments(gate.warehouse, dt.datetime.fromisoformat(clock), names=[seg.name])
    return seg.name


EXPORT_LIMIT = 100_000


def members_csv(gate, segment: str) -> bytes:
    """A segment's members (up to `EXPORT_LIMIT`) as CSV, disclosed for the role like every other
    output: the same columns and masking as the members API."""
    import io

    import pyarrow.csv as pacsv

    gate.require("read.persons")
    wh = gate.warehouse
    from flywheel.activate import stored_segments

    if segment not in stored_segments(wh):
        raise ApiError(404, "not_found", f"no segment named {segment!r}")
    m = wh.table("segment_members")
    page = m.filter(m.segment == segment).select("person_id", "entered_at").order_by("person_id").limit(EXPORT_LIMIT)
    j = page.left_join(_latest_scores(wh), "person_id")
    data = wh.fetch(j.select(page.person_id, page.entered_at, j.tier, j.rfm_segment, clv=j.potential_value,
                             churn_probability=j.churn_probability).order_by("person_id"))
    shown = gate.disclosure.arrow("segment_members", data, fields=MEMBER_FIELDS)
    buf = io.BytesIO()
    pacsv.write_csv(shown, buf)
    gate.audit("read.export", f"segment {segment} members as CSV", detail={"rows": shown.num_rows})
    return buf.getvalue()


def loyalty_view(gate) -> dict:
    """Members per level, points liability and breakage, K per generation, the top KOC's tree (labels,
    not ids), fraud refusals by reason: aggregates every role may see."""
    from flywheel.loyalty import loyalty_summary

    return loyalty_summary(gate.warehouse)
