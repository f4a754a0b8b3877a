"""`flywheel keys …` (console and read-API keys) and `flywheel insight …` (the console's metrics)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, acting, emit, open_warehouse, out, state

keys_app = typer.Typer(help="Keys for the console and the read API (/api/v1), each bound to a role.",
                       no_args_is_help=True)
insight_app = typer.Typer(help="The console's metrics: rollups, overview, retention, funnel.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="Role the key acts in (roles.yaml): owner, analyst, …",
                                      show_default=False)],
    name: Annotated[Optional[str], typer.Option("--name", help="A name to tell the key by (default role-id).",
                                                show_default=False)] = None,
) -> None:
    """Create a key and print it once (only its hash is kept). Needs keys.manage (owner)."""
    from flywheel.console.keys import create_key

    with acting(ctx, "keys create", warehouse=False) as gate:
        secret, key = create_key(gate, role, name)
    if state(ctx).json:
        emit(key.as_json() | {"key": secret})
    else:
        print(secret)


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """Keys with their id, name, role and state (never the key itself)."""
    from flywheel.console.keys import list_keys

    with acting(ctx, "keys list", warehouse=False) as gate:
        keys = list_keys(gate)
    if state(ctx).json:
        emit({"keys": [k.as_json() for k in keys]})
        return
    t = Table(title=f"{sum(k.active for k in keys)} active keys")
    for c in ("id", "name", "role", "created", "by", "state"):
        t.add_column(c)
    for k in keys:
        t.add_row(k.id, k.name, k.role, k.created_at, k.created_by,
                  "active" if k.active else f"revoked {k.revoked_at}")
    out.print(t)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, ref: Annotated[str, typer.Argument(help="Key id (or its name).")]) -> None:
    """Revoke a key: it stops working at once, also for sessions logged in with it."""
    from flywheel.console.keys import revoke_key

    with acting(ctx, "keys revoke", warehouse=False) as gate:
        key = revoke_key(gate, ref)
    if state(ctx).json:
        emit(key.as_json())
    else:
        out.print(f"revoked {key.id} ({key.name}, {key.role}) at {key.revoked_at}")


@insight_app.command("build")
def insight_build(ctx: typer.Context) -> None:
    """Rebuild the rollups the console and /api/v1/metrics read (the pipeline's insight stage)."""
    from flywheel.insight import build_rollups

    with open_warehouse(ctx) as wh:
        record = build_rollups(wh)
    if state(ctx).json:
        emit(record)
    else:
        out.print(f"{record['person_days']:,} person-days, {record['persons']:,} persons, "
                  f"{record['funnel_events']:,} funnel events in {record['seconds']:.1f} s")


Start = Annotated[Optional[str], typer.Option("--start", help="First day (YYYY-MM-DD, merchant calendar).",
                                              show_default=False)]
End = Annotated[Optional[str], typer.Option("--end", help="Last day, included.", show_default=False)]


@insight_app.command("overview")
def insight_overview(
    ctx: typer.Context, start: Start = None, end: End = None,
    source: Annotated[Optional[list[str]], typer.Option("--source", help="Only these sources (repeatable).",
                                                        show_default=False)] = None,
) -> None:
    """GMV, net, orders, buyers, AOV, repeat rate, new vs returning, link rate, blended LTV:CAC."""
    from flywheel.insight import Period, overview

    period = Period.parse(start, end)
    with open_warehouse(ctx) as wh:
        result = overview(wh, period, source or ())
    if state(ctx).json:
        emit(result)
        return
    t = Table(title=f"overview {period.as_json()['start'] or '…'} to {period.as_json()['end'] or '…'}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in result["figures"].items():
        t.add_row(k, "—" if v is None else f"{v:,.4g}" if isinstance(v, float) else f"{v:,}")
    out.print(t)


@insight_app.command("retention")
def insight_retention(
    ctx: typer.Context,
    grain: Annotated[str, typer.Option("--grain", help="week or month.")] = "month",
    basis: Annotated[str, typer.Option("--basis", help="purchase (first order) or event (first activity).")] = "purchase",
) -> None:
    """Cohort retention: share of each cohort active again in each later week or month."""
    from flywheel.insight import retention

    with open_warehouse(ctx) as wh:
        result = retention(wh, grain, basis)
    if state(ctx).json:
        emit(result)
        return
    t = Table(title=f"{basis} retention by {grain}, data to {result['as_of']}")
    t.add_column("cohort")
    t.add_column("size", justify="right")
    for k in range(result.get("periods", 0) + 1):
        t.add_column(str(k), justify="right")
    for c in result["cohorts"]:
        t.add_row(c["cohort"], f"{c['size']:,}", *("" if x is None else f"{x['rate']:.0%}" for x in c["cells"]))
    out.print(t)


@insight_app.command("funnel")
def insight_funnel(
    ctx: typer.Context,
    steps: Annotated[list[str], typer.Argument(help="Track event names in order.")],
    start: Start = None, end: End = None,
    window: Annotated[float, typer.Option("--window-days", help="Days from step 1 to reach each step.")] = 14,
) -> None:
    """An ordered funnel over track events, the date range filtering step 1."""
    from flywheel.insight import Period, funnel

    with open_warehouse(ctx) as wh:
        result = funnel(wh, steps, Period.parse(start, end), window)
    if state(ctx).json:
        emit(result)
        return
    t = Table(title=f"funnel, {window:g}-day window")
    for c in ("step", "event", "persons", "conversion", "from previous", "dropped"):
        t.add_column(c, justify="left" if c == "event" else "right")
    for s in result["steps"]:
        t.add_row(str(s["step"]), s["event"], f"{s['persons']:,}", _pct(s["conversion"]), _pct(s["step_conversion"]),
                  f"{s['dropped']:,}")
    out.print(t)


def _pct(v) -> str:
    return "—" if v is None else f"{v:.1%}"
