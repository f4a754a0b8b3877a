"""Delivery through real endpoints: SMTP to aiosmtpd on 127.0.0.1, webhooks to a local HTTP receiver
that verifies each signature with the `standardwebhooks` package and performs its side effect once
per webhook-id."""

from __future__ import annotations

import datetime as dt
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from delivery_receivers import Behaviour, SmtpSink, WebhookReceiver, body, settings_yaml

from flywheel.activate.delivery import (
    SMS_OPT_OUT,
    Message,
    apply_delivery,
    deliver,
    deliver_many,
    load_delivery,
    load_settings_file,
    message_id_for,
    read_unsubscribe_token,
    wecom_allows,
)
from flywheel.activate.delivery.store import unsubscribe_key
from flywheel.privacy import Gate
from flywheel.privacy.roles import Actor, role_named
from flywheel.warehouse import Warehouse

FAST_RETRY = "retry: {attempts: 4, backoff_seconds: 0.01, max_backoff_seconds: 0.05, timeout_seconds: 2}\n"
SUBJECT = "春季会员日：专属优惠券已到账 — Spring members' day"


def settings_from(tmp_path: Path, text: str):
    path = tmp_path / "delivery.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings_file(path)


def applied(tmp_path: Path, text: str):
    """Apply `text` as the owner and load the settings in force, as the executor does."""
    with Warehouse.open() as wh:
        return _apply(wh, tmp_path, text)


def sms(key: str, text: str = "春季上新，会员八折", marketing: bool = True, to: str = "+8613812345678") -> Message:
    return Message(key, "sms", to, text, "marketing_sms", marketing, person_id="p1", journey="winback", step="remind",
                   coupon_code="FW-7Q2K")


def test_email_over_real_smtp_carries_the_person_address_utf8_subject_key_message_id_and_one_click(tmp_path):
    with SmtpSink() as sink:
        settings = applied(tmp_path, settings_yaml(sink.port))
        marketing = Message("winback:p1:1:care", "email", "zhang.wei@example.com", "您好，专属优惠券 FW-7Q2K 已到账。",
                            "marketing_email", True, person_id="p1", subject=SUBJECT, html="<p>您好</p>")
        receipt = Message("order:p2:1:paid", "email", "li.na@example.com", "Thanks for your order", "transactional",
                          False, person_id="p2", subject="Your order\nhas shipped")  # a template's line break
        outcomes = deliver_many(settings, [marketing, receipt])
        again = deliver(settings, marketing)  # a re-run after a lost acknowledgement
    assert [o.status for o in outcomes] == ["delivered", "delivered"] and again.delivered
    first, repeat = [r for r in sink.received if r.rcpt_tos == ["zhang.wei@example.com"]]
    second, = [r for r in sink.received if r.rcpt_tos == ["li.na@example.com"]]
    assert first.rcpt_tos == ["zhang.wei@example.com"] and first.mail_from == "shop@example.com"
    mail = first.message
    raw = first.data.decode("ascii")  # everything on the wire is ASCII: the subject travels as encoded words
    head = raw.split("\r\n\r\n")[0]
    assert "=?utf-8?" in head and str(make_header(decode_header(mail["Subject"]))) == SUBJECT
    assert all(len(line) <= 78 for line in head.split("\r\n") if not line.startswith("List-Unsubscribe:")), head
    assert "\r\nList-Unsubscribe: <https://shop.example.com/unsubscribe/" in head, "links as written, not encoded words"
    assert mail["To"] == "zhang.wei@example.com" and mail["From"].addresses[0].addr_spec == "shop@example.com"
    assert mail["Message-ID"] == message_id_for("winback:p1:1:care", "example.com")
    assert repeat.message["Message-ID"] == mail["Message-ID"] != second.message["Message-ID"]
    links = [part.strip().strip("<>") for part in mail["List-Unsubscribe"].split(",")]
    assert links[0].startswith("https://shop.example.com/unsubscribe/") and links[1].startswith("mailto:shop@example.com")
    with Warehouse.open() as wh:
        assert read_unsubscribe_token(unsubscribe_key(wh), links[0].rsplit("/", 1)[1]) == ("p1", "marketing_email")
        assert read_unsubscribe_token(unsubscribe_key(wh), links[0].rsplit("/", 1)[1][:-2] + "xx") is None
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.get_body(("plain",)).get_content().strip() == marketing.text
    assert mail.get_body(("html",)).get_content().strip() == "<p>您好</p>"
    assert "List-Unsubscribe" not in second.message and second.message["To"] == "li.na@example.com"
    assert second.message["Subject"] == "Your order has shipped"


def test_smtp_refusals_fail_permanently_or_retry_within_bounds(tmp_path):
    with SmtpSink() as sink:
        sink.refuse = {"gone@example.com": "550 5.1.1 No such user", "full@example.com": "452 4.2.2 Mailbox full"}
        settings = settings_from(tmp_path, settings_yaml(sink.port, extra=FAST_RETRY))
        mails = [Message(f"k{i}", "email", to, "hi", "marketing_email", True, person_id=f"p{i}", subject="Hi")
                 for i, to in enumerate(["gone@example.com", "full@example.com", "ok@example.com", "not-an-address"])]
        gone, full, ok, bad = deliver_many(settings, mails)
    assert (gone.status, gone.reason, gone.attempts) == ("failed", "recipient_refused", 1) and "550" in gone.detail
    assert (full.status, full.reason, full.attempts) == ("retry_later", "smtp_temporary", 4) and "452" in full.detail
    assert ok.delivered and (bad.status, bad.reason) == ("failed", "invalid_address")
    assert [r.rcpt_tos for r in sink.received] == [["ok@example.com"]]


def test_webhook_retries_until_2xx_with_one_side_effect_and_a_stable_verified_id(tmp_path):
    with WebhookReceiver({"/sms": Behaviour(fail_first=2, fail_status=503),
                          "/wecom": Behaviour(fail_first=1, fail_status=429, retry_after="0")}) as hook:
        settings = settings_from(tmp_path, settings_yaml(hooks={"sms": f"{hook.url}/sms", "wecom": f"{hook.url}/wecom"},
                                                         extra=FAST_RETRY))
        text = sms("winback:p1:1:remind")
        care = Message("winback:p1:1:care", "wecom", "wmQ9x", "好久不见", "wecom_outreach", True, person_id="p1")
        first = deliver_many(settings, [text, care])
        replay = deliver(settings, text)  # the executor crashed before recording the outcome, and runs again
    assert [(o.status, o.attempts) for o in first] == [("delivered", 3), ("delivered", 2)] and replay.delivered
    assert hook.bad_signatures == 0 and hook.attempts == {"winback:p1:1:remind": 4, "winback:p1:1:care": 2}
    assert len(hook.effects) == 2 and hook.duplicates == 1, "every copy verified, the side effect happened once"
    ids = {r[1]["webhook-id"] for r in hook.requests if r[0] == "/sms"}
    assert ids == {"winback:p1:1:remind"} and all(r[1]["webhook-timestamp"].isdigit() for r in hook.requests)
    sent = hook.effects["winback:p1:1:remind"]
    assert {k: sent[k] for k in ("id", "channel", "journey", "step", "person_id", "to", "coupon_code", "purpose")} == {
        "id": "winback:p1:1:remind", "channel": "sms", "journey": "winback", "step": "remind", "person_id": "p1",
        "to": "+8613812345678", "coupon_code": "FW-7Q2K", "purpose": "marketing_sms"}
    assert sent["text"] == "春季上新，会员八折" + SMS_OPT_OUT == first[0].text


def test_a_timeout_is_retried_and_a_lost_acknowledgement_does_not_double_the_effect(tmp_path):
    with WebhookReceiver({"/sms": Behaviour(hang_first=1, hang_seconds=0.6, effect_before_hang=True)}) as hook:
        settings = settings_from(tmp_path, settings_yaml(hooks={"sms": f"{hook.url}/sms"},
                                                         extra=FAST_RETRY.replace("timeout_seconds: 2", "timeout_seconds: 0.2")))
        outcome = deliver(settings, sms("k-timeout"))
    assert (outcome.status, outcome.attempts) == ("delivered", 2)
    assert hook.attempts["k-timeout"] == 2 and len(hook.effects) == 1 and hook.duplicates == 1


def test_attempts_are_bounded_and_end_in_retry_later(tmp_path):
    with WebhookReceiver({"/sms": Behaviour(fail_first=99, fail_status=500)}) as hook:
        settings = settings_from(tmp_path, settings_yaml(hooks={"sms": f"{hook.url}/sms"}, extra=FAST_RETRY))
        outcome = deliver(settings, sms("k-down"))
    assert (outcome.status, outcome.reason, outcome.attempts) == ("retry_later", "server_error", 4)
    assert hook.attempts["k-down"] == 4 and not hook.effects and "HTTP 500" in outcome.detail


def test_an_endpoint_that_fails_in_a_row_is_not_hammered_for_the_rest_of_the_batch(tmp_path):
    with WebhookReceiver({"/sms": Behaviour(fail_first=99)}) as hook:
        settings = settings_from(tmp_path, settings_yaml(hooks={"sms": f"{hook.url}/sms"}, extra=FAST_RETRY.replace(
            "retry: {", "concurrency: {webhooks: 2}\nretry: {breaker: 6, ")))
        outcomes = deliver_many(settings, [sms(f"k{i}") for i in range(40)])
    assert {o.status for o in outcomes} == {"retry_later"}
    assert sum(hook.attempts.values()) < 12 and sum(o.reason == "endpoint_unavailable" for o in outcomes) >= 36


def _apply(wh, tmp_path: Path, text: str):
    path = tmp_path / "delivery.yaml"
    path.write_text(text, encoding="utf-8")
    with Gate(wh.settings, wh, Actor("owner-test", role_named("owner")), "delivery apply") as gate:
        apply_delivery(gate, path)
    return load_delivery(wh)


def test_410_disables_the_endpoint_until_the_settings_are_applied_again(tmp_path):
    with WebhookReceiver({"/sms": Behaviour(status=410)}) as hook:
        text = settings_yaml(hooks={"sms": f"{hook.url}/sms"}, extra=FAST_RETRY + "concurrency: {webhooks: 1}\n")
        with Warehouse.open() as wh:
            outcomes = deliver_many(_apply(wh, tmp_path, text), [sms(f"k{i}") for i in range(3)])
        assert [(o.status, o.reason) for o in outcomes] == [("endpoint_disabled", "gone")] + [
            ("endpoint_disabled", "endpoint_disabled")] * 2
        assert sum(hook.attempts.values()) == 1
        with Warehouse.open() as wh:  # stored: a later run refuses without asking the endpoint
            later = load_delivery(wh)
            assert later.endpoints.disabled("sms")["reason"] == "gone"
            assert deliver(later, sms("k9")).reason == "endpoint_disabled" and sum(hook.attempts.values()) == 1
            hook.behaviour["/sms"] = Behaviour()
            again = _apply(wh, tmp_path, text)
            assert again.endpoints.disabled("sms") is None and deliver(again, sms("k9")).delivered


def test_marketing_sms_end_with_the_opt_out_text_and_transactional_ones_are_left_alone(tmp_path):
    with WebhookReceiver() as hook:
        settings = settings_from(tmp_path, settings_yaml(hooks={"sms": f"{hook.url}/sms"}))
        plain, signed, receipt = deliver_many(settings, [sms("a", "会员日八折 "), sms("b", "会员日八折，回T退订"),
                                                         sms("c", "您的订单已发货", marketing=False)])
    assert plain.text == "会员日八折" + SMS_OPT_OUT and signed.text == "会员日八折，回T退订"
    assert receipt.text == "您的订单已发货"
    assert [hook.effects[k]["text"] for k in "abc"] == [plain.text, signed.text, receipt.text]


SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _wecom(key: str, to: str = "wmQ9x", marketing: bool = True) -> Message:
    return Message(key, "wecom", to, "好久不见，送您一张券", "wecom_outreach", marketing, person_id="p1")


def test_wecom_allows_one_mass_message_per_contact_per_shanghai_day():
    sent = [{"channel": "wecom", "to": "wmQ9x", "person_id": "p1", "marketing": True,
             "sent_at": dt.datetime(2024, 5, 1, 16, 30, tzinfo=dt.timezone.utc)}]  # 2024-05-02 00:30 in Shanghai
    same_day = dt.datetime(2024, 5, 2, 23, 50, tzinfo=SHANGHAI)  # 15:50 UTC: the UTC date is also May 2nd
    refused = wecom_allows(sent, _wecom("k2"), same_day)
    assert refused is not None and refused.reason == "wecom_daily_limit" and "status 3" in refused.detail
    assert wecom_allows(sent, _wecom("k2"), dt.datetime(2024, 5, 2, 8, tzinfo=SHANGHAI)) is not None  # UTC: May 2, 00:00
    assert wecom_allows(sent, _wecom("k2"), dt.datetime(2024, 5, 3, 0, 5, tzinfo=SHANGHAI)) is None, "the next day"
    assert wecom_allows(sent, _wecom("k2"), dt.datetime(2024, 5, 1, 23, 59, tzinfo=SHANGHAI)) is None, "the day before"
    assert wecom_allows(sent, _wecom("k2", marketing=False), same_day) is None, "transactional is not limited"
    assert wecom_allows(sent, _wecom("k2", to="wmOther"), same_day) is None, "another contact"
    by_person = [dict(sent[0], to=None)]
    assert wecom_allows(by_person, _wecom("k2"), same_day) is not None, "history without an address: by person"
    assert wecom_allows([dict(sent[0], marketing=False)], _wecom("k2"), same_day) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        wecom_allows(sent, _wecom("k2"), dt.datetime(2024, 5, 2, 12))


def test_within_a_batch_the_second_wecom_mass_message_is_refused_and_nothing_is_sent_for_it(tmp_path):
    with WebhookReceiver() as hook:
        settings = settings_from(tmp_path, settings_yaml(hooks={"wecom": f"{hook.url}/wecom"}))
        now = dt.datetime(2024, 5, 2, 2, tzinfo=dt.timezone.utc)
        first, second, receipt = deliver_many(settings, [_wecom("k1"), _wecom("k2"), _wecom("k3", marketing=False)],
                                              now=now)
        earlier = [{"channel": "wecom", "to": "wmQ9x", "marketing": True, "sent_at": now - dt.timedelta(hours=1)}]
        history_refused = deliver_many(settings, [_wecom("k4")], history=earlier, now=now)[0]
    assert first.delivered and receipt.delivered
    assert (second.status, second.reason, second.attempts) == ("refused", "wecom_daily_limit", 0)
    assert history_refused.reason == "wecom_daily_limit" and set(hook.effects) == {"k1", "k3"}


def test_a_channel_without_an_endpoint_fails_with_a_reason(tmp_path):
    with WebhookReceiver() as hook:
        settings = settings_from(tmp_path, settings_yaml(hooks={"sms": f"{hook.url}/sms"}))
        mail, wecom, empty, masked = deliver_many(settings, [
            Message("k1", "email", "a@example.com", "hi", "marketing_email"), _wecom("k2"), sms("k3", to=""),
            sms("k4", to="138****5678")])
    assert (mail.status, mail.reason) == ("failed", "no_endpoint") and "configured: sms" in mail.detail
    assert wecom.reason == "no_endpoint" and (empty.status, empty.reason) == ("failed", "invalid_address")
    assert (masked.reason, masked.detail) == ("invalid_address", "not a full phone number")
    assert not hook.requests


def test_a_connection_refused_is_retried_then_retry_later(tmp_path):
    from delivery_receivers import free_port

    settings = settings_from(tmp_path, settings_yaml(hooks={"sms": f"http://127.0.0.1:{free_port()}/sms"},
                                                     extra=FAST_RETRY))
    outcome = deliver(settings, sms("k1"))
    assert (outcome.status, outcome.reason, outcome.attempts) == ("retry_later", "connection_error", 4)


def test_the_webhook_body_is_what_was_signed(tmp_path):
    with WebhookReceiver() as hook:
        settings = settings_from(tmp_path, settings_yaml(hooks={"sms": f"{hook.url}/sms"}))
        deliver(settings, sms("k1"))
    (path, headers, raw), = hook.requests
    assert body(hook.requests[0])["id"] == headers["webhook-id"] == "k1"
    assert headers["webhook-signature"].startswith("v1,") and headers["content-type"] == "application/json"
    tampered = raw.replace("八折".encode(), "七折".encode())
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        hook.verifier.verify(tampered, headers)
