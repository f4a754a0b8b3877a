"""`flywheel value score` and `flywheel value alerts`: parse, call `score()` or `risk_alerts()`, print."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, acting, emit, out, progress, state
from flywheel.errors import InputError

value_app = typer.Typer(help="Customer value: traits, tiers, RFM segments, clusters, CLV, value scores and alerts.",
                        no_args_is_help=True)


def parse_as_of(text: str | None, tz: dt.tzinfo) -> dt.datetime | None:
    """A date means the end of that day on the merchant's calendar; a time without zone is merchant time."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--as-of: {text!r} is not a date (YYYY-MM-DD) or ISO time") from None
    if len(text) <= 10:
        value = value + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(dt.timezone.utc)


@value_app.command("score")
def score_command(
    ctx: typer.Context,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Score as of the end of this date (merchant "
                                                 "time zone) or an ISO time. Default: the latest order or event.")] = None,
    tiers: Annotated[Optional[Path], typer.Option("--tiers", help="Tier rules YAML (default: the shipped "
                                                  "diamond/gold/silver/churn-warning file).")] = None,
    k: Annotated[int, typer.Option("--k", help="Number of k-means clusters.")] = 8,
    weights: Annotated[str, typer.Option("--weights", help="current=0.4,potential=0.4,social=0.1,content=0.1")] = "",
    horizon_weeks: Annotated[int, typer.Option("--horizon-weeks", help="CLV horizon in weeks.")] = 52,
    model: Annotated[str, typer.Option("--model", help="Purchase model for P(alive) and CLV: mbgnbd, bgnbd "
                                       "or pareto.")] = "mbgnbd",
) -> None:
    """Compute traits, tiers, RFM segments, clusters, CLV and value scores for every person."""
    from flywheel.value.scoring import STEPS, ScoreOptions, score
    from flywheel.value.worth import ValueSettings
    from flywheel.warehouse import Warehouse

    current = state(ctx)
    settings = current.settings
    if k < 1:
        raise InputError(f"--k must be at least 1. Got {k}.")
    if horizon_weeks < 1:
        raise InputError(f"--horizon-weeks must be at least 1. Got {horizon_weeks}.")
    options = ScoreOptions(as_of=parse_as_of(as_of, settings.tz), tiers_file=tiers, k=k, horizon_weeks=horizon_weeks, model=model,
                           value=ValueSettings(weights=ValueSettings.parse_weights(weights)))
    with Warehouse.open(settings) as wh, progress(current) as bar:
        task = bar.add_task("scoring", total=len(STEPS))
        summary = score(wh, options, lambda step, done, total: bar.update(
            task, completed=done, description=f"scoring: {step}"))
    if current.json:
        emit(summary)
        return
    _print_summary(summary)


def _print_summary(s: dict) -> None:
    out.print(f"Scored [bold]{s['persons']:,}[/] persons ({s['buyers']:,} buyers, {s['traits']} traits) "
              f"as of {s['as_of']} · run {s['run_id']}")
    tiers = Table(title="Tiers")
    for col in ("tier", "persons", "GMV share", "rule"):
        tiers.add_column(col, justify="right" if col in ("persons", "GMV share") else "left")
    for row in s["tiers"]:
        tiers.add_row(row["tier"], f"{row['persons']:,}", f"{row['gmv_share']:.1%}", row["description"])
    out.print(tiers)
    conc = " · ".join(f"top {r['top_share']:.0%} → {r['gmv_share']:.0%}" for r in s["concentration"])
    out.print(f"GMV concentration: {conc}")
    clusters = Table(title="Clusters")
    for col in ("cluster", "persons", "description"):
        clusters.add_column(col)
    for c in s["clusters"]:
        clusters.add_row(str(c["cluster"]), f"{c['persons']:,}", c["description"])
    out.print(clusters)
    out.print(f"CLV total ¥{s['clv']['total']:,.0f} · KOCs {s['kocs']} · high potential, low activity "
              f"{s['high_potential_low_activity']} · risk alerts {s['alerts']}")


@value_app.command("alerts")
def alerts_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many alerts (largest drop first).")] = 50,
) -> None:
    """Risk alerts of the latest scoring run: persons whose CLV fell > 20% since the previous run."""
    from flywheel.value import risk_alerts

    current = state(ctx)
    with acting(ctx, "value alerts") as gate:
        result = risk_alerts(gate, limit=limit)
    payload = {k: result[k] for k in ("run_id", "alerts", "shown", "items")}
    rows, run_id = result["items"], result["run_id"]
    if current.json:
        emit(payload)
        return
    if not result["alerts"]:
        out.print(f"No risk alerts in run {run_id}.")
        return
    table = Table(title=f"{result['alerts']:,} risk alert(s) in run {run_id}: "
                        "CLV down more than 20% since the previous run")
    for col in ("person", "previous CLV", "CLV", "drop", "churn probability", "tier"):
        table.add_column(col, justify="left" if col in ("person", "tier") else "right")
    for r in rows:
        churn = "n/a" if r["churn_probability"] is None else f"{r['churn_probability']:.0%}"
        table.add_row(r["person_id"], f"¥{r['previous_value']:,.0f}", f"¥{r['potential_value']:,.0f}",
                      f"{r['drop_share']:.0%}", churn, r["tier"] or "")
    out.print(table)
