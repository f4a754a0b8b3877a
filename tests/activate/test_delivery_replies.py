"""Inbound SMS replies: an opt-out keyword withdraws SMS marketing consent of the persons holding the
phone — from `flywheel consent reply` and from `POST /v1/inbound/sms` — and nothing else does."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from delivery_receivers import free_port
from flywheel_cli import cli as _cli

from flywheel.activate.delivery import opt_out_keyword, persons_with_phone
from flywheel.collect import ingest_file
from flywheel.config import load_settings
from flywheel.privacy.consent import is_allowed, person_consents, record_consent
from flywheel.privacy.subjects import find_subject
from flywheel.server import WriteKeys, create_app, keys_file
from flywheel.warehouse import Warehouse

SHOPIFY = Path(__file__).parents[1] / "collect" / "fixtures" / "shopify" / "orders_export.csv"
PHONE = "+86 138 1234 5678"  # Zhang Wei's shipping phone in the Shopify fixture


@pytest.mark.parametrize("reply, keyword", [("T", "T"), (" td ", "TD"), ("n", "N"), ("R\n", "R"), ("Ｔ", "T"),
                                            ("ＴＤ", "TD"), ("退订", "退订"), (" 退订 ", "退订")])
def test_the_opt_out_keywords(reply, keyword):
    assert opt_out_keyword(reply) == keyword


@pytest.mark.parametrize("reply", ["", "TT", "T D", "yes", "谢谢", "TD退订吧", "STOP", "0000", "t!"])
def test_other_replies_are_not_opt_outs(reply):
    assert opt_out_keyword(reply) is None


@pytest.fixture
def customer() -> str:
    """Zhang Wei, with SMS marketing granted, and the person id that holds the phone."""
    with Warehouse.open() as wh:
        ingest_file(wh, SHOPIFY)
        persons = persons_with_phone(wh, PHONE)
        assert len(persons) == 1
        record_consent(wh, find_subject(wh, persons[0]), ["marketing_sms"], "granted", actor="test")
        assert is_allowed(wh, persons[0], "marketing_sms")
    return persons[0]



def _consent_rows() -> int:
    with Warehouse.open() as wh:
        return wh.count("consents")


def test_consent_reply_withdraws_sms_marketing_only_for_an_opt_out(customer, monkeypatch, capsys):
    before = _consent_rows()
    code, out, err = _cli(monkeypatch, capsys, "--role", "service", "--json", "consent", "reply", "--phone", PHONE,
                          "--text", "谢谢，收到了")
    assert code == 0 and json.loads(out) == {"phone": "138****5678", "keyword": None, "opt_out": False, "persons": []}
    assert _consent_rows() == before
    code, out, err = _cli(monkeypatch, capsys, "--role", "analyst", "consent", "reply", "--phone", PHONE, "--text", "T")
    assert code == 1 and "may not consent.withdraw" in err and _consent_rows() == before

    code, out, err = _cli(monkeypatch, capsys, "--role", "service", "--json", "consent", "reply", "--phone",
                          "13812345678", "--text", " td ")
    assert code == 0, err
    assert json.loads(out) == {"phone": "138****5678", "keyword": "TD", "opt_out": True, "persons": [customer]}
    with Warehouse.open() as wh:
        assert not is_allowed(wh, customer, "marketing_sms")
        decided = wh.fetch(person_consents(wh).filter(lambda t: t.person_id == customer)).to_pylist()
        assert {r["purpose"]: r["status"] for r in decided}["marketing_sms"] == "withdrawn"
        evidence = wh.fetch(wh.table("consents").filter(lambda t: t.status == "withdrawn")).column("evidence").to_pylist()
    assert evidence and all("SMS reply 'TD' from 138****5678" in e for e in evidence)
    code, out, err = _cli(monkeypatch, capsys, "--role", "owner", "--json", "audit", "verify")
    assert code == 0

    code, out, err = _cli(monkeypatch, capsys, "--role", "service", "consent", "reply", "--phone", "12345", "--text", "T")
    assert code == 1 and err.startswith("flywheel: phone '12345': ") and err.count("\n") == 1
    code, out, err = _cli(monkeypatch, capsys, "--role", "service", "--json", "consent", "reply", "--phone",
                          "+86 139 0000 1111", "--text", "T")
    assert code == 0 and json.loads(out)["persons"] == []


@pytest.fixture
def server(tmp_path):
    """The collection server in a thread of this process, with a write key for the SMS gateway."""
    settings = load_settings()
    keys = WriteKeys(keys_file(settings.db_path))
    gateway, web = keys.add("sms-gateway"), keys.add("web")
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings, load_interval=3600), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v1/inbound/sms", gateway, web
    srv.should_exit = True
    thread.join(30)


def test_the_inbound_endpoint_withdraws_on_an_opt_out_and_says_nothing_about_who(customer, server, tmp_path,
                                                                                 monkeypatch, capsys):
    url, gateway, web = server
    post = lambda body, key=gateway: httpx.post(url, json=body, auth=(key, "") if key else None, timeout=30)  # noqa: E731
    assert post({"phone": PHONE, "text": "T"}, key=None).status_code == 401
    assert post({"phone": PHONE, "text": "T"}, key="fw_nosuchkey").json()["error"] == "invalid_write_key"
    missing = post({"phone": PHONE})
    assert missing.status_code == 400 and missing.json() == {"error": "missing_field", "message": "an SMS reply needs `text`",
                                                            "path": "text"}
    assert post({"phone": 13812345678, "text": "T"}).json()["error"] == "invalid_field"
    assert httpx.get(url).status_code == 405
    with Warehouse.open() as wh:
        assert is_allowed(wh, customer, "marketing_sms")

    assert post({"phone": PHONE, "text": "好的"}).json() == {"success": True, "opt_out": False}
    assert post({"phone": "not a phone", "text": "T"}).json() == {"success": True, "opt_out": False}
    assert post({"phone": "+86 139 0000 1111", "text": "T"}).json() == {"success": True, "opt_out": True}, \
        "a phone nobody holds answers as one somebody holds"
    with Warehouse.open() as wh:
        assert is_allowed(wh, customer, "marketing_sms")
    assert post({"phone": PHONE, "text": "ｔｄ", "gateway_id": "msg-1"}).json() == {"success": True, "opt_out": True}
    with Warehouse.open() as wh:
        assert not is_allowed(wh, customer, "marketing_sms")
    entries = [json.loads(line) for line in (tmp_path / "flywheel.duckdb.audit" / "entries.jsonl").read_text().splitlines()]
    assert entries[-1]["action"] == "consent.withdraw" and entries[-1]["actor"] == "source:sms-gateway"
    assert entries[-1]["role"] == "service"


def test_delivery_settings_restrict_which_sources_may_post_replies(customer, server, tmp_path, monkeypatch, capsys):
    url, gateway, web = server
    settings = tmp_path / "delivery.yaml"
    settings.write_text('webhooks: {sms: {url: "http://127.0.0.1:9/sms", '
                        'secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwKkNNr0Q5"}}\n'
                        "inbound: {sms_sources: [sms-gateway]}\n", encoding="utf-8")
    assert _cli(monkeypatch, capsys, "--role", "owner", "delivery", "apply", str(settings))[0] == 0
    refused = httpx.post(url, json={"phone": PHONE, "text": "T"}, auth=(web, ""), timeout=30)
    assert refused.status_code == 401 and refused.json()["error"] == "source_not_allowed"
    with Warehouse.open() as wh:
        assert is_allowed(wh, customer, "marketing_sms")
    ok = httpx.post(url, json={"phone": PHONE, "text": "R"}, auth=(gateway, ""), timeout=30)
    assert ok.json() == {"success": True, "opt_out": True}
    with Warehouse.open() as wh:
        assert not is_allowed(wh, customer, "marketing_sms")


def test_the_one_click_unsubscribe_token_withdraws_marketing_email_and_an_altered_one_does_nothing(customer):
    from flywheel.activate.delivery import email_unsubscribe, unsubscribe_token
    from flywheel.activate.delivery.store import unsubscribe_key
    from flywheel.errors import InputError
    from flywheel.privacy import Gate
    from flywheel.privacy.roles import Actor, role_named

    with Warehouse.open() as wh:
        record_consent(wh, find_subject(wh, customer), ["marketing_email"], "granted", actor="test")
        token = unsubscribe_token(unsubscribe_key(wh), customer)
        with Gate(wh.settings, wh, Actor("unsubscribe-page", role_named("service")), "unsubscribe") as gate:
            for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x.y.z", ""):
                with pytest.raises(InputError, match="not an unsubscribe token"):
                    email_unsubscribe(gate, bad)
            assert is_allowed(wh, customer, "marketing_email")
            assert email_unsubscribe(gate, token) == {"person_id": customer, "purpose": "marketing_email"}
        assert not is_allowed(wh, customer, "marketing_email") and is_allowed(wh, customer, "marketing_sms")
