"""Every command that prints or writes person-level data, run through the CLI in every role: no role
sees a field above its level unmasked, every field at or below it is there in clear (the person id
of `identity export` included), roles without the right are refused with a one-line reason, and
unmasked reads of L4+ values leave an audit entry. The capabilities behind these commands are
checked the same way without the CLI in test_capability_matrix.py."""

from __future__ import annotations

import json

import pytest
from privacy_views import leaks, prepare_case, problems, stored_values, views
from typer.testing import CliRunner

from flywheel.cli import app
from flywheel.config import load_settings
from flywheel.privacy import NotPermitted, all_roles
from flywheel.privacy.audit import AuditLog
from flywheel.warehouse import Warehouse

pytestmark = pytest.mark.slow


def test_every_role_sees_what_its_level_allows_and_nothing_above(world, tmp_path):
    with Warehouse.open() as wh:
        case = prepare_case(wh, tmp_path)
        secrets = stored_values(wh, 3)
        person_ids = set(wh.fetch(wh.table("persons").select("person_id")).column(0).to_pylist())
    assert secrets["accounts.account_key"] and secrets["accounts.name"] and secrets["events.user_id"]
    assert not any(v.startswith("sealed:") for v in secrets["accounts.name"] | secrets["orders.receiver_name"])
    runner = CliRunner()
    checked = 0
    for role in all_roles().values():
        for view in views():
            result = runner.invoke(app, ["--role", role.name, "--json", *view.cli(case)])
            if view.action is not None and view.action not in role.may:
                assert isinstance(result.exception, NotPermitted), (role.name, view.name, result.output)
                assert f"may not {view.action}" in str(result.exception)
                continue
            assert result.exit_code == 0, (role.name, view.name, result.output, result.exception)
            with Warehouse.open() as wh:
                wrong = problems(role, view.cells(view.parse(result.stdout), wh, case))
            assert not wrong, (view.name, wrong[:3], f"{len(wrong)} cells in all")
            if view.masked:
                shown = result.stdout + (case.file(view.written).read_text(encoding="utf-8") if view.written else "")
                leaked = leaks(role, shown, secrets, view.shows)
                assert not leaked, (role.name, view.name, leaked)
                if role.level < 2:
                    assert not [p for p in person_ids if p in shown], (role.name, view.name)
            checked += 1
    assert checked >= 40


def test_roles_that_may_see_contact_identifiers_do_and_it_is_audited(world, tmp_path):
    with Warehouse.open() as wh:
        person = prepare_case(wh, tmp_path).person
    runner = CliRunner()
    analyst = json.loads(runner.invoke(app, ["--json", "person", "show", person]).stdout)
    service = json.loads(runner.invoke(app, ["--role", "service", "--json", "person", "show", person]).stdout)
    keys = [a["account_key"] for a in service["data"]["accounts"]]
    assert all(keys) and not set(keys) & {a["account_key"] for a in analyst["data"]["accounts"]}
    assert "accounts.account_key" in analyst["disclosure"]["masked"]
    assert service["disclosure"]["masked"] == [] and "orders.receiver_address_hash" in service["disclosure"]["withheld"]
    entries = list(AuditLog.for_settings(load_settings()).entries(action="read.unmasked"))
    assert len(entries) == 1 and entries[0]["role"] == "service"
    assert person not in json.dumps(entries[0])  # sealed with the person's data key


def test_unknown_role_is_refused_before_anything_runs(world):
    result = CliRunner().invoke(app, ["--role", "intern", "identity", "stats"])
    assert result.exit_code != 0 and "Unknown role 'intern'" in str(result.exception or result.output)
