"""`flywheel experiment create|assign|list|analyze`: parse, call the registry or the statistics, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, emit, out, state

experiment_app = typer.Typer(help="Experiments: effects with honest intervals, sample-ratio checks.",
                             no_args_is_help=True)


@experiment_app.command("create")
def create_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Experiment name (never reused: assignments depend on it).")],
    variations: Annotated[str, typer.Option("--variations", help="Variation names, the control first.")] =
        "control,treatment",
    weights: Annotated[Optional[str], typer.Option("--weights", help="Split, e.g. 50,50 (default: equal).")] = None,
    metric: Annotated[str, typer.Option("--metric", help="conversion (a GMV order) or revenue (paid amount).")] =
        "conversion",
    window: Annotated[str, typer.Option("--window", help="How long after exposure the metric counts (7d, 12h).")] =
        "7d",
    salt: Annotated[Optional[str], typer.Option("--salt", help="Assignment salt (default: from the name).")] = None,
    description: Annotated[str, typer.Option("--description", help="What it tests.")] = "",
) -> None:
    """Create an experiment with deterministic hashed assignment of persons."""
    from flywheel.cli.attribution import days_option
    from flywheel.cli.common import open_warehouse
    from flywheel.measure import create_experiment

    with open_warehouse(ctx) as wh:
        exp = create_experiment(wh, name, [v.strip() for v in variations.split(",")], _weights(weights), salt,
                                metric, days_option(window, "--window"), description, state(ctx).settings.role)
    if state(ctx).json:
        emit(exp.as_dict())
        return
    out.print(f"created {exp.name}: " + ", ".join(f"{v} {w:.0%}" for v, w in zip(exp.variations, exp.weights))
              + f"; {exp.metric} within {exp.window_days:g} days of exposure")


@experiment_app.command("assign")
def assign_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    persons: Annotated[list[str], typer.Argument(help="Person ids.")],
    record: Annotated[bool, typer.Option("--record", help="Record the exposure (its window starts now or at --at).")]
        = False,
    at: Annotated[Optional[str], typer.Option("--at", help="Exposure time (default: now).")] = None,
) -> None:
    """The variation of each person (the same every time); `--record` stores first exposures."""
    import datetime as dt

    from flywheel.cli.common import open_warehouse, parse_instant
    from flywheel.measure import experiment, record_exposures

    with open_warehouse(ctx) as wh:
        exp = experiment(wh, name)
        if record:
            when = parse_instant(at, wh.settings.tz, "--at") or dt.datetime.now(dt.timezone.utc)
            assigned = record_exposures(wh, exp, persons, when)
        else:
            assigned = {p: exp.assign(p) for p in persons}
    if state(ctx).json:
        emit({"experiment": name, "recorded": record, "assignments": assigned})
        return
    for p, v in assigned.items():
        out.print(f"{p}\t{v}")


@experiment_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Created experiments and every journey's holdout."""
    from flywheel.cli.common import open_warehouse
    from flywheel.measure import list_experiments

    with open_warehouse(ctx) as wh:
        found = [e.as_dict() for e in list_experiments(wh).values()]
    if state(ctx).json:
        emit({"experiments": found})
        return
    t = Table(title="experiments")
    for c in ("name", "source", "variations", "metric", "window"):
        t.add_column(c)
    for e in found:
        t.add_row(e["name"], e["source"], ", ".join(f"{v} {w:.0%}" for v, w in zip(e["variations"], e["weights"])),
                  e["metric"], f"{e['window_days']:g} d")
    out.print(t)


def _weights(text: str | None) -> list[float] | None:
    from flywheel.errors import InputError

    if not text:
        return None
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise InputError(f"--weights: numbers separated by commas, e.g. 80,20; got {text!r}") from None


@experiment_app.command("analyze")
def analyze_command(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Argument(help="Experiment in the warehouse (a created one, or "
                                                  "journey:NAME for a journey's holdout).")] = None,
    summary: Annotated[Optional[Path], typer.Option("--summary", help="Or a CSV, one row per variation (control "
                                                    "first): variation, n, sum, sum_squares [, covariate_sum, "
                                                    "covariate_sum_squares, cross_sum for CUPED].")] = None,
    cuped: Annotated[bool, typer.Option("--cuped/--no-cuped", help="Warehouse experiments: adjust for the "
                                        "metric's 90 days before exposure (CUPED).")] = True,
    cap: Annotated[Optional[float], typer.Option("--cap", help="Warehouse revenue experiments: cap each unit at "
                                                 "this quantile over all units (0.99).")] = None,
    method: Annotated[str, typer.Option("--method", help="fixed (Welch t) | sequential (always-valid "
                                        "confidence sequence) | bayesian (normal–normal).")] = "fixed",
    relative: Annotated[bool, typer.Option("--relative", help="Effects as mean_t / mean_c − 1 (delta method).")] = False,
    tuning: Annotated[float, typer.Option("--sequential-tuning", help="Total units N* where the sequential "
                                          "interval is tightest.")] = 5000.0,
    alpha: Annotated[float, typer.Option("--alpha", help="1 − the interval's coverage.")] = 0.05,
    prior_mean: Annotated[Optional[float], typer.Option("--prior-mean", help="Bayesian: a proper prior's mean "
                                                        "(with --prior-sd).")] = None,
    prior_sd: Annotated[Optional[float], typer.Option("--prior-sd", help="Bayesian: its standard deviation.")] = None,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Planned split for the sample-ratio check, "
                                                   "e.g. 80,20 (default: equal).")] = None,
) -> None:
    """Every treatment against the control, with the sample-ratio check."""
    from flywheel.errors import InputError
    from flywheel.measure import analyze, read_summary

    planned = _weights(weights)
    if (name is None) == (summary is None):
        raise InputError("name an experiment in the warehouse or give --summary FILE.csv (one of the two)")
    if summary is not None:
        result = analyze(read_summary(summary), method, relative, alpha, tuning, prior_mean, prior_sd, planned)
    else:
        from flywheel.cli.common import open_warehouse
        from flywheel.measure import analyze_experiment

        with open_warehouse(ctx) as wh:
            result = analyze_experiment(wh, name, method, relative, cuped, cap=cap, alpha=alpha, tuning=tuning,
                                        prior_mean=prior_mean, prior_sd=prior_sd)
    if result["srm_warning"]:
        typer.echo(f"warning: sample ratio mismatch (χ² p = {result['srm_p_value']:.2g} < 0.001): the split is not "
                   "the planned one; check assignment and logging before trusting any effect", err=True)
    if state(ctx).json:
        emit(result)
        return
    t = Table(title=f"{method}{' relative' if relative else ''} effects against {result['variations'][0]['variation']}"
              f" · SRM p = {result['srm_p_value']:.3g}")
    for c in ("variation", "effect", f"{1 - alpha:.0%} interval", "p-value", "chance to win"):
        t.add_column(c, justify="left" if c == "variation" else "right")
    for r in result["results"]:
        fmt = "{:+.2%}" if relative else "{:+.4g}"
        t.add_row(r["variation"], fmt.format(r["effect"]), f"[{fmt.format(r['ci'][0])}, {fmt.format(r['ci'][1])}]",
                  "" if r["p_value"] is None else f"{r['p_value']:.3g}",
                  "" if r["chance_to_win"] is None else f"{r['chance_to_win']:.1%}")
    out.print(t)
