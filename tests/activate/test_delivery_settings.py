"""Delivery settings: the file is checked field by field, stored with its secrets sealed, shown masked,
and only the owner applies it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from delivery_receivers import SECRET, SmtpSink
from flywheel_cli import cli as _cli

from flywheel.activate.delivery import (
    DeliveryError,
    DeliverySettingsError,
    Message,
    deliver,
    load_delivery,
    load_settings_file,
)
from flywheel.warehouse import Warehouse

WECOM_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwKkNNr0Q5"
ISSUE_EXAMPLE = f"""\
email: {{smtp_host: 127.0.0.1, smtp_port: 2525, sender: "shop@example.com"}}
webhooks:                       # channel name -> endpoint; sms and wecom are webhook channels
  wecom: {{url: "http://127.0.0.1:9001/wecom", secret: "{WECOM_SECRET}"}}
  sms: {{url: "http://127.0.0.1:9001/sms", secret: "{SECRET}"}}
quiet_hours: {{marketing: "21:00-08:00"}}          # recipient-local; transactional exempt
caps: {{wecom: {{per_day: 1}}, sms: {{per_week: 2}}, email: {{per_day: 2}}}}
on_cap: skip                                       # or defer
"""


def _file(tmp_path: Path, text: str, name: str = "delivery.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_issue_example_reads_as_typed_settings(tmp_path):
    s = load_settings_file(_file(tmp_path, ISSUE_EXAMPLE))
    assert s.channels() == ["email", "sms", "wecom"] and s.on_cap == "skip"
    assert (s.email.smtp_host, s.email.smtp_port, s.email.sender_address) == ("127.0.0.1", 2525, "shop@example.com")
    assert s.webhooks["sms"].secret == SECRET and s.webhooks["wecom"].url == "http://127.0.0.1:9001/wecom"
    quiet = s.quiet_hours_for("sms", marketing=True)
    assert str(quiet) == "21:00-08:00" and quiet.contains(dt.time(23, 0)) and quiet.contains(dt.time(7, 59))
    assert not quiet.contains(dt.time(8, 0)) and not quiet.contains(dt.time(20, 59))
    assert s.quiet_hours_for("sms", marketing=False) is None, "transactional is exempt"
    assert (s.cap_for("wecom").per_day, s.cap_for("sms").per_week, s.cap_for("sms").per_day) == (1, 2, None)
    assert s.retry.attempts == 5 and s.retry.delay(1) == 1.0 and s.retry.delay(3) == 4.0 and s.retry.delay(9) == 60.0
    assert s.retry.delay(1, retry_after=7) == 7.0
    assert "secret" not in json.dumps(s.definition).replace('"secret": "(sealed)"', "")


def test_quiet_hours_default_to_21_08_for_marketing_and_can_be_set_per_channel(tmp_path):
    base = f'webhooks: {{sms: {{url: "http://127.0.0.1:9/sms", secret: "{SECRET}"}}, ' \
           f'wecom: {{url: "http://127.0.0.1:9/w", secret: "{SECRET}"}}}}\n'
    assert str(load_settings_file(_file(tmp_path, base)).quiet_hours_for("wecom", True)) == "21:00-08:00"
    s = load_settings_file(_file(tmp_path, base + 'quiet_hours: {marketing: "22:00-07:30", wecom: off}\n'))
    assert str(s.quiet_hours_for("sms", True)) == "22:00-07:30" and s.quiet_hours_for("wecom", True) is None
    day = load_settings_file(_file(tmp_path, base + 'quiet_hours: {marketing: "12:00-14:00"}\n'))
    assert day.quiet_hours_for("sms", True).contains(dt.time(13)) and not day.quiet_hours_for("sms", True).contains(dt.time(15))


BAD = [
    ("", "delivery.yaml: the file: is empty"),
    ("email: [1]\n", "line 1: email: must be a mapping, got a list"),
    ("emial: {}\n", "line 1: emial: unknown field; known: email, webhooks"),
    ("webhooks: {}\n", "configures no channel"),
    ('email: {smtp_host: 127.0.0.1}\n', "email.sender: is required"),
    ('email: {smtp_host: 127.0.0.1, sender: "shop"}\n', "line 1: email.sender: 'shop' is not an e-mail address"),
    ('email: {smtp_host: 127.0.0.1, sender: "a@b.cn", smtp_port: 70000}\n', "email.smtp_port: must be between 1 and 65535"),
    ('email: {smtp_host: 127.0.0.1, sender: "a@b.cn", smtp_port: "25"}\n', "email.smtp_port: must be a whole number"),
    ('email: {smtp_host: h, sender: "a@b.cn", security: ssl}\n', "email.security: must be one of none, starttls, tls"),
    ('email: {smtp_host: h, sender: "a@b.cn", password: "pw"}\n', "email.password: needs email.username"),
    ('email: {smtp_host: h, sender: "a@b.cn", unsubscribe_url: "http://x.cn/u/{token}"}\n', "must be an https:// URL"),
    ('email: {smtp_host: h, sender: "a@b.cn", unsubscribe_url: "https://x.cn/u"}\n', "must contain {token}"),
    ("webhooks:\n  sms: {url: ftp://x, secret: whsec_AAAA}\n", "line 2: webhooks.sms.url: 'ftp://x' is not an http"),
    ("webhooks:\n  sms: {url: 'http://x:99999/', secret: whsec_AAAA}\n", "webhooks.sms.url: 'http://x:99999/' has an invalid port"),
    ("webhooks:\n  sms: {url: 'http://x/'}\n", "webhooks.sms.secret: is required"),
    ("webhooks:\n  sms: {url: 'http://x/', secret: s3cr3t}\n", "line 2: webhooks.sms.secret: must be `whsec_` followed by base64"),
    ("webhooks:\n  sms: {url: 'http://x/', secret: whsec_%%%}\n", "webhooks.sms.secret: the part after `whsec_` is not base64"),
    ("webhooks:\n  sms: {url: 'http://x/', secret: whsec_AAAA}\n", "must hold 24–64 random bytes, holds 3"),
    ("webhooks:\n  SMS!: {url: 'http://x/', secret: whsec_AAAA}\n", "webhooks.SMS!: a channel name is lower-case"),
    ("webhooks:\n  email: {url: 'http://x/', secret: whsec_AAAA}\n", "webhooks.email: a channel name"),
    ("webhooks:\n  sms: {url: 'http://x/', secret: 12345, retries: 3}\n", "webhooks.sms.retries: unknown field"),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\nquiet_hours: {{marketing: '9pm-8am'}}\n",
     "line 3: quiet_hours.marketing: '9pm-8am' is not a window like \"21:00-08:00\""),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\nquiet_hours: {{marketing: '08:00-08:00'}}\n",
     "starts and ends at the same time"),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\nquiet_hours: {{transactional: '21:00-08:00'}}\n",
     "quiet_hours.transactional: transactional messages are exempt"),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\nquiet_hours: {{push: '21:00-08:00'}}\n",
     "quiet_hours.push: no such channel"),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\ncaps: {{wecom: {{per_day: 1}}}}\n",
     "line 3: caps.wecom: no such channel; configured: sms"),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\ncaps: {{sms: {{per_day: -1}}}}\n",
     "caps.sms.per_day: must be between 0 and 10000, got -1"),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\ncaps: {{sms: {{per_month: 3}}}}\n",
     "caps.sms.per_month: unknown field; known: per_day, per_week"),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\ncaps: {{sms: {{}}}}\n", "caps.sms: give per_day"),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\non_cap: drop\n", "line 3: on_cap: must be skip or defer"),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\nretry: {{attempts: 0}}\n", "retry.attempts: must be between 1 and 20"),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\nretry: {{backoff_seconds: 5, max_backoff_seconds: 1}}\n",
     "retry.max_backoff_seconds: must be at least retry.backoff_seconds"),
    (f"webhooks:\n  sms: {{url: 'http://x/', secret: '{SECRET}'}}\ninbound: {{sms_sources: web}}\n",
     "inbound.sms_sources: must be a non-empty list"),
    ("webhooks: {sms: {url: 'http://x/', secret: [\n", "delivery.yaml, line 2: not valid YAML"),
]


@pytest.mark.parametrize("text, expected", BAD, ids=[b[1][:40] for b in BAD])
def test_each_mistake_is_one_line_naming_file_line_field_and_reason(tmp_path, text, expected):
    with pytest.raises(DeliverySettingsError) as caught:
        load_settings_file(_file(tmp_path, text))
    message = str(caught.value)
    assert expected in message and "\n" not in message and message.startswith(str(tmp_path / "delivery.yaml"))


def test_a_wrongly_typed_secret_is_not_echoed_in_the_error(tmp_path):
    with pytest.raises(DeliverySettingsError) as caught:
        load_settings_file(_file(tmp_path, "webhooks:\n  sms: {url: 'http://x/', secret: 982451653}\n"))
    assert "982451653" not in str(caught.value) and "webhooks.sms.secret: must be non-empty text" in str(caught.value)



def test_only_the_owner_applies_secrets_are_sealed_and_never_shown(tmp_path, monkeypatch, capsys):
    path = _file(tmp_path, ISSUE_EXAMPLE)
    for role in ("analyst", "marketer", "service", "privacy_officer", "auditor"):
        code, out, err = _cli(monkeypatch, capsys, "--role", role, "delivery", "apply", str(path))
        assert code == 1 and out == "" and err.count("\n") == 1 and "may not delivery.apply (allowed: owner)" in err
    code, out, err = _cli(monkeypatch, capsys, "delivery", "show")
    assert code == 1 and "no delivery settings" in err and err.count("\n") == 1

    code, out, err = _cli(monkeypatch, capsys, "--role", "owner", "--json", "delivery", "apply", str(path))
    assert code == 0 and json.loads(out)["channels"] == ["email", "sms", "wecom"]
    shown = [_cli(monkeypatch, capsys, *args)[1] for args in (["delivery", "show"], ["--json", "delivery", "show"])]
    payload = json.loads(shown[1])
    assert payload["settings"]["webhooks"]["sms"]["secret"] == "•••••• (sealed)"
    assert [e["status"] for e in payload["endpoints"]] == ["enabled"] * 3 and "(sealed)" in shown[0]

    needles = [SECRET, SECRET[6:], WECOM_SECRET[6:], WECOM_SECRET[10:30]]
    db = tmp_path / "flywheel.duckdb"
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != "delivery.yaml")
    assert all(n.encode() not in stored for n in needles), "no secret in the warehouse, its WAL or the audit log"
    assert all(n not in text for n in needles for text in shown)
    with Warehouse.open() as wh:
        row = wh.fetch(wh.table("delivery_settings")).to_pylist()[0]
        assert row["secrets"].startswith("sealed:v1:") and row["applied_by"]
        assert load_delivery(wh).webhooks["wecom"].secret == WECOM_SECRET
    assert db.exists()
    entries = (tmp_path / "flywheel.duckdb.audit" / "entries.jsonl").read_text().splitlines()
    assert json.loads(entries[-1])["action"] == "delivery.apply"

    code, out, err = _cli(monkeypatch, capsys, "--role", "owner", "delivery", "apply",
                          str(_file(tmp_path, "email: {smtp_host: h, sender: nobody}\n", "bad.yaml")))
    assert code == 1 and err == f"flywheel: {tmp_path / 'bad.yaml'}, line 1: email.sender: 'nobody' is not an e-mail address\n"


def test_secrets_sealed_under_another_master_key_do_not_open(tmp_path, monkeypatch, capsys):
    assert _cli(monkeypatch, capsys, "--role", "owner", "delivery", "apply", str(_file(tmp_path, ISSUE_EXAMPLE)))[0] == 0
    (tmp_path / "master.key").write_text("ab" * 32 + "\n")
    with Warehouse.open() as wh:
        with pytest.raises(DeliveryError, match="do not open with"):
            load_delivery(wh)
        assert load_delivery(wh, secrets=False).webhooks["sms"].secret != SECRET


def test_the_sealed_smtp_password_logs_in_and_a_wrong_one_fails_without_retrying(tmp_path, monkeypatch, capsys):
    with SmtpSink(auth=("shop", "pa55-word")) as sink:
        for password, status in (("pa55-word", "delivered"), ("wrong", "failed")):
            text = (f"email: {{smtp_host: 127.0.0.1, smtp_port: {sink.port}, sender: shop@example.com, "
                    f"username: shop, password: {password}}}\n")
            code, _, err = _cli(monkeypatch, capsys, "--role", "owner", "delivery", "apply", str(_file(tmp_path, text)))
            assert code == 0, err
            with Warehouse.open() as wh:
                settings = load_delivery(wh)
                outcome = deliver(settings, Message("k", "email", "a@example.com", "hi", "transactional", False))
            assert outcome.status == status and outcome.attempts == 1
        assert outcome.reason == "smtp_auth" and len(sink.received) == 1
        assert "pa55-word" not in _cli(monkeypatch, capsys, "--json", "delivery", "show")[1]
