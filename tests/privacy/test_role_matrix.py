"""Every command that prints or writes person-level data, run in every role: no role sees a field above
its level unmasked, roles without the right are refused with a one-line reason, and unmasked reads of
L4+ values leave an audit entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flywheel.cli import app
from flywheel.config import load_settings
from flywheel.privacy import NotPermitted, all_roles
from flywheel.privacy.audit import AuditLog
from flywheel.schema import TABLES
from flywheel.warehouse import Warehouse

pytestmark = pytest.mark.slow


def _stored_values(min_level: int) -> dict[str, set[str]]:
    """Stored text values per `table.field` of at least `min_level`, long enough not to occur by chance."""
    found: dict[str, set[str]] = {}
    with Warehouse.open() as wh:
        for t in TABLES:
            for f in t.fields:
                if f.level < min_level or f.type != "string":
                    continue
                if f.sealed:  # the clear value is the secret: open it as the warehouse would
                    rows = wh.sealer.unseal(t.name, wh.fetch(wh.table(t.name).select("source", "account_key", f.name)))
                    column = rows.column(f.name).to_pylist()
                else:
                    column = wh.fetch(wh.table(t.name)[f.name].name("v").as_table().distinct()).column(0).to_pylist()
                values = {v for v in column if v and len(v) >= 6}
                if values:
                    found[f"{t.name}.{f.name}"] = values
    return found


def _commands(person: str, tmp: Path) -> list[tuple[list[str], str | None, Path | None]]:
    """(arguments, the action it needs or None, the file it writes)."""
    return [
        (["person", "show", person], "read.persons", None),
        (["identity", "explain", person], "read.persons", None),
        (["identity", "export", "--of", "accounts", "--out", str(tmp / "a.csv")], "read.persons", tmp / "a.csv"),
        (["identity", "export", "--of", "orders", "--out", str(tmp / "o.csv")], "read.persons", tmp / "o.csv"),
        (["identity", "stats"], None, None),
        (["value", "alerts"], "read.persons", None),
        (["consent", "show", person], "read.persons", None),
        (["consent", "audience", "--purpose", "personalization", "--out", str(tmp / "aud.csv")], "read.persons",
         tmp / "aud.csv"),
        (["events", "stats"], None, None),
        (["audit", "show"], "audit.read", None),
        (["privacy", "export", person, "--out", str(tmp / "subject.json")], "privacy.export", None),
    ]


def _busiest_person() -> str:
    with Warehouse.open() as wh:
        pa_ = wh.table("person_accounts")
        top = pa_.group_by("person_id").agg(n=pa_.count()).order_by([pa_.count().desc(), "person_id"]).limit(1)
        return wh.fetch(top).column("person_id")[0].as_py()


def test_no_role_sees_a_field_above_its_level(world, tmp_path):
    person = _busiest_person()
    secrets = _stored_values(3)
    with Warehouse.open() as wh:
        person_ids = set(wh.fetch(wh.table("persons").select("person_id")).column(0).to_pylist())
    assert secrets["accounts.account_key"] and secrets["accounts.name"] and secrets["events.user_id"]
    assert not any(v.startswith("sealed:") for v in secrets["accounts.name"] | secrets["orders.receiver_name"])
    runner = CliRunner()
    checked = 0
    for role in all_roles().values():
        for args, action, written in _commands(person, tmp_path):
            result = runner.invoke(app, ["--role", role.name, "--json", *args])
            if action is not None and action not in role.may:
                assert isinstance(result.exception, NotPermitted), (role.name, args, result.output)
                assert f"may not {action}" in str(result.exception)
                continue
            assert result.exit_code == 0, (role.name, args, result.output, result.exception)
            if args[:2] == ["privacy", "export"]:
                continue  # the subject's own copy, unmasked by design (checked in test_subject_rights)
            shown = result.stdout + (written.read_text(encoding="utf-8") if written else "")
            hidden = {k: v for k, v in secrets.items() if int(_level(k)) > role.level}
            leaks = {k: sorted(v for v in values if v in shown)[:3] for k, values in hidden.items()}
            assert not {k: v for k, v in leaks.items() if v}, (role.name, args)
            if role.level < 2:
                assert not [p for p in person_ids if p in shown], (role.name, args)
            checked += 1
    assert checked >= 40


def _level(label: str) -> int:
    from flywheel.privacy.masking import level_of

    table, field = label.split(".")
    return level_of(table, field)


def test_roles_that_may_see_contact_identifiers_do_and_it_is_audited(world, tmp_path):
    person = _busiest_person()
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


@pytest.mark.parametrize("of", ["accounts", "orders"])
def test_identity_export_gives_every_role_the_fields_its_level_allows(world, tmp_path, of):
    """The mapping is what merchants join their other tools on: `person_id` (L2) is in clear for every
    role that may read persons, and so is every other column at or below the role's level."""
    from privacy_views import export_cells, problems

    runner = CliRunner()
    found = []
    for role in all_roles().values():
        written = tmp_path / f"{role.name}.csv"
        result = runner.invoke(app, ["--role", role.name, "--json", "identity", "export", "--of", of,
                                     "--out", str(written)])
        if "read.persons" not in role.may:
            assert isinstance(result.exception, NotPermitted), (role.name, result.output)
            continue
        assert result.exit_code == 0, (role.name, result.output, result.exception)
        with Warehouse.open() as wh:
            found += problems(role, export_cells(of, written, wh))
    assert not found, found[:3] + [f"… {len(found)} in all"]
