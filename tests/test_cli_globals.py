"""Global options before and after the subcommand, on every command of the tree; one line per error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import flywheel.cli.tree as cli_app
from flywheel.cli import app
from flywheel.cli.common import GLOBAL_OPTIONS

SHOPIFY = Path(__file__).parent / "collect" / "fixtures" / "shopify" / "orders_export.csv"

GLOBAL_FLAGS = {"--db", "--engine", "--json", "--role", "--verbose"}


def _leaves(command, path=()):
    """(path, click command) for every command that runs something."""
    sub = getattr(command, "commands", None)
    if sub is None:
        yield path, command
        return
    for name, child in sub.items():
        yield from _leaves(child, (*path, name))


def test_every_command_of_the_tree_takes_every_global_option():
    root = typer.main.get_command(app)
    leaves = list(_leaves(root))
    assert len(leaves) >= 28, [p for p, _ in leaves]
    assert {" ".join(p) for p, _ in leaves} >= {"ingest", "demo", "identity export", "identity never-link",
                                                "consent audience", "audit verify", "clv fit", "events stats"}
    for path, command in leaves:
        names = {opt for p in command.params for opt in getattr(p, "opts", [])}
        assert GLOBAL_FLAGS <= names, f"{' '.join(path)} lacks {GLOBAL_FLAGS - names}"
    assert GLOBAL_FLAGS <= {opt for p in root.params for opt in getattr(p, "opts", [])}
    assert set(GLOBAL_OPTIONS) == {f.lstrip("-") for f in GLOBAL_FLAGS}


def _run(args: list[str]):
    return CliRunner().invoke(app, args)


def test_ingest_json_after_the_subcommand_is_the_same_as_before(tmp_path):
    before = _run(["--db", str(tmp_path / "a.duckdb"), "--json", "ingest", str(SHOPIFY)])
    after = _run(["ingest", str(SHOPIFY), "--json", "--db", str(tmp_path / "b.duckdb")])
    assert before.exit_code == 0 and after.exit_code == 0, (before.output, after.output)
    a, b = json.loads(before.stdout), json.loads(after.stdout)
    for payload in (a, b):
        payload["files"][0].pop("path")
    assert a == b and a["loaded"] == 3
    assert (tmp_path / "b.duckdb").exists()


@pytest.mark.parametrize("command", [
    ["events", "stats"],
    ["identity", "stats"],
    ["identity", "never-link", "ACCOUNT1", "ACCOUNT2"],
    ["sources", "list"],
    ["audit", "verify"],
])
def test_json_role_and_db_work_on_either_side(tmp_path, command):
    db = str(tmp_path / "w.duckdb")
    assert _run(["--db", db, "ingest", str(SHOPIFY)]).exit_code == 0
    role = "auditor" if command[0] == "audit" else "owner"
    if "ACCOUNT1" in command:
        from flywheel.config import load_settings
        from flywheel.warehouse import Warehouse

        with Warehouse.open(load_settings().with_overrides(db_path=db)) as wh:
            keys = wh.fetch(wh.table("accounts").order_by("account_key")).column("account_key").to_pylist()
        command = [c if not c.startswith("ACCOUNT") else f"shopify:{keys[int(c[-1]) - 1]}" for c in command]
    before = _run(["--db", db, "--json", "--role", role, *command])
    after = _run([*command, "--role", role, "--json", "--db", db])
    assert before.exit_code == 0, before.output
    assert after.exit_code == 0, after.output
    strip = (lambda p: {k: v for k, v in p.items() if k not in ("entries", "checkpoints", "covered")}) \
        if command[0] == "audit" else (lambda p: p)
    assert strip(json.loads(before.stdout)) == strip(json.loads(after.stdout))


def test_an_option_after_the_subcommand_wins_over_one_before(tmp_path):
    refused = _run(["--role", "analyst", "--db", str(tmp_path / "w.duckdb"), "sources", "add", "web"])
    assert refused.exit_code == 1 and "may not" in str(refused.exception)
    allowed = _run(["--role", "analyst", "--db", str(tmp_path / "w.duckdb"), "sources", "add", "web", "--role", "owner"])
    assert allowed.exit_code == 0 and allowed.stdout.startswith("fw_"), allowed.output


def test_a_bad_role_after_the_subcommand_fails_before_the_command_runs(tmp_path):
    result = _run(["ingest", str(SHOPIFY), "--db", str(tmp_path / "w.duckdb"), "--role", "nobody"])
    assert result.exit_code == 1 and "nobody" in str(result.exception)
    assert not (tmp_path / "w.duckdb").exists()


def test_main_turns_a_bug_into_one_line_with_exit_70(monkeypatch, capsys):
    def broken(**_):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(sys, "argv", ["flywheel", "events", "stats"])
    monkeypatch.setattr(cli_app, "app", lambda: broken())
    with pytest.raises(SystemExit) as exit_info:
        cli_app.main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 70
    assert err.count("\n") == 1 and "a bug in Flywheel (ZeroDivisionError" in err and "Traceback" not in err
