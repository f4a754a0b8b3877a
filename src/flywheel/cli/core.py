"""`flywheel generate`, `flywheel ingest` and `flywheel demo`: parse, call, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, emit, out, progress, stage_bars, state


def generate(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the export files and truth/.")],
    persons: Annotated[int, typer.Option(help="Number of simulated persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same bytes.")] = 7,
) -> None:
    """Write a simulated merchant's export files plus truth/ ground truth."""
    from flywheel.simulate import generate as simulate

    current = state(ctx)
    with progress(current) as bar:
        task = bar.add_task("simulating persons", total=persons)
        summary = simulate(out_dir, persons=persons, seed=seed,
                           progress=lambda done, total: bar.update(task, completed=done))
    payload = {"out": str(summary.out_dir), "persons": summary.persons, "files": summary.files,
               "seconds": round(summary.seconds, 2)}
    if current.json:
        emit(payload)
        return
    table = Table(title=f"Simulated {persons:,} persons in {summary.seconds:.1f} s → {out_dir}")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, rows in summary.files.items():
        table.add_row(name, f"{rows:,}")
    out.print(table)


def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Export files or directories.")],
    source: Annotated[str, typer.Option(help="auto, an adapter name (shopify, taobao, …) or a source (tmall).")] = "auto",
    mapping: Annotated[Optional[Path], typer.Option(help="YAML column mapping for the generic adapter.")] = None,
) -> None:
    """Load export files; report loaded / duplicate / quarantined rows per file."""
    from flywheel.collect import ingest_paths
    from flywheel.warehouse import Warehouse

    current = state(ctx)
    with Warehouse.open(current.settings) as wh, progress(current) as bar:
        task = bar.add_task("ingesting", total=None)

        def on_file(path: Path, done: int, total: int) -> None:
            bar.update(task, total=total, completed=done, description=f"ingesting {path.name}")

        report = ingest_paths(wh, paths, source=source, mapping=mapping, progress=on_file)
    if current.json:
        emit(report.as_json())
        return
    _print_ingest(report)


COUNTS = ("rows", "loaded", "updated", "duplicates", "quarantined")


def _print_ingest(report) -> None:
    table = Table(title="Ingested")
    for col in ("file", "source", "rows", "loaded", "updated", "duplicates", "quarantined"):
        table.add_column(col, justify="right" if col not in ("file", "source") else "left")
    for f in report.files:
        note = " (already applied)" if f.already_applied else ""
        if f.contacts_refilled is not None:
            note = f" (already applied; {f.contacts_refilled:,} contact points filled)"
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


def run(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Export files or directories.")],
    source: Annotated[str, typer.Option(help="auto, an adapter name (shopify, taobao, …) or a source (tmall).")] = "auto",
    mapping: Annotated[Optional[Path], typer.Option(help="YAML column mapping for the generic adapter.")] = None,
    segments: Annotated[Optional[list[Path]], typer.Option(
        "--segments", help="Segment files to apply (default: the shipped ones, when none are stored yet).",
        show_default=False)] = None,
    report_path: Annotated[Path, typer.Option("--out", help="Where to write the HTML report.")] = Path("flywheel-report.html"),
    now: Annotated[Optional[str], typer.Option(help="Clock for segments and journeys (ISO time; default now).",
                                               show_default=False)] = None,
) -> None:
    """Every stage on real exports: ingest → identity → value → segments → journeys (dry run) →
    attribution → console rollups → report. What `demo` does, minus the simulator."""
    from flywheel.pipeline import run_pipeline, run_stages

    current = state(ctx)
    clock = _instant(now) if now else None
    stages = run_stages(paths, report_path, source=source, mapping=mapping, segment_files=segments or (), now=clock)
    with progress(current) as bar:
        record, results = run_pipeline("run", stages, current.settings, progress=stage_bars(bar))
    summaries = {s.stage: s.summary for s in record.stages}
    payload = {"report": str(report_path), "warehouse": str(current.settings.db_path), "ingest": results["ingest"].as_json(),
               "stages": summaries, "run": record.as_dict(), "seconds": round(record.seconds, 1)}
    if current.json:
        emit(payload)
        return
    _print_ingest(results["ingest"])
    for s in record.stages:
        note = s.summary.get("note") if isinstance(s.summary, dict) else None
        out.print(f"{s.stage:<12} {s.seconds:6.1f} s" + (f"  ({note})" if note else ""))
    out.print(f"Report: [bold]{report_path}[/]   Console: flywheel --db {current.settings.db_path} serve   (run {record.run_id})")


def report(
    ctx: typer.Context,
    report_path: Annotated[Path, typer.Option("--out", help="Where to write the HTML report.")] = Path("flywheel-report.html"),
    title: Annotated[str, typer.Option(help="Title on the report.")] = "Flywheel report",
) -> None:
    """Write the self-contained offline HTML report of this warehouse (any warehouse, not only the demo)."""
    from flywheel.report import build_report
    from flywheel.warehouse import Warehouse

    current = state(ctx)
    with Warehouse.open(current.settings) as wh:
        path = build_report(wh, report_path, title)
    if current.json:
        emit({"report": str(path)})
    else:
        print(path)


def _instant(text: str):
    import datetime as dt

    from flywheel.errors import InputError

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--now {text!r}: use an ISO time such as 2026-06-30T23:59:59+08:00") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def demo(
    ctx: typer.Context,
    persons: Annotated[int, typer.Option(help="Number of simulated persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for data, warehouse and report.html.")] = Path("demo-output"),
) -> None:
    """Simulate a merchant, run every stage, write DIR/report.html and print a summary."""
    from flywheel.pipeline import demo_stages, run_pipeline

    current = state(ctx)
    settings = current.settings if current.db_given else current.settings.with_overrides(
        db_path=out_dir / ("flywheel.duckdb" if current.settings.engine == "duckdb" else "warehouse"))
    with progress(current) as bar:
        record, results = run_pipeline("demo", demo_stages(out_dir, persons, seed), settings,
                                       progress=stage_bars(bar))
    summaries = {s.stage: s.summary for s in record.stages}
    console = _demo_console_key(settings, out_dir)
    summary, value, people = results["summary"], results["value"], results["identity"]
    payload = {"persons": persons, "seed": seed, "report": str(results["report"]), "warehouse": str(settings.db_path),
               "generated_files": results["simulate"].files, "ingest": results["ingest"].as_json(),
               "identity": people.as_dict(), "totals": summary.totals, "value": summaries["value"],
               "activation": summaries.get("activation"), "measurement": summaries.get("measurement"),
               "run": record.as_dict(), "seconds": round(record.seconds, 1), "console": console}
    if current.json:
        emit(payload)
        return
    _print_ingest(results["ingest"])
    t = summary.totals
    out.print(f"[bold]{t['accounts']:,}[/] accounts · [bold]{t['paid_orders']:,}[/] paid orders · GMV "
              f"[bold]¥{t['gmv_cents'] / 100:,.0f}[/] (net ¥{t['net_cents'] / 100:,.0f}) · {t['events']:,} events")
    out.print(f"[bold]{people.persons:,}[/] persons from {people.accounts:,} accounts after identity resolution")
    tiers = " · ".join(f"{t['tier']} {t['persons']:,}" for t in value["tiers"])
    out.print(f"Value: {value['buyers']:,} buyers of {value['persons']:,} persons · tiers: {tiers} · "
              f"predicted 1-year CLV ¥{value['clv']['total']:,.0f}")
    _print_activation(summaries.get("activation"))
    _print_measurement(summaries.get("measurement"))
    stages = " · ".join(f"{s.stage} {s.seconds:.0f} s" for s in record.stages)
    out.print(f"Report: [bold]{results['report']}[/]   Warehouse: {settings.db_path}   "
              f"({record.seconds:.0f} s: {stages}; run {record.run_id})")
    out.print(f"Console: [bold]{console['command']}[/], open http://127.0.0.1:8080/ and log in with the owner key "
              f"in {console['key_file']}")


def _demo_console_key(settings, out_dir: Path) -> dict:
    """An owner key for the demo's own simulated merchant, kept in DIR/console-key.txt (mode 600);
    a demo run again revokes the key of the run before."""
    import os
    import shlex

    from flywheel.console.keys import ApiKeys, create_key, keys_path
    from flywheel.privacy import Gate
    from flywheel.privacy.roles import Actor, actor_for, role_named

    keys = ApiKeys(keys_path(settings.db_path))
    with Gate.open(settings, None, "demo", actor=Actor(actor_for(settings).name, role_named("owner"))) as gate:
        for old in keys.list():
            if old.name == "demo" and old.active:
                keys.revoke(old.id, gate.actor.name)
        secret, key = create_key(gate, "owner", "demo")
    path = out_dir / "console-key.txt"
    path.write_text(secret + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return {"key_file": str(path), "key_id": key.id, "role": key.role,
            "command": f"flywheel --db {shlex.quote(str(settings.db_path))} serve"}


def _print_measurement(m: dict | None) -> None:
    if not m:
        return
    credits = " · ".join(f"{ch} {n:,.0f}" for ch, n in sorted(m["markov_credits"].items(), key=lambda kv: -kv[1])[:4])
    truth = m.get("true_incremental_orders")
    line = (f"Measurement: {m['conversions']['attributed']:,} of {m['conversions']['total']:,} orders had a touch · "
            f"Markov credit {credits}")
    if truth:
        line += " · truly caused " + " · ".join(f"{ch} {n:,}" for ch, n in sorted(truth.items(), key=lambda kv: -kv[1]))
    if m["flagged"]:
        line += f" · flagged (credit without incrementality): {', '.join(m['flagged'])}"
    out.print(line)


def _print_activation(loop: dict | None) -> None:
    if not loop:
        return
    sent = " · ".join(f"{channel} {n:,}" for channel, n in sorted(loop["sent"].items())) or "nothing"
    out.print(f"Activation: example journey [bold]{loop['journey']}[/] over {loop['rounds']} ticks · sent {sent} · "
              f"{loop['response_orders']:,} orders in response · measured lift "
              + ("n/a" if loop["measured_lift"] is None else f"{loop['measured_lift']:+.1%}")
              + f" (true effect {loop['true_lift']:+.1%}; funnel in the report)")
