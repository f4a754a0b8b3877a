"""`flywheel delivery apply|show`: parse, pass the gate, call, print. Secrets are never printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flywheel.cli.common import Table, acting, emit, open_warehouse, out, state

delivery_app = typer.Typer(help="Delivery settings: SMTP, webhook endpoints (sms, wecom, …), quiet hours, caps.",
                           no_args_is_help=True)


@delivery_app.command("apply")
def apply_command(ctx: typer.Context,
                  file: Annotated[Path, typer.Argument(help="Delivery settings YAML (docs/activation.md, Delivery).")]) -> None:
    """Check the file and make it the settings in force (owner only); secrets are stored sealed.
    Applying again re-enables endpoints a 410 disabled."""
    from flywheel.activate.delivery import apply_delivery

    with acting(ctx, "delivery apply") as gate:
        result = apply_delivery(gate, file)
    if state(ctx).json:
        emit(result)
    else:
        out.print(f"Applied delivery settings {result['settings_id']} from {result['file']}: "
                  f"channels {', '.join(result['channels'])}")


@delivery_app.command("show")
def show_command(ctx: typer.Context) -> None:
    """The settings in force, secrets masked, and each endpoint's state."""
    from flywheel.activate.delivery import show_delivery

    with open_warehouse(ctx) as wh:
        shown = show_delivery(wh)
    if state(ctx).json:
        emit(shown)
        return
    out.print(f"[bold]Delivery settings {shown['settings_id']}[/] applied {shown['applied_at']:%Y-%m-%d %H:%M} UTC "
              f"by {shown['applied_by']} from {shown['file']}")
    t = Table(title="Endpoints")
    for c in ("channel", "endpoint", "status", "since", "detail"):
        t.add_column(c, overflow="fold")
    for e in shown["endpoints"]:
        t.add_row(e["channel"], e["endpoint"], e["status"], f"{e['since']:%Y-%m-%d %H:%M}" if e["since"] else "",
                  e["detail"] or "")
    out.print(t)
    out.print(json.dumps(shown["settings"], ensure_ascii=False, indent=2, default=str), markup=False, highlight=False)
