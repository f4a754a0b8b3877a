"""Journeys end to end with nothing faked: persons ingested from a Segment export carrying their e-mail,
phone and WeCom external_userid (so sealed contact points exist), delivery settings applied by the
owner, a journey applied and run by a marketer through the default delivery — real SMTP to aiosmtpd,
Standard Webhooks to a local receiver that verifies every signature and dedupes by webhook-id."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from delivery_receivers import Behaviour, SmtpSink, WebhookReceiver, settings_yaml
from flywheel_cli import cli

from flywheel.activate.delivery import SMS_OPT_OUT, message_id_for
from flywheel.activate.running import run
from flywheel.activate.tick import verify
from flywheel.collect import ingest_paths
from flywheel.config import load_settings
from flywheel.privacy import Gate
from flywheel.privacy.audit import AuditLog
from flywheel.warehouse import Warehouse, account_persons

T0 = dt.datetime(2025, 3, 1, 4, tzinfo=dt.timezone.utc)  # 12:00 in Shanghai: outside quiet hours
FAST_RETRY = "retry: {attempts: 4, backoff_seconds: 0.01, max_backoff_seconds: 0.05, timeout_seconds: 5}\n"
JOURNEY = """
name: e2e
trigger: {inactive: {event: Community Opened, days: 7}}
holdout: 0
reentry: never
exit_when: {ordered: {since: entry}}
steps:
  - coupon: {value: 20, min_order: 100, valid_days: 7}
  - send: {channel: wecom, purpose: wecom_outreach, text: "好久不见，送你一张券 {{ coupon_code }}"}
  - send: {channel: email, purpose: marketing_email, subject: "专属优惠券 {{ coupon_code }}",
           text: "您好，您的专属券 {{ coupon_code }} 已到账。"}
  - wait: {days: 3}
  - send: {channel: sms, purpose: marketing_sms, text: "券 {{ coupon_code }} 快到期了"}
"""
BODY_KEYS = {"id", "channel", "journey", "step", "person_id", "to", "text", "coupon_code", "purpose"}


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def contacts(i: int) -> dict[str, str]:
    """Person u<i>'s addresses: as the export writes them, and as a channel gets them."""
    return {"email": f"buyer{i}.zhang@example.com", "phone": f"+86 139 {1000 + i:04d} {5600 + i:04d}",
            "sms": f"+86139{1000 + i:04d}{5600 + i:04d}", "wecom": f"wmE2E{i:03d}x9QvK"}


def segment_export(path: Path, persons: int, at: dt.datetime = T0) -> Path:
    """An identify per person (e-mail and phone in traits, the WeCom contact in externalIds, consents,
    time zone) and one `Community Opened`, as Segment writes them."""
    rows = []
    for i in range(persons):
        c, user = contacts(i), f"u{i}"
        rows.append({"type": "identify", "userId": user, "messageId": f"id-{user}", "timestamp": _iso(at),
                     "traits": {"email": c["email"], "phone": c["phone"]},
                     "context": {"timezone": "Asia/Shanghai",
                                 "consent": {"marketing_email": "granted", "marketing_sms": "granted",
                                             "wecom_outreach": "granted"},
                                 "externalIds": [{"id": c["wecom"], "type": "wecom_external_userid",
                                                  "collection": "users", "encoding": "none"}]}})
        rows.append({"type": "track", "event": "Community Opened", "userId": user, "messageId": f"co-{user}",
                     "timestamp": _iso(at)})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path



def setup_world(tmp_path: Path, monkeypatch, capsys, persons: int, smtp_port: int | None, hooks: dict[str, str],
                journey: str = JOURNEY, extra: str = FAST_RETRY) -> dict[str, str]:
    """Ingest, resolve, apply the delivery settings (owner, CLI) and the journey (marketer, CLI);
    returns {account key: person id}."""
    from flywheel.identity import resolve

    with Warehouse.open() as wh:
        ingest_paths(wh, [segment_export(tmp_path / "export.jsonl", persons)])
        resolve(wh, matcher=None)
        persons_of = {r["account_key"]: r["person_id"] for r in wh.fetch(account_persons(wh)).to_pylist()}
    (tmp_path / "delivery.yaml").write_text(settings_yaml(smtp_port, hooks, extra), encoding="utf-8")
    code, out, err = cli(monkeypatch, capsys, "--role", "owner", "delivery", "apply", str(tmp_path / "delivery.yaml"))
    assert code == 0, err
    (tmp_path / "journey.yaml").write_text(journey, encoding="utf-8")
    code, out, err = cli(monkeypatch, capsys, "--role", "marketer", "journey", "apply", str(tmp_path / "journey.yaml"))
    assert code == 0, err
    return persons_of


def _actions() -> list[dict]:
    with Warehouse.open() as wh:
        return wh.fetch(wh.table("journey_actions").order_by("action_key")).to_pylist()


def test_a_marketer_runs_a_journey_that_reaches_people_at_their_real_addresses_without_seeing_one(
        tmp_path, monkeypatch, capsys):
    n = 4
    with SmtpSink() as sink, WebhookReceiver({"/wecom": Behaviour(fail_first=1, fail_status=500),
                                              "/sms": Behaviour(fail_first=2, fail_status=500)}) as hook:
        person = setup_world(tmp_path, monkeypatch, capsys, n, sink.port,
                             {"wecom": f"{hook.url}/wecom", "sms": f"{hook.url}/sms"})
        load_settings.cache_clear()
        with Warehouse.open() as wh, Gate.open(load_settings().with_overrides(role="marketer"), wh, "journey run") as gate:
            first = run(gate, T0 + dt.timedelta(days=8))  # the default delivery: no deliver, no addresses
        code, shown_out, shown_err = cli(monkeypatch, capsys, "--role", "marketer", "--json", "journey", "run",
                                         "--now", _iso(T0 + dt.timedelta(days=11, hours=1)))
        assert code == 0, shown_err
        second = json.loads(shown_out)
        outbox = cli(monkeypatch, capsys, "--role", "marketer", "--json", "journey", "outbox", "e2e", "--limit", "50")
        status = cli(monkeypatch, capsys, "--role", "marketer", "--json", "journey", "status", "e2e")

    tally = first.as_dict()["journeys"][0]
    assert (tally["entered"], tally["sent"], tally["skipped"]) == (n, {"wecom": n, "email": n}, {})
    assert second["journeys"][0]["sent"] == {"sms": n}

    # e-mail: over SMTP, to the person's own address, Message-ID from the action key, one-click unsubscribe
    assert len(sink.received) == n
    for i in range(n):
        c, pid = contacts(i), person[f"u{i}"]
        mail, = [r for r in sink.received if r.rcpt_tos == [c["email"]]]
        m = mail.message
        key = f"e2e/{pid}/1/2"
        assert m["To"] == c["email"] and m["Message-ID"] == message_id_for(key, "example.com")
        assert m["List-Unsubscribe"].startswith("<https://shop.example.com/unsubscribe/")
        assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert str(m["Subject"]).startswith("专属优惠券 FW")
        code = next(a["coupon_code"] for a in _actions() if a["action_key"] == key)
        assert code in str(m["Subject"]) and code in m.get_body(("plain",)).get_content()

    # webhooks: signed (the receiver verifies with `standardwebhooks`), retried after 500s, one side effect each
    assert hook.bad_signatures == 0
    wecom = {k: v for k, v in hook.effects.items() if v["channel"] == "wecom"}
    sms = {k: v for k, v in hook.effects.items() if v["channel"] == "sms"}
    assert len(wecom) == n and len(sms) == n and hook.duplicates == 0
    assert all(hook.attempts[k] == 2 for k in wecom) and all(hook.attempts[k] == 3 for k in sms)
    for i in range(n):
        c, pid = contacts(i), person[f"u{i}"]
        care, remind = wecom[f"e2e/{pid}/1/1"], sms[f"e2e/{pid}/1/4"]
        assert BODY_KEYS <= set(care) and BODY_KEYS <= set(remind)
        assert (care["id"], care["person_id"], care["to"], care["purpose"], care["journey"], care["step"]) == (
            f"e2e/{pid}/1/1", pid, c["wecom"], "wecom_outreach", "e2e", "1")
        assert (remind["to"], remind["purpose"], remind["step"]) == (c["sms"], "marketing_sms", "4")
        assert care["coupon_code"] == remind["coupon_code"] and care["coupon_code"] in care["text"]
        assert remind["text"].endswith(SMS_OPT_OUT), "marketing SMS end with the opt-out text"
    ids = {r[1]["webhook-id"] for r in hook.requests}
    assert ids == set(hook.effects), "every attempt carried its action key as webhook-id"

    # the outbox: every action sent, and it holds no address
    rows = _actions()
    assert {(r["channel"], r["status"]) for r in rows} == {("wecom", "sent"), ("email", "sent"), ("sms", "sent")}
    assert len(rows) == 3 * n
    addresses = [v for i in range(n) for k, v in contacts(i).items()]
    addresses += [a.split("@")[0] for a in addresses if "@" in a] + [contacts(i)["sms"][3:] for i in range(n)]
    seen_by_marketer = "\n".join([json.dumps(first.as_dict(), ensure_ascii=False, default=str),
                                  json.dumps(first.plan, ensure_ascii=False, default=str),
                                  json.dumps(rows, ensure_ascii=False, default=str),
                                  shown_out, shown_err, *outbox[1:], *status[1:]])
    assert outbox[0] == 0 and status[0] == 0
    for address in addresses:
        assert address not in seen_by_marketer, address
    assert json.loads(outbox[1])["counts"] == {"sent": 3 * n}

    # the audit log: the delivery step opened them, for the marketer, one entry per channel and tick
    entries = list(AuditLog.for_settings(load_settings()).entries(action="contacts.open"))
    assert sorted(e["target"] for e in entries) == ["email contact points", "sms contact points",
                                                    "wecom contact points"]
    for e in entries:
        assert e["actor"] == "flywheel-delivery" and e["role"] == "delivery"
        assert e["detail"]["on_behalf_of"]["role"] == "marketer" and e["detail"]["opened"] == n
    log_text = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "flywheel.duckdb.audit").glob("*.jsonl"))
    for address in addresses:
        assert address not in log_text, address


CRASH_JOURNEY = """
name: crash
trigger: {inactive: {event: Community Opened, days: 7}}
holdout: {percent: 20}
reentry: never
steps:
  - coupon: {value: 20, min_order: 100, valid_days: 7}
  - send: {channel: wecom, purpose: wecom_outreach, text: "好久不见，送你一张券 {{ coupon_code }}"}
  - send: {channel: sms, purpose: marketing_sms, text: "券 {{ coupon_code }} 已到账"}
"""
BATCH = 4


def _journey_run(now: str) -> subprocess.Popen:
    """`flywheel journey run` as its own process, as the marketer, with small send batches."""
    env = dict(os.environ, FLYWHEEL_SEND_BATCH=str(BATCH), FLYWHEEL_ROLE="marketer")
    return subprocess.Popen([sys.executable, "-m", "flywheel", "--json", "journey", "run", "--now", now], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_when(proc: subprocess.Popen, hook: WebhookReceiver, how: str, at: float, start: int) -> bool:
    """kill -9 `proc` once `at` seconds passed or `at` requests reached the receiver; whether it was killed."""
    begun = time.monotonic()
    while proc.poll() is None:
        if (how == "seconds" and time.monotonic() - begun >= at) or \
                (how == "requests" and len(hook.requests) - start >= at):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            return True
        time.sleep(0.002)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 5])
def test_a_journey_run_killed_at_random_points_sends_nothing_twice_and_loses_nothing(tmp_path, monkeypatch, capsys,
                                                                                     seed):
    rng = random.Random(seed)
    slow = Behaviour(delay_seconds=0.01)
    with WebhookReceiver({"/wecom": slow, "/sms": slow}) as hook:
        setup_world(tmp_path, monkeypatch, capsys, 30, None, {"wecom": f"{hook.url}/wecom", "sms": f"{hook.url}/sms"},
                    CRASH_JOURNEY, FAST_RETRY + "concurrency: {webhooks: 2}\n")
        now = _iso(T0 + dt.timedelta(days=8))
        code, out, err = cli(monkeypatch, capsys, "--role", "marketer", "journey", "run", "--now", now, "--dry-run",
                             "--plan", str(tmp_path / "plan.jsonl"))
        assert code == 0, err
        plan = [json.loads(line) for line in (tmp_path / "plan.jsonl").read_text().splitlines()]
        planned = {p["action_key"] for p in plan if p["status"] == "sent"}
        assert len(planned) == len(plan) > 8 * BATCH and not hook.requests
        # a kill at a random moment (planning, opening addresses or sending) or mid-send, then one mid-send
        first = ("seconds", rng.uniform(1.0, 7.0)) if rng.random() < 0.5 else ("requests", rng.randint(1, 3 * BATCH))
        kills = [first, ("requests", rng.randint(1, 3 * BATCH))]
        redelivered, outcomes = [], []
        for how, at in kills + [("never", 0)]:
            effects_before, start = set(hook.effects), len(hook.requests)
            left = len(planned - effects_before)
            if how == "requests":
                if left <= BATCH:  # an earlier kill came after nearly every send: none left to kill amid
                    continue
                at = min(at, left - BATCH)  # a batch or more still to go when the kill comes
            proc = _journey_run(now)
            killed = _kill_when(proc, hook, how, at, start)
            out, err = proc.communicate(timeout=120)
            time.sleep(0.05)  # what a killed run had in flight reaches the receiver
            asked = {r[1]["webhook-id"] for r in hook.requests[start:]}
            redelivered.append(len(asked & effects_before))
            outcomes.append((how, killed, len(hook.effects) - len(effects_before)))
            if not killed:
                assert proc.returncode == 0, err
            with Warehouse.open() as wh:
                verify(wh)
            if not killed:
                break
        assert all(killed for how, killed, _ in outcomes if how == "requests"), outcomes
        assert not outcomes[-1][1], "the last run completes"
        assert set(hook.effects) == planned, "every planned message delivered, nothing else"
        assert hook.bad_signatures == 0
        assert all(n <= BATCH for n in redelivered), ("at most the batch in flight is delivered again", redelivered)
        assert hook.duplicates == sum(redelivered), "every repeat was a redelivery under the same webhook-id"
        rows = _actions()
        assert {r["action_key"] for r in rows if r["status"] == "sent"} == planned and \
            {r["status"] for r in rows} == {"sent"}
        assert cli(monkeypatch, capsys, "--role", "owner", "audit", "verify")[0] == 0


def test_the_send_batch_knob_is_checked_before_anything_is_planned(monkeypatch):
    from flywheel.activate.tick import SEND_BATCH, send_batch
    from flywheel.errors import ConfigError

    assert send_batch() == SEND_BATCH
    monkeypatch.setenv("FLYWHEEL_SEND_BATCH", "7")
    assert send_batch() == 7
    for bad in ("0", "-3", "ten"):
        monkeypatch.setenv("FLYWHEEL_SEND_BATCH", bad)
        with pytest.raises(ConfigError, match="FLYWHEEL_SEND_BATCH must be a whole number"):
            send_batch()


def test_verify_finds_a_broken_invariant(warehouse):
    from flywheel.activate.outbox import as_table

    episode = {"journey": "j", "person_id": "p1", "episode": 1, "grp": "treatment", "entered_at": T0, "state": "active",
               "updated_at": T0}
    warehouse.put("journey_episodes", as_table([episode], warehouse, "journey_episodes"))
    verify(warehouse)
    warehouse.put("journey_episodes", as_table([dict(episode, episode=3)], warehouse, "journey_episodes"))
    with pytest.raises(AssertionError, match=r"p1 has episodes \[1, 3\]"):
        verify(warehouse)
    warehouse.put("journey_episodes", as_table([dict(episode, episode=2, grp="holdout", state="exited")], warehouse,
                                               "journey_episodes"))
    warehouse.put("journey_episodes", as_table([dict(episode, episode=3, state="exited")], warehouse,
                                               "journey_episodes"))
    verify(warehouse)
    action = {"action_key": "j/p1/2/0", "journey": "j", "person_id": "p1", "episode": 2, "step": "0",
              "channel": "sms", "purpose": "marketing_sms", "scheduled_at": T0, "status": "sent", "created_at": T0}
    warehouse.put("journey_actions", as_table([action], warehouse, "journey_actions"))
    with pytest.raises(AssertionError, match="belongs to no treatment episode"):
        verify(warehouse)


def test_a_gateway_down_for_a_tick_gets_the_message_later_under_the_same_key_once(tmp_path, monkeypatch, capsys):
    journey = JOURNEY.split("  - send: {channel: email")[0]  # the coupon and the WeCom message
    with WebhookReceiver({"/wecom": Behaviour(fail_first=4, fail_status=503)}) as hook:
        person = setup_world(tmp_path, monkeypatch, capsys, 2, None, {"wecom": f"{hook.url}/wecom"}, journey,
                             FAST_RETRY.replace("attempts: 4", "attempts: 2"))
        ticks = []
        for at in (dt.timedelta(days=8), dt.timedelta(days=8, minutes=4), dt.timedelta(days=8, minutes=5),
                   dt.timedelta(days=8, minutes=36)):
            with Warehouse.open() as wh, Gate.open(load_settings().with_overrides(role="marketer"), wh, "run") as gate:
                ticks.append(run(gate, T0 + at).as_dict()["journeys"][0])
            ticks[-1]["actions"] = [(a["status"], a["reason"], a["scheduled_at"] - T0) for a in _actions()]
            ticks[-1]["attempts"] = sum(hook.attempts.values())
    keys = {f"e2e/{person[u]}/1/1" for u in ("u0", "u1")}
    first, early, second, third = ticks
    assert first["sent"] == {} and first["deferred"] == 2 and {a[:2] for a in first["actions"]} == {
        ("planned", "server_error")}, "two attempts in the tick, then later"
    assert {a[2] for a in first["actions"]} == {dt.timedelta(days=8, minutes=5)}
    assert first["attempts"] == 4 and early["sent"] == {} and early["attempts"] == 4, "not before it is due"
    assert second["sent"] == {} and second["attempts"] == 8 and {a[2] for a in second["actions"]} == {dt.timedelta(days=8, minutes=35)}
    assert third["sent"] == {"wecom": 2} and {a[0] for a in third["actions"]} == {"sent"}
    assert set(hook.effects) == keys and hook.duplicates == 0 and third["attempts"] == 10
    assert {r[1]["webhook-id"] for r in hook.requests} == keys, "every attempt, in every tick, under the action key"
