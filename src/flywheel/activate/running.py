"""Journeys for an acting role: apply, pause, resume, run a tick, status and outbox.

Every entry point takes the acting `Gate`: applying needs `activate.apply`, running `activate.run`,
reading status and the outbox `read.persons` (person ids are disclosed at the role's level). The
tick opens addresses for the sender only; they are never returned to the role that started the run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from pathlib import Path

import ibis
import pyarrow as pa

from flywheel.activate.compile import check_rule
from flywheel.activate.journeys import (
    Journey,
    JourneyError,
    load_journey_file,
    parse_journey,
)
from flywheel.activate.outbox import Guards
from flywheel.activate.segments import stored_segments
from flywheel.activate.tick import TickResult, run_tick
from flywheel.errors import InputError


def stored_journeys(wh) -> dict[str, tuple[Journey, str]]:
    rows = wh.fetch(wh.table("journeys").order_by("name")).to_pylist()
    found = {}
    for r in rows:
        journey = parse_journey(json.loads(r["definition"]), r["file"] or r["name"],
                                stored_templates=json.loads(r["templates"] or "{}"))
        found[r["name"]] = (journey, r["status"])
    return found


def apply_journeys(gate, files: list[Path]) -> list[dict]:
    """Create or update journeys (`activate.apply`): every rule checked against the warehouse first."""
    gate.require("activate.apply")
    wh = gate.warehouse
    journeys = [load_journey_file(f) for f in files]
    events = set(wh.fetch(wh.table("events").select("event").distinct()).column("event").to_pylist()) - {None}
    segments = set(stored_segments(wh))
    for j in journeys:
        for _, rule in j.rules():
            check_rule(rule, j.file, events, segments)
        t = j.trigger
        if t.segment and t.segment not in segments:
            raise JourneyError(j.file, f"trigger.{t.kind}", f"no segment {t.segment!r}; apply it first")
        if t.kind == "birthday":
            raise JourneyError(j.file, "trigger.birthday", "needs persons' birth dates, which no export Flywheel "
                               "reads carries yet (docs/activation.md, limits)")
        if t.kind == "inactive" and t.event not in events:
            raise JourneyError(j.file, "trigger.inactive.event", f"no event {t.event!r} has ever been seen")
    existing = stored_journeys(wh)
    now = dt.datetime.now(dt.timezone.utc)
    outcome, rows = [], []
    for j in journeys:
        before = wh.fetch(wh.table("journeys").filter(ibis._.name == j.name).select("sha256", "status")).to_pylist()
        state = "unchanged" if before and before[0]["sha256"] == j.sha256 else ("updated" if before else "created")
        outcome.append({"name": j.name, "status": state})
        if state != "unchanged":
            rows.append({"name": j.name, "description": j.description,
                         "definition": json.dumps(j.definition, ensure_ascii=False, sort_keys=True, default=str),
                         "templates": json.dumps(j.templates, ensure_ascii=False, sort_keys=True), "file": j.file,
                         "sha256": j.sha256, "status": existing.get(j.name, (None, "active"))[1],
                         "applied_at": now, "applied_by": gate.actor.name})
    if rows:
        wh.put("journeys", pa.Table.from_pylist(rows))
        gate.audit("activate.apply", "journeys " + ", ".join(r["name"] for r in rows),
                   detail={"journeys": [o for o in outcome if o["status"] != "unchanged"]})
    return outcome


def example_journey_files() -> list[Path]:
    """The journeys Flywheel ships as examples (the community win-back case)."""
    from importlib import resources

    folder = Path(str(resources.files("flywheel.activate").joinpath("examples")))
    return sorted(folder.glob("*.yaml"))


def set_status(gate, name: str, status: str) -> None:
    """Pause or resume a journey (`activate.apply`); a paused journey neither enrols nor sends."""
    gate.require("activate.apply")
    wh = gate.warehouse
    journeys = stored_journeys(wh)
    if name not in journeys:
        raise InputError(f"no journey {name!r}; known: {', '.join(journeys) or 'none'}")
    j = wh.table("journeys")
    row = wh.fetch(j.filter(j.name == name)).to_pylist()[0]
    wh.put("journeys", pa.Table.from_pylist([dict(row, status=status)]))
    gate.audit("activate.apply", f"journey {name} {status}")


def run(gate, now: dt.datetime | None = None, dry_run: bool = False, names: list[str] | None = None, *,
        guards: Guards | None = None, deliver=None, addresses=None) -> TickResult:
    """One tick (`activate.run`) of the active journeys, or of `names`. The global control group is
    merchant-wide: the largest `global_control` any marketing journey declares keeps those persons
    out of every marketing journey (the same hash, so a smaller group lies inside a larger one)."""
    gate.require("activate.run")
    wh = gate.warehouse
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    journeys = stored_journeys(wh)
    unknown = sorted(set(names or []) - set(journeys))
    if unknown:
        raise InputError(f"no journey {unknown[0]!r}; known: {', '.join(journeys) or 'none'}")
    control = max([j.global_control_percent for j, _ in journeys.values() if j.marketing] or [0.0])
    chosen = [dataclasses.replace(j, global_control_percent=control) if j.marketing else j
              for n, (j, status) in journeys.items() if status == "active" and (not names or n in names)]
    if guards is None or deliver is None or addresses is None:
        from flywheel.activate.channels import delivery_for

        d_guards, d_deliver, d_addresses = delivery_for(gate, now)
        guards, deliver, addresses = guards or d_guards, deliver or d_deliver, addresses or d_addresses
    result = run_tick(wh, now, chosen, actor=gate.actor.name, guards=guards, deliver=deliver, addresses=addresses,
                      context_of=lambda persons: person_context(gate, persons), dry_run=dry_run)
    if not dry_run:
        sent = sum(sum(t.sent.values()) for t in result.journeys.values())
        gate.audit("activate.run", f"journey tick at {now.isoformat()}",
                   detail={"tick_id": result.tick_id, "sent": sent, "journeys": len(chosen)})
    return result


def person_context(gate, persons: list[str]) -> dict[str, dict]:
    """Template fields of each person: traits and scores, disclosed at the acting role's level."""
    from flywheel.activate.compile import RuleContext

    if not persons:
        return {}
    wh = gate.warehouse
    wanted = ibis.memtable({"person_id": sorted(set(persons))}, schema={"person_id": "string"})
    traits = wh.fetch(wh.table("person_traits").semi_join(wanted, "person_id")).to_pylist()
    scores = RuleContext(wh, dt.datetime.now(dt.timezone.utc), wanted).scores()
    score_rows = wh.fetch(scores.semi_join(wanted, "person_id")).to_pylist()
    found: dict[str, dict] = {p: {"traits": {}} for p in persons}
    for r in gate.disclosure.records("person_traits", traits):
        found.setdefault(r["person_id"], {"traits": {}})["traits"].update(r)
    for r in gate.disclosure.records("person_scores", score_rows):
        found.setdefault(r["person_id"], {"traits": {}})["traits"].update(
            {k: v for k, v in r.items() if k not in ("run_id", "person_id", "as_of")})
    for p, ctx in found.items():
        t = ctx["traits"]
        ctx.update(tier=t.get("tier"), clv=t.get("potential_value"))
    return found


def journey_status(gate, name: str) -> dict:
    """Funnel of a journey by group: entered, active, sent, converted (ordered within the conversion window)."""
    gate.require("read.persons")
    wh = gate.warehouse
    journeys = stored_journeys(wh)
    if name not in journeys:
        raise InputError(f"no journey {name!r}; known: {', '.join(journeys) or 'none'}")
    journey, status = journeys[name]
    from flywheel.activate.funnel import funnel

    return {"name": name, "status": status, "groups": funnel(wh, journey)}


def outbox_rows(gate, name: str | None = None, limit: int = 100) -> dict:
    gate.require("read.persons")
    wh = gate.warehouse
    a = wh.table("journey_actions")
    if name is not None:
        a = a.filter(a.journey == name)
    counts = Counter()
    for r in wh.fetch(a.group_by(["status", "reason"]).agg(n=a.count())).to_pylist():
        counts[f"{r['status']}{':' + r['reason'] if r['reason'] else ''}"] += r["n"]
    rows = wh.fetch(a.order_by([ibis.desc("scheduled_at"), "action_key"]).limit(limit).drop("text", "subject")).to_pylist()
    shown = gate.disclosure.records("journey_actions", rows)
    return {"journey": name, "counts": dict(counts), "actions": shown, "disclosure": gate.disclosure.summary()}
