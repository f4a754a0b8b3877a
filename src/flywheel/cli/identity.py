"""`flywheel identity …`: resolve, explain, stats, export, and the manual overrides. Parse, open the
gate, call, print: the capabilities check the role, disclose and audit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.cluster import cluster_command
from flywheel.cli.common import account_arg as _account
from flywheel.cli.common import Table, acting, emit, err, out
from flywheel.cli.common import open_warehouse as _open
from flywheel.cli.common import state as _state

identity_app = typer.Typer(help="Identity resolution: one person per human across platforms.",
                           no_args_is_help=True)


@identity_app.command("resolve")
def resolve_command(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Recompute from single accounts instead of only new data.")] = False,
    rules: Annotated[Optional[Path], typer.Option("--rules", help="Identity rules YAML (default: the shipped rules).")] = None,
    no_match: Annotated[bool, typer.Option("--no-match", help="Deterministic links only; skip probabilistic matching.")] = False,
) -> None:
    """Place every account into a person; ids of existing persons are kept."""
    from flywheel.identity import load_rules, resolve

    state = _state(ctx)
    quiet = state.json
    with _open(ctx) as wh:
        with err.status("resolving identities") if not quiet else _Null() as status:
            options = {"matcher": None} if no_match else {}
            report = resolve(wh, load_rules(rules), full=full, **options,
                             progress=(lambda msg: status.update(msg)) if not quiet else None)
    if quiet:
        emit(report.as_dict())
        return
    out.print(f"[bold]{report.persons:,}[/] persons from {report.accounts:,} accounts ({report.mode}, "
              f"{report.seconds:.1f} s): {report.new_persons:,} new, {report.merges:,} merged, "
              f"{report.links:,} linking identifiers, {report.probabilistic_links:,} probabilistic links, "
              f"{report.refusals:,} refused")


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@identity_app.command("explain")
def explain_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")]) -> None:
    """Why a person is who they are: accounts, identifiers, links and refused links with reasons."""
    from flywheel.identity import explain

    with acting(ctx, "identity explain") as gate:
        story = explain(gate, person)
    if _state(ctx).json:
        emit(story)
        return
    _print_story(story)


def _print_story(story: dict) -> None:
    title = f"Person {story['person_id']}"
    if story["asked_for"] != story["person_id"]:
        title += f" (you asked for {story['asked_for']}, which was merged into it)"
    out.print(f"[bold]{title}[/] · created {story['created_at']:%Y-%m-%d %H:%M} · {len(story['accounts'])} accounts")
    t = Table(title="Accounts")
    for c in ("source", "account", "type", "name", "linked by", "since"):
        t.add_column(c)
    for a in story["accounts"]:
        t.add_row(a["source"], a["display_key"] or "", a["account_key_type"] or "", a["name_masked"] or "",
                  a["linked_by"] or "", f"{a['linked_at']:%Y-%m-%d}" if a["linked_at"] else "")
    out.print(t)
    t = Table(title="Identifiers")
    for c in ("type", "value", "on", "first seen"):
        t.add_column(c)
    for i in story["identifiers"]:
        partial = " (partial)" if i["is_partial"] else ""
        t.add_row(i["id_type"] + partial, f"{i['id_masked'] or ''} #{i['ref']}", f"{i['source']} {i['account']}",
                  f"{i['first_seen_at']:%Y-%m-%d}" if i["first_seen_at"] else "")
    out.print(t)
    t = Table(title="Links (why these accounts are one person)")
    for c in ("rule", "shared", "accounts", "evidence"):
        t.add_column(c)
    for link in story["links"]:
        weight = f" weight {link['match_weight']:.1f}" if link["match_weight"] is not None else ""
        t.add_row(link["rule"], f"{link['id_type']} {link['id_masked'] or ''} #{link['ref']}", str(link["accounts"] or ""),
                  (link["evidence"] or "") + weight)
    out.print(t)
    if story["refusals"]:
        t = Table(title="Refused links (evidence that was not allowed to join persons)")
        for c in ("identifier", "reason", "why"):
            t.add_column(c)
        for r in story["refusals"]:
            t.add_row(f"{r['id_type']} {r['id_masked'] or ''} #{r['ref']}", r["reason"], r["detail"] or "")
        out.print(t)
    for e in story["events"]:
        out.print(f"{e['occurred_at']:%Y-%m-%d %H:%M} {e['kind']}: {e['person_id']} ← {e['other_person_id'] or ''} "
                  f"{e['detail'] or ''}")
    for o in story["overrides"]:
        out.print(f"{o['created_at']:%Y-%m-%d %H:%M} override {o['kind']} by {o['actor']}: {o['note'] or ''}")


@identity_app.command("stats")
def stats_command(ctx: typer.Context) -> None:
    """Persons, accounts, cross-platform ID match rate, cluster sizes, demoted identifiers."""
    from flywheel.identity import identity_stats

    with acting(ctx, "identity stats") as gate:
        stats = identity_stats(gate)
    if _state(ctx).json:
        emit(stats)
        return
    out.print(f"[bold]{stats['persons']:,}[/] persons · {stats['accounts']:,} accounts · "
              f"{stats['cross_platform_link_rate']:.1%} of persons seen on 2+ platforms · "
              f"{stats['linked_account_share']:.1%} of accounts linked to another")
    rate = stats["cross_platform_match_rate"]
    out.print(f"Cross-platform ID match rate: [bold]{'n/a' if rate is None else f'{rate:.1%}'}[/] "
              f"({stats['persons_on_two_or_more_platforms']:,} persons linked across platforms, "
              f"{stats['split_cross_platform_pairs']:,} pairs of persons on two platforms still apart though "
              "they alone share a value; customers whose accounts share nothing are not counted)")
    t = Table(title="Accounts per person")
    t.add_column("accounts")
    t.add_column("persons", justify="right")
    for k, v in stats["cluster_sizes"].items():
        t.add_row(k, f"{v:,}")
    out.print(t)
    if stats["largest_cluster"]:
        out.print(f"Largest: {stats['largest_cluster']['person_id']} with {stats['largest_cluster']['accounts']} accounts")
    if stats["demoted_identifiers"]:
        t = Table(title="Demoted identifiers (shared by too many separate persons; they no longer link)")
        for c in ("type", "value", "persons", "accounts"):
            t.add_column(c)
        for d in stats["demoted_identifiers"]:
            t.add_row(d["id_type"], d["id_masked"] or "", str(d["persons"]), str(d["accounts"] or ""))
        out.print(t)


@identity_app.command("export")
def export_command(
    ctx: typer.Context,
    of: Annotated[str, typer.Option("--of", help="accounts (source,account_key,person_id) or orders (source,order_id,person_id).")],
    out_file: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
) -> None:
    """Write the account → person or order → person mapping as CSV."""
    from flywheel.identity import export_mapping

    with acting(ctx, f"identity export --of {of}") as gate:
        rows = export_mapping(gate, of, out_file)
    if _state(ctx).json:
        emit({"of": of, "out": str(out_file), "rows": rows})
    else:
        out.print(f"Wrote {rows:,} rows to {out_file}")


@identity_app.command("merge")
def merge_command(ctx: typer.Context, a: Annotated[str, typer.Argument(help="Person id.")],
                  b: Annotated[str, typer.Argument(help="Person id.")],
                  note: Annotated[Optional[str], typer.Option(help="Why (kept in the record).")] = None) -> None:
    """Merge two persons by hand; the older id is kept and the decision is recorded."""
    from flywheel.identity import merge_persons

    with acting(ctx, "identity merge") as gate:
        kept = merge_persons(gate, a, b, note=note)
    gone = b if kept == a else a
    if _state(ctx).json:
        emit({"kept": kept, "merged": gone})
    else:
        out.print(f"{gone} merged into {kept}")


@identity_app.command("split")
def split_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                  account: Annotated[list[str], typer.Option("--account", help="SOURCE:ACCOUNT_KEY to move out; repeat.")],
                  note: Annotated[Optional[str], typer.Option(help="Why (kept in the record).")] = None) -> None:
    """Move accounts out of a person into a new one; the two are never linked again."""
    from flywheel.identity import split_person

    with acting(ctx, "identity split") as gate:
        new_id = split_person(gate, person, [_account(a) for a in account], note=note)
    if _state(ctx).json:
        emit({"person_id": person, "new_person_id": new_id})
    else:
        out.print(f"Moved {len(account)} account(s) from {person} to new person {new_id}")


@identity_app.command("never-link")
def never_link_command(ctx: typer.Context, a: Annotated[str, typer.Argument(help="SOURCE:ACCOUNT_KEY")],
                       b: Annotated[str, typer.Argument(help="SOURCE:ACCOUNT_KEY")],
                       note: Annotated[Optional[str], typer.Option(help="Why (kept in the record).")] = None) -> None:
    """Record that two accounts belong to different people (applies from the next resolve)."""
    from flywheel.identity import never_link

    with acting(ctx, "identity never-link") as gate:
        never_link(gate, _account(a), _account(b), note=note)
    if _state(ctx).json:
        emit({"never_link": [a, b], "note": note})
    else:
        out.print(f"{a} and {b} will never be linked")


identity_app.command("cluster")(cluster_command)
