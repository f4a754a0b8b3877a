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
            measurement_stage(out_dir / "data"), insight_stage(),
            report_stage(out_dir / "report.html", f"Flywheel demo · {persons:,} simulated persons")]
