"""Every privileged action leaves an audit entry naming actor, role, action and purpose, and the log
verifies afterwards; entries about a person do not show the person's id in clear."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flywheel.cli import app
from flywheel.config import load_settings
from flywheel.privacy.audit import AuditLog, verify_settings
from flywheel.warehouse import Warehouse

pytestmark = pytest.mark.slow


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout


def _two_accounts_person() -> tuple[str, list[str]]:
    with Warehouse.open() as wh:
        pa_ = wh.table("person_accounts")
        sizes = pa_.group_by("person_id").agg(n=pa_.count())
        person = wh.fetch(sizes.filter(sizes.n >= 2).order_by("person_id").limit(1)).column(0)[0].as_py()
        rows = wh.fetch(pa_.filter(pa_.person_id == person).order_by(["source", "account_key"])).to_pylist()
    return person, [f"{r['source']}:{r['account_key']}" for r in rows]


def test_every_privileged_action_is_recorded(world, tmp_path):
    person, accounts = _two_accounts_person()
    with Warehouse.open() as wh:
        others = wh.fetch(wh.table("persons").filter(lambda t: t.person_id != person).select("person_id")
                          .order_by("person_id").limit(2)).column(0).to_pylist()
    steps = {
        "consent.record": ["--role", "service", "consent", "record", person, "--purpose", "marketing_sms"],
        "consent.withdraw": ["--role", "service", "consent", "withdraw", person, "--purpose", "marketing_sms"],
        "read.unmasked": ["--role", "owner", "identity", "export", "--of", "accounts", "--out", str(tmp_path / "a.csv")],
        "identity.merge": ["identity", "merge", others[0], others[1]],
        "identity.split": ["identity", "split", person, "--account", accounts[0]],
        "identity.never_link": ["identity", "never-link", accounts[0], accounts[1]],
        "keys.create": ["--role", "owner", "sources", "add", "web"],
        "privacy.export": ["--role", "privacy_officer", "privacy", "export", person, "--out", str(tmp_path / "p.json")],
        "privacy.erase": ["--role", "privacy_officer", "privacy", "erase", others[0], "--yes"],
    }
    log = AuditLog.for_settings(load_settings())
    for action, args in steps.items():
        before = sum(1 for _ in log.entries(action=action))
        _run(*args)
        written = list(log.entries(action=action))
        assert len(written) == before + 1, action
        entry = written[-1]
        assert entry["actor"] and entry["role"] == (args[1] if args[0] == "--role" else "analyst")
        if action not in ("keys.create", "read.unmasked"):
            assert person not in json.dumps(entry) and others[0] not in json.dumps(entry), action
    assert {e["action"] for e in log.entries()} >= set(steps)
    report = verify_settings(load_settings())
    assert report.ok and report.unsigned_tail == 0 and report.entries >= len(steps)
    shown = [json.loads(line) for line in _run("--role", "auditor", "--json", "audit", "show").splitlines()]
    assert [e["action"] for e in shown][-1] == "privacy.erase"
