"""`flywheel journey apply|run|status|outbox|pause|resume`: parse, pass the gate, call, print."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, acting, emit, out, parse_instant, state

journey_app = typer.Typer(help="Lifecycle journeys: trigger → waits and branches → coupons and messages.",
                          no_args_is_help=True)


@journey_app.command("apply")
def apply_command(ctx: typer.Context,
                  files: Annotated[Optional[list[Path]], typer.Argument(
                      help="Journey YAML files (docs/activation.md).")] = None,
                  example: Annotated[bool, typer.Option("--example", help="Also the example journey Flywheel "
                                                        "ships (community win-back).")] = False) -> None:
    """Create or update journeys; every rule and template is checked first."""
    from flywheel.activate.running import apply_journeys, example_journey_files
    from flywheel.errors import InputError

    paths = list(files or []) + (example_journey_files() if example else [])
    if not paths:
        raise InputError("give journey files, or --example")
    with acting(ctx, "journey apply") as gate:
        outcome = apply_journeys(gate, paths)
    if state(ctx).json:
        emit({"journeys": outcome})
    else:
        out.print("\n".join(f"{o['name']}: {o['status']}" for o in outcome))


@journey_app.command("run")
def run_command(
    ctx: typer.Context,
    now: Annotated[Optional[str], typer.Option("--now", help="The tick clock (ISO time; merchant time zone if "
                                               "none). Default: now.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only: change nothing, send nothing.")] = False,
    plan: Annotated[Optional[Path], typer.Option("--plan", help="Write the planned actions (JSON lines) here.")] = None,
    journey: Annotated[Optional[list[str]], typer.Option("--journey", help="Only this journey; repeat.")] = None,
) -> None:
    """One tick: refresh segments, enrol, advance, and send what is due under every guard."""
    from flywheel.activate.running import run

    current = state(ctx)
    clock = parse_instant(now, current.settings.tz, "--now") or dt.datetime.now(dt.timezone.utc)
    with acting(ctx, "journey run") as gate:
        result = run(gate, clock, dry_run=dry_run, names=journey)
    if plan is not None:
        plan.parent.mkdir(parents=True, exist_ok=True)
        with plan.open("w", encoding="utf-8") as f:
            for row in result.plan:
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    payload = result.as_dict()
    if current.json:
        emit(payload)
        return
    t = Table(title=f"Journey tick at {payload['now']}" + (" (dry run)" if dry_run else ""))
    for c in ("journey", "entered", "holdout", "sent", "skipped", "deferred", "exited", "completed"):
        t.add_column(c, justify="left" if c in ("journey", "sent", "skipped") else "right")
    for j in payload["journeys"]:
        t.add_row(j["name"], str(j["entered"]), str(j["holdout"]),
                  ", ".join(f"{k} {v}" for k, v in j["sent"].items()) or "0",
                  ", ".join(f"{k} {v}" for k, v in j["skipped"].items()) or "0",
                  str(j["deferred"]), str(j["exited"]), str(j["completed"]))
    out.print(t)


@journey_app.command("status")
def status_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Journey name.")]) -> None:
    """The funnel by group: entered → sent → converted, and the lift over the holdout."""
    from flywheel.activate.running import journey_status

    with acting(ctx, "journey status") as gate:
        shown = journey_status(gate, name)
    if state(ctx).json:
        emit(shown)
        return
    out.print(f"[bold]{shown['name']}[/] ({shown['status']})")
    for group, g in shown["groups"].items():
        if group == "lift":
            lo, hi = g["ci95"]
            out.print(f"lift: {g['difference']:+.1%} (treatment {g['treatment_rate']:.1%} vs holdout "
                      f"{g['holdout_rate']:.1%}; 95% CI {lo:+.1%} to {hi:+.1%})")
        else:
            rate = "n/a" if g["conversion_rate"] is None else f"{g['conversion_rate']:.1%}"
            out.print(f"{group}: {g['entered']:,} entered · {g['sent']:,} sent · {g['converted']:,} converted ({rate})"
                      f" · {g['redeemed']:,} redeemed a coupon · {g['active']:,} still in")


@journey_app.command("outbox")
def outbox_command(ctx: typer.Context, name: Annotated[Optional[str], typer.Argument(help="Journey name.")] = None,
                   limit: Annotated[int, typer.Option(help="Actions shown (newest first).")] = 20) -> None:
    """Actions by status and reason, and the latest ones (person ids masked by role)."""
    from flywheel.activate.running import outbox_rows

    with acting(ctx, "journey outbox") as gate:
        shown = outbox_rows(gate, name, limit)
    if state(ctx).json:
        emit(shown)
        return
    out.print(" · ".join(f"{k} {v:,}" for k, v in sorted(shown["counts"].items())) or "no actions")
    for a in shown["actions"]:
        out.print(f"{a['scheduled_at']:%Y-%m-%d %H:%M} {a['status']:<8} {a['channel']:<6} {a['journey']} "
                  f"{a['person_id'] or '[withheld]'} step {a['step']} {a['reason'] or ''}")


def _status(ctx: typer.Context, name: str, status: str) -> None:
    from flywheel.activate.running import set_status

    with acting(ctx, f"journey {status}") as gate:
        set_status(gate, name, status)
    if state(ctx).json:
        emit({"name": name, "status": status})
    else:
        out.print(f"{name}: {status}")


@journey_app.command("pause")
def pause_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Journey name.")]) -> None:
    """Stop enrolling and sending (episodes keep their place)."""
    _status(ctx, name, "paused")


@journey_app.command("resume")
def resume_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Journey name.")]) -> None:
    """Enrol and send again."""
    _status(ctx, name, "active")
