"""`flywheel budget recommend`: parse, call the allocator, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, emit, out, state

budget_app = typer.Typer(help="Budget: tomorrow's split over campaigns or ad groups, by Thompson sampling.",
                         no_args_is_help=True)


@budget_app.command("recommend")
def recommend_command(
    ctx: typer.Context,
    arms: Annotated[Optional[Path], typer.Option("--arms", help="CSV: arm, clicks, conversions (rate) or one row "
                                                 "per arm and day with arm, roi (roi); optional share (today's). "
                                                 "Without it: the warehouse's campaigns.")] = None,
    posterior: Annotated[str, typer.Option("--posterior", help="rate (Beta–Bernoulli on conversions per click) "
                                           "or roi (Normal on daily ROI).")] = "rate",
    floor: Annotated[float, typer.Option("--floor", help="The smallest share any arm keeps, so it stays measured.")]
        = 0.01,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the posterior draws (the same seed, the same split).")]
        = 0,
    max_change: Annotated[Optional[float], typer.Option("--max-change", help="Move no arm's share by more than this "
                                                        "a day (0.2 = 20 points; needs a share column).")] = None,
    run: Annotated[Optional[str], typer.Option("--run", help="From the warehouse: the attribution run whose "
                                               "credits count as conversions (default: the latest).")] = None,
    model: Annotated[str, typer.Option("--model", help="From the warehouse: whose credits.")] = "markov",
    days: Annotated[int, typer.Option("--days", help="From the warehouse: clicks and credits of the last N days.",
                                      min=1)] = 30,
) -> None:
    """Tomorrow's budget shares, each with the numbers it rests on."""
    from flywheel.measure import read_arms, recommend

    if arms is not None:
        result = recommend(read_arms(arms, posterior), posterior, floor, seed, max_change)
    else:
        from flywheel.cli.common import open_warehouse
        from flywheel.measure import warehouse_arms

        with open_warehouse(ctx) as wh:
            found, basis = warehouse_arms(wh, run, model, days, posterior)
        result = dict(recommend(found, posterior, floor, seed, max_change), basis=basis)
    if state(ctx).json:
        emit(result)
        return
    t = Table(title=f"budget shares ({posterior}, floor {floor:.0%})")
    for c in ("arm", "share", "P(best)", "why"):
        t.add_column(c, justify="left" if c in ("arm", "why") else "right")
    for r in result["arms"]:
        t.add_row(r["arm"], f"{r['share']:.1%}", f"{r['p_best']:.1%}", r["why"])
    out.print(t)
