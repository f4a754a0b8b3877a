"""The stages Flywheel runs in order, each a thin call into one capability.

`demo_stages` is what `flywheel demo` runs; test fixtures and the coming `flywheel run` compose the
same stages, so nobody copies the order of the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flywheel.pipeline.run import RunContext, Stage

VALUE_SUMMARY = ("run_id", "as_of", "persons", "buyers", "traits", "tiers", "concentration", "kocs", "alerts")


def simulate_stage(out_dir: Path, persons: int, seed: int) -> Stage:
    def run(context: RunContext) -> dict:
        from flywheel.simulate import generate

        summary = generate(out_dir, persons=persons, seed=seed,
                           progress=lambda done, total: context.tick(done, total))
        context.results["simulate"] = summary
        return {"out": str(summary.out_dir), "persons": summary.persons, "files": summary.files}

    return Stage("simulate", "simulating persons", run)


def ingest_stage(paths: Sequence[Path], source: str = "auto", mapping: Path | None = None) -> Stage:
    def run(context: RunContext) -> dict:
        from flywheel.collect import ingest_paths

        report = ingest_paths(context.warehouse, list(paths), source=source, mapping=mapping,
                              progress=lambda path, done, total: context.tick(done, total, f"ingesting {path.name}"))
        context.results["ingest"] = report
        payload = report.as_json()
        return {k: payload[k] for k in ("rows", "loaded", "updated", "duplicates", "quarantined") if k in payload}

    return Stage("ingest", "ingesting files", run)


def identity_stage(full: bool = False, match: bool = True) -> Stage:
    def run(context: RunContext) -> dict:
        from flywheel.identity import resolve

        options = {} if match else {"matcher": None}
        report = resolve(context.warehouse, full=full, **options,
                         progress=lambda message: context.tick(None, None, f"resolving identities: {message}"))
        context.results["identity"] = report
        return report.as_dict()

    return Stage("identity", "resolving identities", run)


def value_stage(options=None) -> Stage:
    def run(context: RunContext) -> dict:
        from flywheel.value import score

        summary = score(context.warehouse, options, progress=lambda step, done, total: context.tick(
            done, total, f"scoring value: {step}"))
        context.results["value"] = summary
        return {k: summary[k] for k in VALUE_SUMMARY}

    return Stage("value", "scoring value", run)


def activation_stage(data_dir: Path, work_dir: Path) -> Stage:
    """The shipped segments and the example journey on the simulated merchant, from the end of its
    period, with the simulator answering what is sent (pipeline/closed_loop.py)."""
    def run(context: RunContext) -> dict:
        from flywheel.pipeline.closed_loop import run_closed_loop
        from flywheel.privacy import Gate

        settings = context.settings.with_overrides(role="owner")
        with Gate.open(settings, context.warehouse, "demo activation") as gate:
            loop = run_closed_loop(gate, data_dir, work_dir, progress=lambda done, total: context.tick(
                done, total, "running the example journey"))
        context.results["activation"] = loop
        last = loop["ticks"][-1]["journeys"]
        return {"journey": loop["journey"], "rounds": loop["rounds"], "sent": loop["sent"],
                "response_orders": loop["orders"], "true_lift": round(loop["truth"][loop["journey"]]["lift"], 4),
                "measured_lift": loop["measured_lift"], "groups": loop["groups"],
                "journeys": last}

    return Stage("activation", "running segments and the example journey", run)


def measurement_stage(data_dir: Path | None = None) -> Stage:
    """Attribution with every model, channel economics, journey experiments and the budget; with the
    simulator's data, the true channel effects beside them (pipeline/measurement.py)."""
    def run(context: RunContext) -> dict:
        from flywheel.pipeline.measurement import run_measurement

        m = run_measurement(context.warehouse, data_dir, progress=lambda step, done, total: context.tick(
            done, total, f"measuring: {step}"))
        context.results["measurement"] = m
        a = m["attribution"]
        tests = {name: {"effect": r["fixed"]["results"][0]["effect"], "ci": r["fixed"]["results"][0]["ci"]}
                 for name, r in m["experiments"].items() if "fixed" in r}
        return {"attribution_run": a["run_id"], "conversions": a["conversions"],
                "markov_credits": a["models"]["markov"]["credits"], "experiments": tests,
                "flagged": sorted(c["channel"] for c in m["channels"]["channels"]
                                  if any(n["rule"] == "capture_suspected" for n in c["notes"])),
                "true_incremental_orders": (m.get("truth") or {}).get("orders")}

    return Stage("measurement", "attributing conversions and measuring channels", run)


def segments_stage(files: Sequence[Path] = (), now=None) -> Stage:
    """Apply the given segment files (or, when the warehouse has none yet, the shipped ones) as the
    acting role, then refresh every segment. A role that may not apply only refreshes what is stored."""
    def run(context: RunContext) -> dict:
        from flywheel.activate import (
            apply_segments,
            load_segment_files,
            refresh_segments,
            shipped_segments_file,
            stored_segments,
        )
        from flywheel.privacy import Gate, NotPermitted

        wh = context.warehouse
        chosen = list(files) or ([] if stored_segments(wh) else [shipped_segments_file()])
        applied, note = [], None
        if chosen:
            with Gate.open(context.settings, wh, "run segments") as gate:
                try:
                    applied = apply_segments(gate, load_segment_files(chosen))
                except NotPermitted as e:
                    if files:
                        raise
                    note = f"shipped segments not applied: {str(e).split(';')[0]}"
        results = refresh_segments(wh, now)
        return {"applied": len(applied), "note": note,
                "segments": {r.segment: r.members for r in results}}

    return Stage("segments", "refreshing segments", run)


def journeys_stage(now=None) -> Stage:
    """A dry run of every active journey: what a tick would send now, sending nothing."""
    def run(context: RunContext) -> dict:
        from flywheel.activate import run as tick
        from flywheel.activate.running import stored_journeys
        from flywheel.privacy import Gate

        wh = context.warehouse
        if not stored_journeys(wh):
            return {"journeys": [], "note": "no journeys applied (flywheel journey apply FILE.yaml)"}
        with Gate.open(context.settings, wh, "run journeys") as gate:
            if "activate.run" not in gate.actor.role.may:
                return {"journeys": [], "note": f"dry run skipped: role {gate.actor.role.name!r} may not activate.run"}
            result = tick(gate, now, dry_run=True)
        return result.as_dict()

    return Stage("journeys", "planning journeys (dry run)", run)


def attribution_stage() -> Stage:
    """Every attribution model over the warehouse's touches, up to the end of its data."""
    def run(context: RunContext) -> dict:
        from flywheel.errors import InputError
        from flywheel.measure import Window, default_as_of, run_attribution

        wh = context.warehouse
        try:
            result = run_attribution(wh, Window(as_of=default_as_of(wh)), progress=lambda step, done, total:
                                     context.tick(done, total, f"attributing: {step}"))
        except InputError as e:
            return {"note": f"attribution skipped: {e}"}
        context.results["measurement"] = {"attribution": result}
        return {"attribution_run": result["run_id"], "conversions": result["conversions"]}

    return Stage("attribution", "attributing conversions", run)


def run_stages(paths: Sequence[Path], report: Path, *, source: str = "auto", mapping: Path | None = None,
               segment_files: Sequence[Path] = (), now=None) -> list[Stage]:
    """What `flywheel run` does on a merchant's own exports: the demo minus the simulator."""
    return [ingest_stage(paths, source, mapping), identity_stage(), value_stage(), segments_stage(segment_files, now),
            journeys_stage(now), loyalty_stage(now), attribution_stage(), insight_stage(),
            report_stage(report, "Flywheel report")]


def loyalty_stage(now=None, role: str | None = None) -> Stage:
    """`loyalty run` and `referral run` at the end of the data (or `now`): points, levels, bindings."""
    def run(context: RunContext) -> dict:
        from flywheel.loyalty import data_end, loyalty_run, referral_run
        from flywheel.privacy import Gate

        settings = context.settings.with_overrides(role=role)
        wh = context.warehouse
        with Gate.open(settings, wh, "run loyalty") as gate:
            if "points.write" not in gate.actor.role.may:
                return {"note": f"loyalty skipped: role {gate.actor.role.name!r} may not points.write"}
            clock = now or data_end(wh)
            points = loyalty_run(gate, clock)
            context.tick(description="deciding referral invites")
            referral = referral_run(gate, clock)
        return {"now": clock.isoformat(), "orders": points["orders"], "transactions": points["transactions"],
                "members": points["members"], "bound": referral["bound"], "refused": referral["refused"],
                "coupons_issued": referral["coupons_issued"]}

    return Stage("loyalty", "earning points and deciding referrals", run)


def insight_stage() -> Stage:
    """The console's rollups (overview, retention, funnel), so `flywheel serve` shows the run at once."""
    def run(context: RunContext) -> dict:
        from flywheel.insight import build_rollups

        record = build_rollups(context.warehouse)
        return {k: record[k] for k in ("build_id", "person_days", "persons", "funnel_events")}

    return Stage("insight", "building the console's rollups", run)


def report_stage(path: Path, title: str) -> Stage:
    def run(context: RunContext) -> dict:
        from flywheel.collect.summary import summarize
        from flywheel.report import build_report

        summary = summarize(context.warehouse)
        context.results["summary"] = summary
        truth = (context.results.get("activation") or {}).get("truth")
        context.results["report"] = build_report(context.warehouse, path, title, summary, activation_truth=truth,
                                                 measurement=context.results.get("measurement"))
        return {"report": str(path), "totals": summary.totals}

    return Stage("report", "writing report", run)


def demo_stages(out_dir: Path, persons: int, seed: int) -> list[Stage]:
    """Simulate a merchant into `out_dir/data`, then every stage that exists, then the report."""
    return [simulate_stage(out_dir / "data", persons, seed), ingest_stage([out_dir / "data"]), identity_stage(),
            value_stage(), activation_stage(out_dir / "data", out_dir / "responses"),
            measurement_stage(out_dir / "data"), loyalty_stage(role="owner"), insight_stage(),
            report_stage(out_dir / "report.html", f"Flywheel demo · {persons:,} simulated persons")]
