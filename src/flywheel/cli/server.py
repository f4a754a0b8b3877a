"""`flywheel serve`, `flywheel sources …` and `flywheel events …`: parse, call, print."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, acting, emit, err, out, state

sources_app = typer.Typer(help="Sources and their write keys.", no_args_is_help=True)
events_app = typer.Typer(help="Collected events.", no_args_is_help=True)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    load_interval: Annotated[float, typer.Option(help="Seconds between spool loads into the warehouse.")] = 1.0,
    tick_every: Annotated[Optional[str], typer.Option(
        "--tick-every", help="Also run one journey tick every interval (60s, 5m, 1h), as the acting role, "
        "which must be allowed activate.run (marketer, owner, service).", show_default=False)] = None,
) -> None:
    """Run the Segment-compatible collection server (POST /v1/track, /v1/batch, …, /v1/inbound/sms),
    and with --tick-every the journey scheduler."""
    from flywheel.server import serve as run
    from flywheel.server.scheduler import check_role, parse_interval

    current = state(ctx)
    every = parse_interval(tick_every) if tick_every is not None else None
    if every is not None:
        check_role(current.settings)
    if not current.json:
        err.print(f"Collecting on http://{host}:{port} into {current.settings.db_path}"
                  + (f"; journey ticks every {every:g} s as {current.settings.role}" if every else ""))
    run(current.settings, host=host, port=port, load_interval=load_interval, tick_every=every)


@sources_app.command("add")
def sources_add(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Source name, e.g. web.")]) -> None:
    """Create a source and print its new write key (shown once; only its hash is stored)."""
    from flywheel.server import add_source

    current = state(ctx)
    with acting(ctx, "sources add", warehouse=False) as gate:
        key = add_source(gate, name)
    if current.json:
        emit({"source": name, "write_key": key})
    else:
        print(key)


@sources_app.command("list")
def sources_list(ctx: typer.Context) -> None:
    """Source names that have write keys."""
    from flywheel.server import WriteKeys, keys_file

    current = state(ctx)
    names = WriteKeys(keys_file(current.settings.db_path)).names()
    if current.json:
        emit({"sources": names})
    else:
        print("\n".join(names))


@events_app.command("stats")
def events_stats(ctx: typer.Context) -> None:
    """Stored events by type and source (loads anything a stopped server left spooled)."""
    from flywheel.server import event_stats

    current = state(ctx)
    stats = event_stats(current.settings)
    if current.json:
        emit(stats)
        return
    table = Table(title=f"{stats['total']:,} events")
    table.add_column("by")
    table.add_column("value")
    table.add_column("events", justify="right")
    for by in ("by_type", "by_source"):
        for value, n in stats[by].items():
            table.add_row(by[3:], str(value), f"{n:,}")
    out.print(table)
