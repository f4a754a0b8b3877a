"""`flywheel serve`, `flywheel sources …` and `flywheel events …`: parse, call, print."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

sources_app = typer.Typer(help="Sources and their write keys.", no_args_is_help=True)
events_app = typer.Typer(help="Collected events.", no_args_is_help=True)
out = Console()


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    load_interval: Annotated[float, typer.Option(help="Seconds between spool loads into the warehouse.")] = 1.0,
) -> None:
    """Run the Segment-compatible collection server (POST /v1/track, /v1/batch, …)."""
    from flywheel.server import serve as run

    state = ctx.find_root().obj
    if not state.json:
        Console(stderr=True).print(f"Collecting on http://{host}:{port} into {state.settings.db_path}")
    run(state.settings, host=host, port=port, load_interval=load_interval)


@sources_app.command("add")
def sources_add(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Source name, e.g. web.")]) -> None:
    """Create a source and print its new write key (shown once; only its hash is stored)."""
    from flywheel.server import WriteKeys, keys_file

    from flywheel.privacy import Gate

    state = ctx.find_root().obj
    with Gate.open(state.settings, None, "sources add") as gate:
        gate.require("keys.manage")
        key = WriteKeys(keys_file(state.settings.db_path)).add(name)
        gate.audit("keys.create", f"write key for source {name}", detail={"source": name})
    if state.json:
        sys.stdout.write(json.dumps({"source": name, "write_key": key}) + "\n")
    else:
        print(key)


@sources_app.command("list")
def sources_list(ctx: typer.Context) -> None:
    """Source names that have write keys."""
    from flywheel.server import WriteKeys, keys_file

    state = ctx.find_root().obj
    names = WriteKeys(keys_file(state.settings.db_path)).names()
    if state.json:
        sys.stdout.write(json.dumps({"sources": names}) + "\n")
    else:
        print("\n".join(names))


@events_app.command("stats")
def events_stats(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Same as the global --json.")] = False,
) -> None:
    """Stored events by type and source (loads anything a stopped server left spooled)."""
    from flywheel.server import event_stats

    state = ctx.find_root().obj
    stats = event_stats(state.settings)
    if state.json or as_json:
        sys.stdout.write(json.dumps(stats, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"{stats['total']:,} events")
    table.add_column("by")
    table.add_column("value")
    table.add_column("events", justify="right")
    for by in ("by_type", "by_source"):
        for value, n in stats[by].items():
            table.add_row(by[3:], str(value), f"{n:,}")
    out.print(table)
