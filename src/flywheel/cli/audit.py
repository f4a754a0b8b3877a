"""`flywheel audit …`: verify the tamper-evident log and show its entries. Parse, call, print."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, acting, emit, out, state

audit_app = typer.Typer(help="The tamper-evident audit log: who did what to whose data, and why.",
                        no_args_is_help=True)


@audit_app.command("verify")
def verify_command(ctx: typer.Context) -> None:
    """Check every entry's hash chain and every checkpoint's Merkle root and signature; exit 1 if broken."""
    from flywheel.privacy.audit import AuditLogBroken
    from flywheel.privacy import audit_verify

    with acting(ctx, "audit verify", warehouse=False) as gate:
        report = audit_verify(gate)
    if state(ctx).json:
        emit(report.as_dict())
    elif report.ok:
        tail = f", {report.unsigned_tail:,} after it not yet signed" if report.unsigned_tail else ""
        out.print(f"Audit log OK: {report.entries:,} entries, {report.checkpoints:,} signed checkpoints "
                  f"(last covers {report.covered:,}){tail}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise AuditLogBroken(report.problem)


@audit_app.command("show")
def show_command(
    ctx: typer.Context,
    action: Annotated[Optional[str], typer.Option("--action", help="Only entries of this action, e.g. privacy.erase.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show the most recent N matching entries.")] = 50,
) -> None:
    """List the most recent entries, oldest first (one JSON object per line with --json). Does not verify."""
    from flywheel.privacy import audit_entries

    current = state(ctx)
    with acting(ctx, "audit show", warehouse=False) as gate:
        entries = audit_entries(gate, action=action, limit=limit)
    if current.json:
        for entry in entries:
            emit(entry)
        return
    if not entries:
        out.print("No audit entries" + (f" with action {action}" if action else "") + ".")
        return
    t = Table(title=f"Audit log · last {len(entries)} entries" + (f" · {action}" if action else ""))
    for c in ("seq", "at (UTC)", "actor", "role", "action", "target", "purpose", "detail"):
        t.add_column(c, justify="right" if c == "seq" else "left")
    for e in entries:
        t.add_row(str(e["seq"]), e["at"][:19].replace("T", " "), e["actor"], e["role"], e["action"], e["target"],
                  e["purpose"] or "", json.dumps(e["detail"], ensure_ascii=False) if e["detail"] else "")
    out.print(t)
