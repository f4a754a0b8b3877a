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
