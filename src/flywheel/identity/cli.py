"""`flywheel identity …`: resolve, explain, stats, export, and the manual overrides. Parse, call, print."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

identity_app = typer.Typer(help="Identity resolution: one person per human across platforms.",
                           no_args_is_help=True)
out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Same as the global --json.")]


def _state(ctx: typer.Context):
    return ctx.find_root().obj


def _emit(payload) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")


def _account(text: str) -> tuple[str, str]:
    source, sep, key = text.partition(":")
    if not sep or not source or not key:
        raise typer.BadParameter(f"{text!r}: write an account as SOURCE:ACCOUNT_KEY, e.g. taobao:tb_小明")
    return source, key


def _open(ctx: typer.Context):
    from flywheel.warehouse import Warehouse

    return Warehouse.open(_state(ctx).settings)


@identity_app.command("resolve")
def resolve_command(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Recompute from single accounts instead of only new data.")] = False,
    rules: Annotated[Optional[Path], typer.Option("--rules", help="Identity rules YAML (default: the shipped rules).")] = None,
    no_match: Annotated[bool, typer.Option("--no-match", help="Deterministic links only; skip probabilistic matching.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Place every account into a person; ids of existing persons are kept."""
    from flywheel.identity import load_rules, resolve

    state = _state(ctx)
    quiet = state.json or as_json
    with _open(ctx) as wh:
        with err.status("resolving identities") if not quiet else _Null() as status:
            report = resolve(wh, load_rules(rules), full=full, matcher=None if no_match else _matcher(),
                             progress=(lambda msg: status.update(msg)) if not quiet else None)
    if quiet:
        _emit(report.as_dict())
        return
    out.print(f"[bold]{report.persons:,}[/] persons from {report.accounts:,} accounts ({report.mode}, "
              f"{report.seconds:.1f} s): {report.new_persons:,} new, {report.merges:,} merged, "
              f"{report.links:,} linking identifiers, {report.probabilistic_links:,} probabilistic links, "
              f"{report.refusals:,} refused")


def _matcher():
    try:
        from flywheel.identity.probabilistic import match_accounts
    except ImportError:
        return None
    return match_accounts


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@identity_app.command("explain")
def explain_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                    as_json: JsonOpt = False) -> None:
    """Why a person is who they are: accounts, identifiers, links and refused links with reasons."""
    from flywheel.identity import explain

    from flywheel.privacy import Gate

    state = _state(ctx)
    with _open(ctx) as wh, Gate.open(state.settings, wh, "identity explain") as gate:
        gate.require("read.persons")
        story = _disclose_story(gate, explain(wh, person))
    if state.json or as_json:
        _emit(story)
        return
    _print_story(story)


STORY_TABLES = {"accounts": "accounts", "identifiers": "identifiers", "links": "identity_links",
                "refusals": "identity_refusals", "events": "identity_events", "overrides": "identity_overrides"}
DERIVED_LEVELS = {"linked_by": 1, "linked_at": 1, "account": 2, "ref": 2}
"""Explain's own columns: `account` is the masked display key, `ref` 6 hex digits of a keyed hash."""


def _disclose_story(gate, story: dict) -> dict:
    d = gate.disclosure
    gate.about(story["person_id"])
    shown = {k: d.value("persons", "person_id", v) if k in ("person_id", "asked_for") else v
             for k, v in story.items() if k not in STORY_TABLES}
    shown |= {k: d.records(table, story[k], DERIVED_LEVELS) for k, table in STORY_TABLES.items()}
    return shown | {"disclosure": d.summary()}


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
def stats_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Persons, accounts, cross-platform ID match rate, cluster sizes, demoted identifiers."""
    from flywheel.identity import identity_stats

    from flywheel.privacy import Gate

    state = _state(ctx)
    with _open(ctx) as wh, Gate.open(state.settings, wh, "identity stats") as gate:
        stats = identity_stats(wh)
        if stats["largest_cluster"]:
            stats["largest_cluster"] = gate.disclosure.record("person_accounts", stats["largest_cluster"],
                                                              {"accounts": 1})
        stats["demoted_identifiers"] = gate.disclosure.records("identity_refusals", stats["demoted_identifiers"])
    if state.json or as_json:
        _emit(stats)
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
    as_json: JsonOpt = False,
) -> None:
    """Write the account → person or order → person mapping as CSV."""
    from flywheel.identity import export_mapping

    from flywheel.privacy import Gate

    state = _state(ctx)
    with _open(ctx) as wh, Gate.open(state.settings, wh, f"identity export --of {of}") as gate:
        gate.require("read.persons")
        rows = export_mapping(wh, of, out_file, disclose=lambda t: gate.disclosure.arrow(
            "accounts" if of == "accounts" else "orders", t))
    if state.json or as_json:
        _emit({"of": of, "out": str(out_file), "rows": rows})
    else:
        out.print(f"Wrote {rows:,} rows to {out_file}")


@identity_app.command("merge")
def merge_command(ctx: typer.Context, a: Annotated[str, typer.Argument(help="Person id.")],
                  b: Annotated[str, typer.Argument(help="Person id.")],
                  note: Annotated[Optional[str], typer.Option(help="Why (kept in the record).")] = None,
                  as_json: JsonOpt = False) -> None:
    """Merge two persons by hand; the older id is kept and the decision is recorded."""
    from flywheel.identity import merge_persons

    with _open(ctx) as wh, _override_gate(ctx, wh, "identity merge") as gate:
        kept = merge_persons(wh, a, b, actor=gate.actor.name, note=note)
        gate.audit("identity.merge", f"merge {a} and {b}: kept {kept}", person=kept, detail={"note": note})
    gone = b if kept == a else a
    if _state(ctx).json or as_json:
        _emit({"kept": kept, "merged": gone})
    else:
        out.print(f"{gone} merged into {kept}")


@identity_app.command("split")
def split_command(ctx: typer.Context, person: Annotated[str, typer.Argument(help="Person id.")],
                  account: Annotated[list[str], typer.Option("--account", help="SOURCE:ACCOUNT_KEY to move out; repeat.")],
                  note: Annotated[Optional[str], typer.Option(help="Why (kept in the record).")] = None,
                  as_json: JsonOpt = False) -> None:
    """Move accounts out of a person into a new one; the two are never linked again."""
    from flywheel.identity import split_person

    with _open(ctx) as wh, _override_gate(ctx, wh, "identity split") as gate:
        new_id = split_person(wh, person, [_account(a) for a in account], actor=gate.actor.name, note=note)
        gate.audit("identity.split", f"split {len(account)} account(s) of {person} into {new_id}", person=person,
                   detail={"note": note, "new_person": new_id})
    if _state(ctx).json or as_json:
        _emit({"person_id": person, "new_person_id": new_id})
    else:
        out.print(f"Moved {len(account)} account(s) from {person} to new person {new_id}")


@identity_app.command("never-link")
def never_link_command(ctx: typer.Context, a: Annotated[str, typer.Argument(help="SOURCE:ACCOUNT_KEY")],
                       b: Annotated[str, typer.Argument(help="SOURCE:ACCOUNT_KEY")],
                       note: Annotated[Optional[str], typer.Option(help="Why (kept in the record).")] = None) -> None:
    """Record that two accounts belong to different people (applies from the next resolve)."""
    from flywheel.identity import never_link

    with _open(ctx) as wh, _override_gate(ctx, wh, "identity never-link") as gate:
        never_link(wh, _account(a), _account(b), actor=gate.actor.name, note=note)
        gate.audit("identity.never_link", f"never link {a} and {b}", detail={"note": note})
    out.print(f"{a} and {b} will never be linked")


def _override_gate(ctx: typer.Context, wh, command: str):
    from flywheel.privacy import Gate

    gate = Gate.open(_state(ctx).settings, wh, command)
    gate.require("identity.override")
    return gate


def _register_cluster() -> None:
    from flywheel.identity.matching import cluster_command

    identity_app.command("cluster")(cluster_command)


_register_cluster()
