"""`flywheel privacy …`, `flywheel consent …` and `flywheel person show`: parse, pass the gate, call, print."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, emit, out, state

privacy_app = typer.Typer(help="Data-subject rights: access copy and erasure (privacy_officer, owner).",
                          no_args_is_help=True)
consent_app = typer.Typer(help="The consent ledger: record, withdraw, show, and audiences a purpose allows.",
                          no_args_is_help=True)
person_app = typer.Typer(help="One person's data, as the acting role may see it.", no_args_is_help=True)
PurposeOpt = Annotated[list[str], typer.Option("--purpose", help="Purpose (repeat); `all` = every bundleable one.")]


@contextlib.contextmanager
def _acting(ctx: typer.Context, command: str, action: str, person: str | None = None):
    """The warehouse and the gate of one command, the action checked, and the person asked for (if any)."""
    from flywheel.privacy.gate import Gate
    from flywheel.privacy.subjects import find_subject
    from flywheel.warehouse import Warehouse

    with Warehouse.open(state(ctx).settings) as wh, Gate.open(wh.settings, wh, command) as gate:
        gate.require(action)
        yield wh, gate, (find_subject(wh, person) if person is not None else None)


@privacy_app.command("export")
def export_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                   out_file: Annotated[Path, typer.Option("--out", help="JSON file to write.")]) -> None:
    """Everything held about a person, unmasked for the person themself, as one JSON file."""
    from flywheel.privacy.dossier import access_copy

    with _acting(ctx, "privacy export", "privacy.export", person) as (wh, gate, subject):
        entries = _audit_about(gate, subject)
        copy = access_copy(wh, subject, entries)
        _write_private(out_file, json.dumps(copy, ensure_ascii=False, indent=2, default=str) + "\n")
        gate.audit("privacy.export", f"access copy of {subject.person_id}", person=subject.person_id,
                   purpose="data_subject_access", detail={"tables": sorted(copy["data"])})
    rows = sum(len(v) for v in copy["data"].values())
    if state(ctx).json:
        emit({"person_id": subject.person_id, "out": str(out_file), "tables": len(copy["data"]), "rows": rows,
               "audit_entries": len(entries)})
    else:
        out.print(f"Wrote {rows:,} rows from {len(copy['data'])} tables and {len(entries)} audit entries "
                  f"about {subject.person_id} to {out_file}")


def _write_private(path: Path, text: str) -> None:
    """The subject's copy holds their personal data unmasked: readable by the file's owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _audit_about(gate, subject) -> list[dict]:
    entries = []
    for pid in subject.person_ids:
        token = gate.vault.token(pid, create=False)
        if token is None:
            continue
        for e in gate.log.entries(subject=token):
            entries.append({k: e[k] for k in ("seq", "at", "actor", "role", "action", "purpose", "detail")}
                           | {"target": gate.vault.open(pid, e["target"]) or e["target"]})
    return sorted(entries, key=lambda e: e["seq"])


@privacy_app.command("erase")
def erase_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                  yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False) -> None:
    """Remove a person from every table, destroy their data keys, and keep a suppression entry."""
    from flywheel.privacy.erase import erase

    with _acting(ctx, "privacy erase", "privacy.erase", person) as (wh, gate, subject):
        if not yes and not typer.confirm(f"Erase person {subject.person_id} ({len(subject.accounts)} accounts) "
                                         "from every table? This cannot be undone.", err=True):
            raise typer.Abort()
        report = erase(wh, subject, actor=gate.actor.name, role=gate.actor.role.name)
        gate.audit("privacy.erase", f"erasure {report.erasure_id}", purpose="data_subject_erasure",
                   detail=report.as_dict())
    if state(ctx).json:
        emit(report.as_dict())
    else:
        d = report.as_dict()
        out.print(f"Erased: {d['rows_removed']:,} rows removed from {len(report.removed)} tables, "
                  f"{d['rows_anonymised']:,} rows of others anonymised, {report.keys_destroyed} data key(s) "
                  f"destroyed, {report.suppressed} suppression entries (erasure {report.erasure_id})")


def _record(ctx, person: str, purposes: list[str], status: str, action: str, legal_basis: str,
            notice: str | None, evidence: str | None) -> None:
    from flywheel.privacy.consent import record_consent

    with _acting(ctx, f"consent {status}", action, person) as (wh, gate, subject):
        written = record_consent(wh, subject, purposes, status, actor=gate.actor.name, legal_basis=legal_basis,
                                 notice_version=notice, evidence=evidence)
        for w in written:
            gate.audit(action, f"{w['purpose']} {status} for {subject.person_id}", person=subject.person_id,
                       purpose=w["purpose"], detail={"legal_basis": legal_basis, "notice_version": notice})
    if state(ctx).json:
        emit({"person_id": subject.person_id, "recorded": written})
    else:
        out.print(f"{subject.person_id}: " + ", ".join(f"{w['purpose']} {w['status']}" for w in written))


@consent_app.command("record")
def consent_record(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                   purpose: PurposeOpt,
                   status: Annotated[str, typer.Option(help="granted, denied or withdrawn.")] = "granted",
                   legal_basis: Annotated[str, typer.Option("--basis", help="Legal basis.")] = "consent",
                   notice: Annotated[Optional[str], typer.Option(help="Privacy notice version shown.")] = None,
                   evidence: Annotated[Optional[str], typer.Option(help="Where the choice was made.")] = None) -> None:
    """Record a person's choice for one or more purposes (separate-consent purposes one at a time)."""
    action = "consent.withdraw" if status == "withdrawn" else "consent.record"
    _record(ctx, person, purpose, status, action, legal_basis, notice, evidence)


@consent_app.command("withdraw")
def consent_withdraw(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                     purpose: PurposeOpt,
                     evidence: Annotated[Optional[str], typer.Option(help="Where the choice was made.")] = None) -> None:
    """Withdraw consent; it applies to every later selection of persons at once."""
    _record(ctx, person, purpose, "withdrawn", "consent.withdraw", "consent", None, evidence)


@consent_app.command("show")
def consent_show(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")]) -> None:
    """A person's effective status per purpose and the records behind it."""
    from flywheel.privacy.consent import consent_story

    with _acting(ctx, "consent show", "read.persons", person) as (wh, gate, subject):
        gate.about(subject.person_id)
        story = consent_story(wh, subject)
        story["history"] = gate.disclosure.records("consents", story["history"])
        story["disclosure"] = gate.disclosure.summary()
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
    import pyarrow.csv as pacsv

    from flywheel.privacy.consent import allowed

    with _acting(ctx, "consent audience", "read.persons") as (wh, gate, _):
        ids = wh.fetch(allowed(wh, purpose).order_by("person_id"))
        ids = gate.disclosure.arrow("persons", ids)
        out_file.parent.mkdir(parents=True, exist_ok=True)
        pacsv.write_csv(ids, out_file)
    if state(ctx).json:
        emit({"purpose": purpose, "persons": ids.num_rows, "out": str(out_file)})
    else:
        out.print(f"{ids.num_rows:,} persons allow {purpose}; written to {out_file}")


@person_app.command("show")
def person_show(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                limit: Annotated[int, typer.Option(help="Rows shown per table (text output).")] = 10) -> None:
    """Everything about a person, with fields above the role's level masked or withheld."""
    from flywheel.privacy.dossier import dossier

    with _acting(ctx, "person show", "read.persons", person) as (wh, gate, subject):
        gate.about(subject.person_id)
        shown = {name: gate.disclosure.records(name, rows) for name, rows in dossier(wh, subject).items()}
        summary = gate.disclosure.summary()
    if state(ctx).json:
        emit({"person_id": subject.person_id, "data": shown, "disclosure": summary})
        return
    out.print(f"[bold]Person {subject.person_id}[/] as role {summary['role']} sees it "
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
