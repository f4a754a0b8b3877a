"""`flywheel attribution paths`: parse, call the model, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, emit, out, state

attribution_app = typer.Typer(help="Attribution: which channels the conversions are credited to.",
                              no_args_is_help=True)
MODEL_HELP = ("first | last | last_non_direct | linear | time_decay (each step back halves; a path file has "
              "no times) | position (40/20/40) | markov (exact removal effects, --order K) | shapley (closed "
              "form) | shapley_exact (all coalitions, ≤ 12 channels)")


@attribution_app.command("paths")
def paths_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV of aggregated paths, one row per distinct path.")],
    path_col: Annotated[str, typer.Option("--path-col", help="Column with the path (`a > b > c`).")] = "path",
    conv_col: Annotated[str, typer.Option("--conv-col", help="Column with the path's conversions.")] =
        "total_conversions",
    value_col: Annotated[Optional[str], typer.Option("--value-col", help="Column with the conversions' value.")] = None,
    null_col: Annotated[Optional[str], typer.Option("--null-col", help="Column with the path's non-converting "
                                                    "count (without it every path converts).")] = None,
    sep: Annotated[str, typer.Option("--sep", help="Separator between channels.")] = ">",
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)] = "markov",
    order: Annotated[int, typer.Option("--order", help="Markov order: how many past channels a state remembers.",
                                       min=1)] = 1,
) -> None:
    """Credit the conversions of a path file (the format ChannelAttribution reads) to its channels."""
    from flywheel.measure import attribute, read_path_file

    paths = read_path_file(file, path_col, conv_col, value_col, null_col, sep)
    for r in paths.rejected:
        typer.echo(f"{file}:{r.line}: {r.field}: {r.reason} (row left out)", err=True)
    result = attribute(paths, model, order)
    if state(ctx).json:
        emit(result)
        return
    p = result["conversion_probability"]
    title = (f"{result['model']}{' order ' + str(order) if model == 'markov' else ''}: "
             f"{result['total_conversions']:,.0f} conversions over {result['paths']:,} paths"
             + (f", conversion probability {p:.4f}" if p is not None else ""))
    t = Table(title=title)
    t.add_column("channel")
    t.add_column("conversions", justify="right")
    if result["value_credits"]:
        t.add_column("value", justify="right")
    if result["removal_effects"]:
        t.add_column("removal effect", justify="right")
    for c, n in sorted(result["credits"].items(), key=lambda kv: -kv[1]):
        row = [c, f"{n:,.2f}"]
        if result["value_credits"]:
            row.append(f"{result['value_credits'][c]:,.2f}")
        if result["removal_effects"]:
            row.append(f"{result['removal_effects'][c]:.3f}")
        t.add_row(*row)
    out.print(t)


def days_option(text: str | None, option: str) -> float | None:
    """`30d`, `12h`, `2w` or a bare number of days."""
    from flywheel.errors import InputError

    if text is None:
        return None
    s = text.strip().lower()
    unit = {"d": 1.0, "h": 1 / 24, "w": 7.0}.get(s[-1:], None)
    number = s[:-1] if unit is not None else s
    try:
        value = float(number) * (unit or 1.0)
    except ValueError:
        raise InputError(f"{option}: {text!r} is not a duration (30d, 12h, 2w or a number of days)") from None
    if not value > 0:
        raise InputError(f"{option}: {text!r} must be longer than nothing")
    return value


@attribution_app.command("run")
def run_command(
    ctx: typer.Context,
    window: Annotated[str, typer.Option("--window", help="Conversion window: a touch counts for the first "
                                        "conversion at most this long after it (30d, 12h, 2w).")] = "30d",
    models: Annotated[str, typer.Option("--models", help="all, or a comma list: first, last, last_non_direct, "
                                        "linear, time_decay, position, markov, shapley, shapley_exact.")] = "all",
    lookback: Annotated[Optional[str], typer.Option("--lookback", help="Only conversions in this long before "
                                                    "--as-of (default: all).")] = None,
    conversions: Annotated[str, typer.Option("--conversions", help="every (every GMV order) or first (each "
                                             "person's first: acquisition).")] = "every",
    value: Annotated[str, typer.Option("--value", help="paid (the order's paid amount) or clv (the buyer's "
                                       "predicted value, from the latest scoring run).")] = "paid",
    order: Annotated[int, typer.Option("--order", help="Markov order.", min=1)] = 1,
    half_life: Annotated[str, typer.Option("--half-life", help="time_decay: a touch this long before the "
                                           "conversion counts half as much.")] = "7d",
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Conversions and touches up to this date or "
                                                 "time (default: the latest order or touch).")] = None,
    journeys: Annotated[bool, typer.Option("--journeys/--no-journeys", help="Count delivered journey messages "
                                           "as touches (channel wecom, sms, email; campaign = journey).")] = True,
) -> None:
    """Credit the warehouse's conversions to channels and campaigns with every model; one stored run per model."""
    from flywheel.cli.common import open_warehouse, parse_instant, progress
    from flywheel.measure import Window, default_as_of, parse_models, run_attribution

    current = state(ctx)
    chosen = parse_models(models)
    with open_warehouse(ctx) as wh, progress(current) as bar:
        w = Window(as_of=parse_instant(as_of, wh.settings.tz, "--as-of") or default_as_of(wh),
                   window_days=days_option(window, "--window"), lookback_days=days_option(lookback, "--lookback"),
                   conversions=conversions, value=value, half_life_days=days_option(half_life, "--half-life"),
                   journeys=journeys)
        task = bar.add_task("attribution", total=5)
        result = run_attribution(wh, w, chosen, order, lambda step, done, total: bar.update(
            task, completed=done, description=f"attribution: {step}"))
    if current.json:
        emit(result)
        return
    c = result["conversions"]
    out.print(f"run {result['run_id']}: {c['total']:,} conversions up to {result['as_of'][:16]}, "
              f"{c['attributed']:,} with a touch in the {result['window_days']:g}-day window "
              f"({c['unattributed']:,} without: organic or untracked), {result['paths']['distinct']:,} distinct paths")
    channels = sorted({ch for m in result["models"].values() for ch in m["credits"]})
    t = Table(title="conversions credited per channel")
    t.add_column("channel")
    for m in result["models"]:
        t.add_column(m, justify="right")
    for ch in channels:
        t.add_row(ch, *[f"{result['models'][m]['credits'].get(ch, 0.0):,.1f}" for m in result["models"]])
    out.print(t)
