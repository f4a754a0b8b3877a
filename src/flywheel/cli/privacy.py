"""`flywheel privacy …`, `flywheel consent …` and `flywheel person show`: parse, open the gate, call,
print. The capabilities check the role, disclose and audit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, acting, emit, out, state

privacy_app = typer.Typer(help="Data-subject rights: access copy and erasure (privacy_officer, owner).",
                          no_args_is_help=True)
consent_app = typer.Typer(help="The consent ledger: record, withdraw, show, and audiences a purpose allows.",
                          no_args_is_help=True)
person_app = typer.Typer(help="One person's data, as the acting role may see it.", no_args_is_help=True)
PurposeOpt = Annotated[list[str], typer.Option("--purpose", help="Purpose (repeat); `all` = every bundleable one.")]


@privacy_app.command("export")
def export_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                   out_file: Annotated[Path, typer.Option("--out", help="JSON file to write.")]) -> None:
    """Everything held about a person, unmasked for the person themself, as one JSON file."""
    from flywheel.loyalty import journal_copy, journal_path
    from flywheel.privacy import export_person

    with acting(ctx, "privacy export") as gate:
        summary = export_person(gate, person, out_file,
                                beside=lambda subject: journal_copy(journal_path(gate.settings), subject.person_ids))
    if state(ctx).json:
        emit(summary)
    else:
        out.print(f"Wrote {summary['rows']:,} rows from {summary['tables']} tables and {summary['audit_entries']} "
                  f"audit entries about {summary['person_id']} to {summary['out']}")


@privacy_app.command("erase")
def erase_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                  yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False) -> None:
    """Remove a person from every table, destroy their data keys, and keep a suppression entry."""
    from flywheel.loyalty import JournalErasure, journal_path
    from flywheel.privacy import erase_person

    def confirm(subject) -> bool:
        return typer.confirm(f"Erase person {subject.person_id} ({len(subject.accounts)} accounts) "
                             "from every table? This cannot be undone.", err=True)

    ids: list[str] = []
    with acting(ctx, "privacy erase") as gate, JournalErasure(journal_path(gate.settings)) as journal:

        def confirmed(subject) -> bool:
            """After the yes and before anything changes: the journal's lock (loyalty/subject.py)."""
            if not (yes or confirm(subject)):
                return False
            ids.extend(subject.person_ids)
            journal.lock()
            return True

        report = erase_person(gate, person, confirm=confirmed)
        renamed = journal.forget(ids) if report is not None else None
    if report is None:
        raise typer.Abort()
    if state(ctx).json:
        emit(report.as_dict() | {"points_journal": renamed["rows"]})
    else:
        d = report.as_dict()
        out.print(f"Erased: {d['rows_removed']:,} rows removed from {len(report.removed)} tables, "
                  f"{d['rows_anonymised']:,} rows of others anonymised, {report.keys_destroyed} data key(s) "
                  f"destroyed, {report.suppressed} suppression entries (erasure {report.erasure_id})")
        if renamed["rows"]:
            out.print(f"Points journal: {sum(renamed['rows'].values()):,} values now name {renamed['tombstone']} "
                      "instead of the person")


def _record(ctx, person: str, purposes: list[str], status: str, legal_basis: str, notice: str | None,
            evidence: str | None) -> None:
    from flywheel.privacy import consent_record

    with acting(ctx, f"consent {status}") as gate:
        result = consent_record(gate, person, purposes, status, legal_basis=legal_basis, notice_version=notice,
                                evidence=evidence)
    if state(ctx).json:
        emit(result)
    else:
        out.print(f"{result['person_id']}: " + ", ".join(f"{w['purpose']} {w['status']}" for w in result["recorded"]))


@consent_app.command("record")
def consent_record(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                   purpose: PurposeOpt,
                   status: Annotated[str, typer.Option(help="granted, denied or withdrawn.")] = "granted",
                   legal_basis: Annotated[str, typer.Option("--basis", help="Legal basis.")] = "consent",
                   notice: Annotated[Optional[str], typer.Option(help="Privacy notice version shown.")] = None,
                   evidence: Annotated[Optional[str], typer.Option(help="Where the choice was made.")] = None) -> None:
    """Record a person's choice for one or more purposes (separate-consent purposes one at a time)."""
    _record(ctx, person, purpose, status, legal_basis, notice, evidence)


@consent_app.command("withdraw")
def consent_withdraw(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                     purpose: PurposeOpt,
                     evidence: Annotated[Optional[str], typer.Option(help="Where the choice was made.")] = None) -> None:
    """Withdraw consent; it applies to every later selection of persons at once."""
    _record(ctx, person, purpose, "withdrawn", "consent", None, evidence)


@consent_app.command("reply")
def consent_reply(ctx: typer.Context,
                  phone: Annotated[str, typer.Option("--phone", help="The phone the SMS reply came from.")],
                  text: Annotated[str, typer.Option("--text", help="The reply as received.")]) -> None:
    """An SMS reply: T, TD, N, R or 退订 withdraws SMS marketing of every person holding that phone."""
    from flywheel.activate.delivery import sms_reply

    with acting(ctx, "consent reply") as gate:
        result = sms_reply(gate, phone, text, via="flywheel consent reply")
    if state(ctx).json:
        emit(result)
    elif not result["opt_out"]:
        out.print(f"{result['phone']}: {text!r} is not an opt-out reply; nothing changed")
    else:
        out.print(f"{result['phone']}: {result['keyword']} withdrew marketing_sms for {len(result['persons'])} "
                  f"person(s){': ' + ', '.join(result['persons']) if result['persons'] else ''}")


@consent_app.command("show")
def consent_show(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")]) -> None:
    """A person's effective status per purpose and the records behind it."""
    from flywheel.privacy import consent_show as show

    with acting(ctx, "consent show") as gate:
        story = show(gate, person)
    if state(ctx).json:
        emit(story)
        return
    t = Table(title=f"Consent of {story['person_id']}")
    for c in ("purpose", "status"):
        t.add_column(c)
    for p, s in story["effective"].items():
        t.add_row(p, s)
    for p, s in story["defaults"].items():
        t.add_row(p, f"[dim]{s}[/]")
    out.print(t)
    h = Table(title="Records (newest first)")
    for c in ("recorded", "purpose", "status", "basis", "notice", "source", "account", "evidence"):
        h.add_column(c)
    for r in story["history"]:
        h.add_row(f"{r['recorded_at']:%Y-%m-%d %H:%M}", r["purpose"], r["status"], r["legal_basis"] or "",
                  r["notice_version"] or "", r["source"], r["account_key"] or "[withheld]", r["evidence"] or "")
    out.print(h)


@consent_app.command("audience")
def consent_audience(ctx: typer.Context,
                     purpose: Annotated[str, typer.Option("--purpose", help="The purpose the list is for.")],
                     out_file: Annotated[Path, typer.Option("--out", help="CSV of person ids to write.")]) -> None:
    """Persons a purpose may be applied to right now (a targeting list that honours every withdrawal)."""
    from flywheel.privacy import consent_audience as audience

    with acting(ctx, "consent audience") as gate:
        result = audience(gate, purpose, out_file)
    if state(ctx).json:
        emit(result)
    else:
        out.print(f"{result['persons']:,} persons allow {purpose}; written to {result['out']}")


@person_app.command("show")
def person_show(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                limit: Annotated[int, typer.Option(help="Rows shown per table (text output).")] = 10) -> None:
    """Everything about a person, with fields above the role's level masked or withheld."""
    from flywheel.privacy import person_show as show

    with acting(ctx, "person show") as gate:
        result = show(gate, person)
    if state(ctx).json:
        emit(result)
        return
    shown, summary = result["data"], result["disclosure"]
    out.print(f"[bold]Person {result['person_id']}[/] as role {summary['role']} sees it "
              f"(masked: {len(summary['masked'])} fields, withheld: {len(summary['withheld'])})")
    for name, rows in shown.items():
        hidden = {c.split(".", 1)[1] for c in summary["withheld"] if c.startswith(name + ".")}
        cols = [c for c in rows[0] if c != "run_id" and (c in hidden or any(r[c] is not None for r in rows[:limit]))]
        t = Table(title=f"{name} ({len(rows):,}{', first ' + str(limit) if len(rows) > limit else ''})")
        for c in cols:
            t.add_column(c, overflow="fold")
        for r in rows[:limit]:
            t.add_row(*(_cell(r[c], c in hidden) for c in cols))
        out.print(t)


def _cell(value, withheld: bool) -> str:
    if value is None:
        return "[dim]withheld[/]" if withheld else ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)
