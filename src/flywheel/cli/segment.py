"""`flywheel segment apply|list|refresh|show|members`: parse, pass the gate, call, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, acting, emit, open_warehouse, out, parse_instant, state

segment_app = typer.Typer(help="Segments: rule-defined sets of persons, always current.", no_args_is_help=True)


@segment_app.command("apply")
def apply_command(ctx: typer.Context,
                  files: Annotated[Optional[list[Path]], typer.Argument(help="Segment YAML files (docs/activation.md).")] = None,
                  shipped: Annotated[bool, typer.Option("--shipped", help="Also the segments Flywheel ships "
                                                        "(tiers, KOCs, CLV-drop alerts, lapsed VIPs, …).")] = False) -> None:
    """Create or update segments; every rule is checked against the warehouse first."""
    from flywheel.activate import apply_segments, load_segment_files
    from flywheel.activate.segments import shipped_segments_file
    from flywheel.errors import InputError

    paths = list(files or []) + ([shipped_segments_file()] if shipped else [])
    if not paths:
        raise InputError("give segment files, or --shipped")
    segments = load_segment_files(paths)
    with acting(ctx, "segment apply") as gate:
        outcome = apply_segments(gate, segments)
    if state(ctx).json:
        emit({"segments": outcome})
    else:
        out.print("\n".join(f"{o['name']}: {o['status']}" for o in outcome))


@segment_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Segments with their size and last refresh."""
    from flywheel.activate.segments import list_segments

    with open_warehouse(ctx) as wh:
        rows = list_segments(wh)
    if state(ctx).json:
        emit({"segments": rows})
        return
    t = Table(title=f"{len(rows)} segments")
    for c in ("segment", "members", "refreshed at (--now)", "mode", "description"):
        t.add_column(c, justify="right" if c == "members" else "left")
    for r in rows:
        t.add_row(r["name"], f"{r['members']:,}", f"{r['refreshed_now']:%Y-%m-%d %H:%M}" if r["refreshed_now"] else "never",
                  r["mode"] or "", r["description"])
    out.print(t)


@segment_app.command("refresh")
def refresh_command(
    ctx: typer.Context,
    now: Annotated[Optional[str], typer.Option("--now", help="The clock to refresh at (ISO time; merchant time "
                                               "zone if none). Default: now.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Rebuild every segment instead of refreshing incrementally.")] = False,
    name: Annotated[Optional[list[str]], typer.Option("--segment", help="Only this segment (and what it refers to); repeat.")] = None,
) -> None:
    """Bring segments up to date: only persons with new data or a window the clock passed are evaluated again."""
    from flywheel.activate.segments import refresh

    import datetime as dt

    current = state(ctx)
    clock = parse_instant(now, current.settings.tz, "--now") or dt.datetime.now(dt.timezone.utc)
    with acting(ctx, "segment refresh") as gate:
        results = refresh(gate, clock, names=name, full=full)
    payload = {"now": clock.isoformat(), "segments": [r.as_dict() for r in results]}
    if current.json:
        emit(payload)
        return
    t = Table(title=f"Segments refreshed at {payload['now']}")
    for c in ("segment", "mode", "members", "entered", "exited", "evaluated", "s"):
        t.add_column(c, justify="left" if c in ("segment", "mode") else "right")
    for r in results:
        t.add_row(r.segment, r.mode, f"{r.members:,}", f"{r.entered:,}", f"{r.exited:,}",
                  "all" if r.candidates is None else f"{r.candidates:,}", f"{r.seconds:.2f}")
    out.print(t)


@segment_app.command("show")
def show_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Segment name.")],
                 sample: Annotated[int, typer.Option(help="Members shown.")] = 10) -> None:
    """A segment's rule, size, last refresh and a sample of members (masked by role)."""
    import json

    from flywheel.activate.segments import show_segment

    with acting(ctx, "segment show") as gate:
        shown = show_segment(gate, name, sample)
    if state(ctx).json:
        emit(shown)
        return
    out.print(f"[bold]{shown['name']}[/] · {shown['members']:,} members · {shown['description']}")
    out.print("rule: " + json.dumps(shown["rule"], ensure_ascii=False))
    last = shown["last_refresh"]
    if last:
        out.print(f"last refresh {last['now']:%Y-%m-%d %H:%M} ({last['mode']}): +{last['entered']:,} −{last['exited']:,}")
    for m in shown["sample"]:
        out.print(f"  {m['person_id'] or '[withheld]'}  since {m['entered_at']:%Y-%m-%d %H:%M}")


@segment_app.command("members")
def members_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Segment name.")],
    out_file: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    trait: Annotated[Optional[list[str]], typer.Option("--trait", help="Also write this trait; repeat.")] = None,
    purpose: Annotated[Optional[str], typer.Option("--purpose", help="Only members whose consent allows this purpose.")] = None,
) -> None:
    """Write a segment's members (person_id plus requested traits), masked by role."""
    from flywheel.activate.segments import export_members

    with acting(ctx, f"segment members {name}") as gate:
        rows = export_members(gate, name, out_file, trait or [], purpose)
    if state(ctx).json:
        emit({"segment": name, "out": str(out_file), "rows": rows, "purpose": purpose})
    else:
        out.print(f"Wrote {rows:,} members of {name} to {out_file}")
