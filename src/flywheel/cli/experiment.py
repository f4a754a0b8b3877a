"""`flywheel experiment analyze`: parse, call the statistics, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, emit, out, state

experiment_app = typer.Typer(help="Experiments: effects with honest intervals, sample-ratio checks.",
                             no_args_is_help=True)


@experiment_app.command("analyze")
def analyze_command(
    ctx: typer.Context,
    summary: Annotated[Path, typer.Option("--summary", help="CSV, one row per variation (control first): "
                                          "variation, n, sum, sum_squares [, covariate_sum, "
                                          "covariate_sum_squares, cross_sum for CUPED].")],
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

    planned = None
    if weights:
        try:
            planned = [float(w) for w in weights.split(",")]
        except ValueError:
            raise InputError(f"--weights: numbers separated by commas, e.g. 80,20; got {weights!r}") from None
    result = analyze(read_summary(summary), method, relative, alpha, tuning, prior_mean, prior_sd, planned)
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
