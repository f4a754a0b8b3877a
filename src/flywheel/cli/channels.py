"""`flywheel channels report`: read a stored attribution run, price it, print the advisor's notes."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, emit, open_warehouse, out, state

channels_app = typer.Typer(help="Channels: spend, CAC, ROI, LTV:CAC and payback per channel, with the advisor.",
                           no_args_is_help=True)


@channels_app.command("report")
def report_command(
    ctx: typer.Context,
    run: Annotated[Optional[str], typer.Option("--run", help="Attribution run id (default: the latest).")] = None,
    model: Annotated[str, typer.Option("--model", help="Whose credits price the channels.")] = "markov",
    healthy: Annotated[float, typer.Option("--healthy-ltv-cac", help="LTV:CAC at or above this is healthy.")] = 3.0,
    low_cac: Annotated[float, typer.Option("--low-cac", help="CAC (yuan) under which private-domain operations "
                                           "are favoured.")] = 140.0,
    high_cac: Annotated[float, typer.Option("--high-cac", help="CAC (yuan) over which the SEM rule applies.")] = 350.0,
) -> None:
    """Economics per channel and campaign from the latest (or a given) attribution run."""
    from flywheel.measure import AdvisorRules, channel_report

    rules = AdvisorRules(healthy_ltv_cac=healthy, low_cac_yuan=low_cac, high_cac_yuan=high_cac)
    with open_warehouse(ctx) as wh:
        result = channel_report(wh, run, model, rules)
    if state(ctx).json:
        emit(result)
        return
    t = Table(title=f"channels under {model} credit, run {result['run_id']} "
                    f"({result['period'][0][:10]} to {result['period'][1][:10]})")
    for c in ("channel", "cost ¥", "conversions", "revenue ¥", "new", "CAC ¥", "ROI", "CLV ¥", "LTV:CAC",
              "payback mo"):
        t.add_column(c, justify="left" if c == "channel" else "right", no_wrap=c == "channel")
    for c in result["channels"]:
        t.add_row(c["channel"], f"{c['cost_yuan']:,.0f}", f"{c['conversions']:,.1f}", f"{c['revenue_yuan']:,.0f}",
                  f"{c['new_customers']:,.1f}", _f(c["cac_yuan"], ",.0f"), _f(c["roi"], "+.1f"),
                  _f(c["avg_clv_yuan"], ",.0f"), _f(c["ltv_cac"], ".1f"), _f(c["payback_months"], ".1f"))
    out.print(t)
    for c in result["channels"]:
        for note in c["notes"]:
            out.print(f"[bold]{c['channel']}[/bold] ({note['rule']}): {note['text']}")


def _f(v, spec: str) -> str:
    return "—" if v is None else format(v, spec)
