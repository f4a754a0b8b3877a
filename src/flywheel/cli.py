"""The `flywheel` command: parse, call a capability, print. No business rules here."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from flywheel import __version__
from flywheel.config import Settings, load_settings
from flywheel.errors import FlywheelError

app = typer.Typer(help="Flywheel: turn multi-channel e-commerce data into customer assets.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
err = Console(stderr=True)
out = Console()


@dataclass
class State:
    settings: Settings
    json: bool
    db_given: bool


def _version(value: bool) -> None:
    if value:
        print(f"flywheel {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[Optional[Path], typer.Option("--db", help="Warehouse file (DuckDB) or directory (Spark). Env FLYWHEEL_DB.")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", help="duckdb or spark. Env FLYWHEEL_ENGINE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout, nothing else.")] = False,
    role: Annotated[Optional[str], typer.Option("--role", help="Acting role: owner, privacy_officer, analyst, marketer, service, auditor. Env FLYWHEEL_ROLE; default analyst.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details to stderr.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings().with_overrides(db_path=db, engine=engine, role=role)
    from flywheel.privacy.roles import role_named

    role_named(settings.role)
    ctx.obj = State(settings, as_json, db is not None)


def _progress(state: State) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, disable=state.json, transient=False)


def _emit(state: State, payload: dict) -> None:
    if state.json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")


@app.command()
def generate(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the export files and truth/.")],
    persons: Annotated[int, typer.Option(help="Number of simulated persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same bytes.")] = 7,
) -> None:
    """Write a simulated merchant's export files plus truth/ ground truth."""
    from flywheel.simulate import generate as simulate

    state: State = ctx.obj
    with _progress(state) as bar:
        task = bar.add_task("simulating persons", total=persons)
        summary = simulate(out_dir, persons=persons, seed=seed,
                           progress=lambda done, total: bar.update(task, completed=done))
    payload = {"out": str(summary.out_dir), "persons": summary.persons, "files": summary.files,
               "seconds": round(summary.seconds, 2)}
    if state.json:
        _emit(state, payload)
        return
    table = Table(title=f"Simulated {persons:,} persons in {summary.seconds:.1f} s → {out_dir}")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, rows in summary.files.items():
        table.add_row(name, f"{rows:,}")
    out.print(table)


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Export files or directories.")],
    source: Annotated[str, typer.Option(help="auto, an adapter name (shopify, taobao, …) or a source (tmall).")] = "auto",
    mapping: Annotated[Optional[Path], typer.Option(help="YAML column mapping for the generic adapter.")] = None,
) -> None:
    """Load export files; report loaded / duplicate / quarantined rows per file."""
    from flywheel.collect import ingest_paths
    from flywheel.warehouse import Warehouse

    state: State = ctx.obj
    with Warehouse.open(state.settings) as wh, _progress(state) as bar:
        task = bar.add_task("ingesting", total=None)

        def on_file(path: Path, done: int, total: int) -> None:
            bar.update(task, total=total, completed=done, description=f"ingesting {path.name}")

        report = ingest_paths(wh, paths, source=source, mapping=mapping, progress=on_file)
    if state.json:
        _emit(state, report.as_json())
        return
    _print_ingest(report)


COUNTS = ("rows", "loaded", "updated", "duplicates", "quarantined")


def _print_ingest(report) -> None:
    table = Table(title="Ingested")
    for col in ("file", "source", "rows", "loaded", "updated", "duplicates", "quarantined"):
        table.add_column(col, justify="right" if col not in ("file", "source") else "left")
    for f in report.files:
        note = " (already applied)" if f.already_applied else ""
        shown = "/".join(Path(f.path).parts[-2:])
        table.add_row(shown + note, f.source, *(f"{getattr(f, k):,}" for k in COUNTS))
    table.add_row("total", "", *(f"{report.total(k):,}" for k in COUNTS))
    out.print(table)
    reasons: dict[str, int] = {}
    for f in report.files:
        for r, n in f.quarantine_reasons.items():
            reasons[r] = reasons.get(r, 0) + n
    if report.skipped:
        out.print(f"Skipped {len(report.skipped):,} file(s) that are not exports, e.g. {report.skipped[0]['path']}: "
                  f"{report.skipped[0]['reason']}")
    if reasons:
        out.print("Quarantine reasons: " + "; ".join(f"{r} ×{n}" for r, n in sorted(reasons.items(), key=lambda x: -x[1])))


@app.command()
def demo(
    ctx: typer.Context,
    persons: Annotated[int, typer.Option(help="Number of simulated persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for data, warehouse and report.html.")] = Path("demo-output"),
) -> None:
    """Simulate a merchant, run every stage, write DIR/report.html and print a summary."""
    from flywheel.collect import ingest_paths
    from flywheel.collect.summary import summarize
    from flywheel.identity import resolve as resolve_identities
    from flywheel.identity.probabilistic import match_accounts
    from flywheel.report import build_report
    from flywheel.simulate import generate as simulate
    from flywheel.value import score
    from flywheel.warehouse import Warehouse

    state: State = ctx.obj
    settings = state.settings if state.db_given else state.settings.with_overrides(
        db_path=out_dir / ("flywheel.duckdb" if state.settings.engine == "duckdb" else "warehouse"))
    started = time.perf_counter()
    with _progress(state) as bar:
        task = bar.add_task("simulating persons", total=persons)
        sim = simulate(out_dir / "data", persons=persons, seed=seed,
                       progress=lambda done, total: bar.update(task, completed=done))
        with Warehouse.open(settings) as wh:
            ingest_task = bar.add_task("ingesting files", total=None)
            report = ingest_paths(wh, [out_dir / "data"], progress=lambda p, d, t: bar.update(
                ingest_task, total=t, completed=d, description=f"ingesting {p.name}"))
            identity_task = bar.add_task("resolving identities", total=1)
            people = resolve_identities(wh, matcher=match_accounts)
            bar.update(identity_task, completed=1)
            value_task = bar.add_task("scoring value", total=1)
            value = score(wh, progress=lambda step, done, total: bar.update(
                value_task, total=total, completed=done, description=f"scoring value: {step}"))
            report_task = bar.add_task("writing report", total=1)
            summary = summarize(wh)
            html_path = build_report(wh, out_dir / "report.html", f"Flywheel demo · {persons:,} simulated persons",
                                     summary)
            bar.update(report_task, completed=1)
    seconds = time.perf_counter() - started
    payload = {"persons": persons, "seed": seed, "report": str(html_path), "warehouse": str(settings.db_path),
               "generated_files": sim.files, "ingest": report.as_json(), "identity": people.as_dict(),
               "totals": summary.totals,
               "value": {k: value[k] for k in ("run_id", "as_of", "persons", "buyers", "traits", "tiers",
                                               "concentration", "kocs", "alerts")},
               "seconds": round(seconds, 1)}
    if state.json:
        _emit(state, payload)
        return
    _print_ingest(report)
    t = summary.totals
    out.print(f"[bold]{t['accounts']:,}[/] accounts · [bold]{t['paid_orders']:,}[/] paid orders · GMV "
              f"[bold]¥{t['gmv_cents'] / 100:,.0f}[/] (net ¥{t['net_cents'] / 100:,.0f}) · {t['events']:,} events")
    out.print(f"[bold]{people.persons:,}[/] persons from {people.accounts:,} accounts after identity resolution")
    tiers = " · ".join(f"{t['tier']} {t['persons']:,}" for t in value["tiers"])
    out.print(f"Value: {value['buyers']:,} buyers of {value['persons']:,} persons · tiers: {tiers} · "
              f"predicted 1-year CLV ¥{value['clv']['total']:,.0f}")
    out.print(f"Report: [bold]{html_path}[/]   Warehouse: {settings.db_path}   ({seconds:.0f} s)")


def _register_subcommands() -> None:
    from flywheel.server.cli import events_app, serve, sources_app
    from flywheel.identity.cli import identity_app
    from flywheel.value.cli import clv_app
    from flywheel.value.score_cli import value_app
    from flywheel.privacy.audit_cli import audit_app
    from flywheel.privacy.cli import consent_app, person_app, privacy_app

    app.command()(serve)
    app.add_typer(sources_app, name="sources")
    app.add_typer(events_app, name="events")
    app.add_typer(identity_app, name="identity")
    app.add_typer(clv_app, name="clv", help="Customer lifetime value models (BG/NBD, Pareto/NBD, MBG/NBD, Gamma-Gamma).")
    app.add_typer(value_app, name="value", help="Traits, tiers, RFM segments, clusters, CLV, value scores and alerts.")
    app.add_typer(privacy_app, name="privacy")
    app.add_typer(consent_app, name="consent")
    app.add_typer(person_app, name="person")
    app.add_typer(audit_app, name="audit")


_register_subcommands()


def main() -> None:
    try:
        app()
    except FlywheelError as e:
        err.print(f"flywheel: {e}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
