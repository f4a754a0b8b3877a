"""The consent ledger: separate consent per purpose, withdrawal effective for the next selection,
the most restrictive status across merged accounts, and consent read from collected events."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import pytest
from typer.testing import CliRunner

from flywheel.cli import app
from flywheel.collect import ingest_paths
from flywheel.identity import merge_persons, resolve
from flywheel.privacy import Gate, allowed, is_allowed, only_allowed
from flywheel.privacy.consent import ConsentError, record_consent
from flywheel.privacy.subjects import find_subject
from flywheel.warehouse import account_persons


def _identify(path: Path, users: dict[str, dict], at: str = "2025-05-01T10:00:00Z") -> Path:
    lines = [{"type": "identify", "messageId": f"m-{path.stem}-{u}", "userId": u, "timestamp": at,
              "context": {"consent": consent}} for u, consent in users.items()]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _person(wh, user: str) -> str:
    m = account_persons(wh)
    return wh.fetch(m.filter(m.account_key == user)).column("person_id")[0].as_py()


def _ids(wh, expr: ibis.Table) -> set[str]:
    return set(wh.fetch(expr.select("person_id")).column(0).to_pylist())


@pytest.fixture
def ledger(warehouse, tmp_path):
    ingest_paths(warehouse, [_identify(tmp_path / "consents.jsonl", {
        "u_ann": {"all": "granted"},
        "u_bob": {"marketing_sms": "granted", "cross_border_transfer": "granted"},
        "u_cai": {"personalization": "denied"},
        "u_dan": {}})])
    resolve(warehouse)
    return warehouse


def test_agree_to_all_never_grants_separate_purposes(ledger):
    ann, bob = _person(ledger, "u_ann"), _person(ledger, "u_bob")
    assert is_allowed(ledger, ann, "marketing_sms") and is_allowed(ledger, ann, "wecom_outreach")
    assert not is_allowed(ledger, ann, "cross_border_transfer") and not is_allowed(ledger, ann, "sensitive_pi")
    assert is_allowed(ledger, bob, "cross_border_transfer")  # chosen for that purpose alone, in its own field
    with pytest.raises(ConsentError, match="cross_border_transfer needs its own, separate consent"):
        record_consent(ledger, find_subject(ledger, ann), ["marketing_email", "cross_border_transfer"], "granted",
                       actor="t")
    with pytest.raises(ConsentError, match="data_sharing:acme needs its own"):
        record_consent(ledger, find_subject(ledger, ann), ["all", "data_sharing:acme"], "granted", actor="t")
    record_consent(ledger, find_subject(ledger, ann), ["data_sharing:acme"], "granted", actor="t",
                   legal_basis="separate_consent", notice_version="v3")
    assert is_allowed(ledger, ann, "data_sharing:acme") and not is_allowed(ledger, bob, "data_sharing:acme")


def test_withdrawal_applies_to_the_very_next_selection(ledger):
    ann, cai, dan = (_person(ledger, u) for u in ("u_ann", "u_cai", "u_dan"))
    everyone = account_persons(ledger).select("person_id").distinct()
    assert _ids(ledger, only_allowed(ledger, everyone, "marketing_sms")) == {ann, _person(ledger, "u_bob")}
    personal = _ids(ledger, only_allowed(ledger, everyone, "personalization"))
    assert ann in personal and dan in personal and cai not in personal  # opt-out purpose, PIPL Art. 24

    record_consent(ledger, find_subject(ledger, ann), ["personalization", "marketing_sms"], "withdrawn", actor="t")
    assert ann not in _ids(ledger, only_allowed(ledger, everyone, "personalization"))
    assert ann not in _ids(ledger, allowed(ledger, "marketing_sms"))
    assert is_allowed(ledger, ann, "marketing_email")  # other purposes untouched


def test_merged_person_takes_the_most_restrictive_status(ledger, tmp_path):
    ann, bob = _person(ledger, "u_ann"), _person(ledger, "u_bob")
    record_consent(ledger, find_subject(ledger, bob), ["marketing_sms"], "withdrawn", actor="t")
    ingest_paths(ledger, [_identify(tmp_path / "later.jsonl", {"u_ann": {"marketing_sms": "granted"}},
                                    at="2030-01-01T00:00:00Z")])
    assert is_allowed(ledger, ann, "marketing_sms")
    kept = merge_persons(Gate.open(ledger.settings, ledger, "test"), ann, bob)
    assert not is_allowed(ledger, kept, "marketing_sms")  # a newer grant on one account does not undo the other's withdrawal
    assert is_allowed(ledger, kept, "cross_border_transfer")  # a grant no other account contradicts holds
    decided = find_subject(ledger, ann)
    assert decided.person_id == kept and len(decided.accounts) == 2


def test_asking_about_a_few_persons_decides_as_the_whole_ledger_does(ledger, tmp_path):
    """`only_allowed` reads only the asked persons' records (or the accounts the caller passes); the
    answer must be the whole ledger's for those persons, refusals and permissions alike, also for a
    merged person whose accounts disagree."""
    ann, bob = _person(ledger, "u_ann"), _person(ledger, "u_bob")
    record_consent(ledger, find_subject(ledger, bob), ["marketing_sms"], "withdrawn", actor="t")
    kept = merge_persons(Gate.open(ledger.settings, ledger, "test"), ann, bob)
    cai, dan = _person(ledger, "u_cai"), _person(ledger, "u_dan")
    everyone = account_persons(ledger).select("person_id").distinct()
    for purpose in ("marketing_sms", "marketing_email", "personalization", "cross_border_transfer"):
        whole = _ids(ledger, only_allowed(ledger, everyone, purpose, narrow=False))
        for few in ({kept}, {kept, cai}, {cai, dan}, {dan}):
            asked = ibis.memtable({"person_id": sorted(few)}, schema={"person_id": "string"})
            accounts = account_persons(ledger).view().semi_join(asked.view(), "person_id")
            assert _ids(ledger, only_allowed(ledger, asked, purpose)) == whole & few, (purpose, few)
            assert _ids(ledger, only_allowed(ledger, asked, purpose, accounts=accounts)) == whole & few, (purpose, few)
    assert kept not in _ids(ledger, only_allowed(ledger, everyone, "marketing_sms", narrow=False))
    assert {kept, dan} <= _ids(ledger, only_allowed(ledger, everyone, "personalization", narrow=False))
    assert cai not in _ids(ledger, only_allowed(ledger, everyone, "personalization", narrow=False))


def test_consent_cli_records_shows_and_refuses_bundled_separate_grants(ledger, tmp_path):
    ann = _person(ledger, "u_ann")
    runner = CliRunner()
    refused = runner.invoke(app, ["--role", "service", "consent", "record", ann, "--purpose", "all",
                                  "--purpose", "sensitive_pi"])
    assert refused.exit_code == 1 and "sensitive_pi needs its own" in str(refused.exception)
    ok = runner.invoke(app, ["--role", "service", "--json", "consent", "withdraw", ann, "--purpose", "all"])
    assert ok.exit_code == 0, ok.output
    withdrawn = {r["purpose"] for r in json.loads(ok.stdout)["recorded"]}
    assert {"marketing_sms", "marketing_email", "wecom_outreach", "personalization"} <= withdrawn
    shown = json.loads(runner.invoke(app, ["--json", "consent", "show", ann]).stdout)
    assert set(shown["effective"].values()) == {"withdrawn"}
    assert all(r["account_key"] != "u_ann" for r in shown["history"])  # analysts see account keys masked
    audience = tmp_path / "aud.csv"
    assert runner.invoke(app, ["--role", "marketer", "consent", "audience", "--purpose", "marketing_sms",
                               "--out", str(audience)]).exit_code == 0
    assert ann not in audience.read_text() and _person(ledger, "u_bob") in audience.read_text()
    denied = runner.invoke(app, ["--role", "marketer", "consent", "withdraw", ann, "--purpose", "all"])
    assert "may not consent.withdraw" in str(denied.exception)
