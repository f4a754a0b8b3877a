"""Journeys on hand-made persons: holdouts, re-entry, consent during a wait, quiet hours across DST,
caps that skip or defer, and dry runs that plan exactly what the live tick sends."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flywheel.activate.outbox import Guards, in_quiet, quiet_window
from flywheel.activate.running import apply_journeys, journey_status, run
from flywheel.activate.tick import TickBusy, tick_lock
from flywheel.collect import ingest_paths
from flywheel.config import load_settings
from flywheel.privacy import Gate
from flywheel.warehouse import account_persons

T0 = dt.datetime(2025, 3, 1, 12, tzinfo=dt.timezone.utc)
WINBACK = """
name: winback
trigger: {inactive: {event: Community Opened, days: 7}}
holdout: {percent: 20}
reentry: REENTRY
exit_when: {ordered: {since: entry}}
steps:
  - coupon: {value: 20, min_order: 100, valid_days: 7}
  - send: {channel: wecom, purpose: wecom_outreach, text: "好久不见，送你一张券 {{ coupon_code }}"}
  - wait: {days: 3}
  - send: {channel: sms, purpose: marketing_sms, text: "券 {{ coupon_code }} 满{{ coupon_min_order }}减{{ coupon_value }} {{ coupon_valid_until }}到期 回T退订"}
"""


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _identify(user: str, at: dt.datetime, zone: str = "Asia/Shanghai", **consent) -> dict:
    choices = {"marketing_sms": "granted", "wecom_outreach": "granted", **consent}
    return {"type": "identify", "userId": user, "messageId": f"id-{user}-{at:%s}", "timestamp": _iso(at),
            "context": {"consent": choices, "timezone": zone}}


def _opened(user: str, at: dt.datetime) -> dict:
    return {"type": "track", "event": "Community Opened", "userId": user, "messageId": f"co-{user}-{at:%s}",
            "timestamp": _iso(at)}


class Receiver:
    """Records what the tick hands to delivery, as a channel endpoint would see it."""

    def __init__(self):
        self.messages: list[dict] = []

    def __call__(self, batch):
        self.messages += [dict(a, to=address) for a, address in batch]
        return [("sent", None)] * len(batch)


class Everyone:
    """An address book where everyone is reachable at `channel:person`."""

    def reachable(self, channel, persons):
        return set(persons)

    def open(self, channel, persons, purpose=None):
        return {p: f"{channel}:{p}" for p in persons}


def _world(tmp_path: Path, warehouse, persons: int = 30, zones=("Asia/Shanghai",)) -> list[str]:
    rows = []
    for i in range(persons):
        user = f"u{i}"
        rows.append(_identify(user, T0, zones[i % len(zones)]))
        rows.append(_opened(user, T0))
    ingest_paths(warehouse, [_write(tmp_path / "world.jsonl", rows)])
    from flywheel.identity import resolve

    resolve(warehouse, matcher=None)
    return [f"u{i}" for i in range(persons)]


def _journey(tmp_path: Path, warehouse, text: str = WINBACK, reentry: str = "never") -> None:
    (tmp_path / "j.yaml").write_text(text.replace("REENTRY", reentry), encoding="utf-8")
    with _gate(warehouse, "marketer") as gate:
        apply_journeys(gate, [tmp_path / "j.yaml"])


def _gate(wh, role: str = "service"):
    return Gate.open(load_settings().with_overrides(role=role), wh, "test")


def _tick(wh, now, receiver, guards=None, dry_run=False):
    with _gate(wh) as gate:
        return run(gate, now, dry_run=dry_run, guards=guards or Guards(quiet_hours={}), deliver=receiver,
                   addresses=Everyone())


def _users(wh) -> dict[str, str]:
    return {r["person_id"]: r["account_key"] for r in wh.fetch(account_persons(wh)).to_pylist()}


def test_holdout_is_deterministic_within_bounds_and_receives_nothing(warehouse, tmp_path):
    _world(tmp_path, warehouse, persons=200)
    _journey(tmp_path, warehouse)
    receiver = Receiver()
    dry = _tick(warehouse, T0 + dt.timedelta(days=8), receiver, dry_run=True)
    assert receiver.messages == [], "a dry run delivers nothing"
    live = _tick(warehouse, T0 + dt.timedelta(days=8), receiver)
    assert [(p["action_key"], p["status"]) for p in dry.plan] == [(p["action_key"], p["status"]) for p in live.plan]
    assert sorted(m["action_key"] for m in receiver.messages) == sorted(
        p["action_key"] for p in dry.plan if p["status"] == "sent")
    e = warehouse.table("journey_episodes")
    episodes = warehouse.fetch(e).to_pylist()
    held = {r["person_id"] for r in episodes if r["grp"] == "holdout"}
    assert len(episodes) == 200
    n, p = 200, 0.20
    assert abs(len(held) - n * p) <= 3 * math.sqrt(n * p * (1 - p)), len(held)
    assert not held & {m["person_id"] for m in receiver.messages}, "the holdout receives nothing"
    a = warehouse.fetch(warehouse.table("journey_actions")).to_pylist()
    assert not held & {r["person_id"] for r in a}, "holdout episodes have no actions at all"
    from flywheel.activate.compile import percent_threshold, random_bucket

    expected = {pid for pid in _users(warehouse) if random_bucket(pid, "journey holdout:winback") < percent_threshold(20)}
    assert held == expected, "the same persons at every run: a hash of the journey and the person"
    assert all(m["text"].startswith("好久不见") and m["coupon_code"] in m["text"] for m in receiver.messages)


def test_reentry_policies(warehouse, tmp_path):
    for policy, expected in (("never", 1), ("after_exit", 2), ("{cooldown_days: 30}", 1)):
        import shutil

        from flywheel.warehouse import Warehouse

        folder = tmp_path / policy.strip("{}:").replace(" ", "")
        folder.mkdir()
        db = folder / "w.duckdb"
        shutil.copyfile(load_settings().db_path, db)
        with Warehouse.open(load_settings().with_overrides(db_path=db)) as wh:
            _world(folder, wh, persons=5)
            _journey(folder, wh, WINBACK.replace("holdout: {percent: 20}", "holdout: 0"), policy)
            receiver = Receiver()
            _tick(wh, T0 + dt.timedelta(days=8), receiver)
            order = folder / "order.csv"
            order.write_text(_shopify_order("u0", T0 + dt.timedelta(days=9)), encoding="utf-8")
            ingest_paths(wh, [_write(folder / "link.jsonl", [{
                "type": "identify", "userId": "u0", "messageId": "link-u0", "timestamp": _iso(T0),
                "traits": {"email": "u0@example.com"}}, _opened("u0", T0 + dt.timedelta(days=10))]), order])
            from flywheel.identity import resolve

            resolve(wh, matcher=None)
            _tick(wh, T0 + dt.timedelta(days=9, hours=1), receiver)
            for day in (17.5, 25):
                _tick(wh, T0 + dt.timedelta(days=day), receiver)
            e = wh.table("journey_episodes")
            rows = wh.fetch(e).to_pylist()
            person = {r["account_key"]: r["person_id"] for r in wh.fetch(account_persons(wh)).to_pylist()}["u0"]
            mine = sorted((r["episode"], r["end_reason"]) for r in rows if r["person_id"] == person)
            assert max(ep for ep, _ in mine) == expected, (policy, mine)
            assert mine[0][1] == "exit_when", "ordering after entry leaves the journey"


def _shopify_order(user: str, at: dt.datetime) -> str:
    header = ("Name,Email,Financial Status,Paid at,Fulfillment Status,Accepts Marketing,Currency,Subtotal,"
              "Shipping,Taxes,Total,Discount Code,Discount Amount,Created at,Lineitem quantity,Lineitem name,"
              "Lineitem price,Lineitem sku,Billing Name,Shipping Name,Shipping Address1,Shipping City,"
              "Shipping Zip,Shipping Province,Shipping Country,Shipping Phone,Cancelled at,Refunded Amount,"
              "Source,Phone,Id")
    stamp = at.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S +0800")
    return (header + "\n" + f"#9001,{user}@example.com,paid,{stamp},fulfilled,no,CNY,150.00,0.00,0.00,150.00,,0.00,"
            f"{stamp},1,Tea,150.00,TEA-1,A B,A B,1 Road,Hangzhou,310000,ZJ,CN,,,0.00,web,,9001\n")


def test_consent_withdrawn_during_a_wait_stops_the_send(warehouse, tmp_path):
    _world(tmp_path, warehouse, persons=4)
    _journey(tmp_path, warehouse, WINBACK.replace("holdout: {percent: 20}", "holdout: 0"))
    receiver = Receiver()
    _tick(warehouse, T0 + dt.timedelta(days=8), receiver)
    assert {m["channel"] for m in receiver.messages} == {"wecom"} and len(receiver.messages) == 4
    ingest_paths(warehouse, [_write(tmp_path / "withdraw.jsonl", [
        _identify("u1", T0 + dt.timedelta(days=9), marketing_sms="withdrawn")])])
    _tick(warehouse, T0 + dt.timedelta(days=11, hours=1), receiver)
    user = _users(warehouse)
    sms = {user[m["person_id"]] for m in receiver.messages if m["channel"] == "sms"}
    assert sms == {"u0", "u2", "u3"}
    until = (T0 + dt.timedelta(days=15)).date().isoformat()
    assert all(f"满100减20 {until}到期" in m["text"] for m in receiver.messages if m["channel"] == "sms"), [
        m["text"] for m in receiver.messages if m["channel"] == "sms"]
    a = warehouse.table("journey_actions")
    skipped = warehouse.fetch(a.filter(a.status == "skipped")).to_pylist()
    assert [(user[r["person_id"]], r["reason"]) for r in skipped] == [("u1", "no_consent")]


def test_quiet_hours_in_two_time_zones_across_a_dst_change(warehouse, tmp_path):
    # Europe/Berlin moves to summer time at 01:00 UTC on 2025-03-30; New York did on 2025-03-09.
    zones = ("Europe/Berlin", "America/New_York")
    _world(tmp_path, warehouse, persons=2, zones=zones)
    text = WINBACK.replace("holdout: {percent: 20}", "holdout: 0").replace(
        "trigger: {inactive: {event: Community Opened, days: 7}}",
        "trigger: {inactive: {event: Community Opened, days: 28.4}}")
    _journey(tmp_path, warehouse, text)
    guards = Guards(quiet_hours={"marketing": "21:00-08:00"})
    receiver = Receiver()
    # 2025-03-29 22:30 UTC: Berlin 23:30 (CET, quiet), New York 18:30 (EDT, not quiet).
    first = T0 + dt.timedelta(days=28, hours=10, minutes=30)
    _tick(warehouse, first, receiver, guards)
    user = _users(warehouse)
    assert [user[m["person_id"]] for m in receiver.messages] == ["u1"]
    a = warehouse.table("journey_actions")
    deferred = warehouse.fetch(a.filter(a.status == "planned")).to_pylist()
    assert len(deferred) == 1 and deferred[0]["reason"] == "quiet_hours"
    berlin_8am = dt.datetime(2025, 3, 30, 8, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(dt.timezone.utc)
    assert deferred[0]["scheduled_at"] == berlin_8am == dt.datetime(2025, 3, 30, 6, tzinfo=dt.timezone.utc), \
        "08:00 CEST after the change, not 07:00 UTC as a fixed offset would say"
    _tick(warehouse, berlin_8am - dt.timedelta(minutes=1), receiver, guards)
    assert len(receiver.messages) == 1
    _tick(warehouse, berlin_8am, receiver, guards)
    assert sorted(user[m["person_id"]] for m in receiver.messages) == ["u0", "u1"]
    assert in_quiet(dt.datetime(2025, 3, 30, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")), quiet_window("21:00-08:00"))
    assert not in_quiet(dt.datetime(2025, 3, 30, 8, 0, tzinfo=ZoneInfo("Europe/Berlin")), quiet_window("21:00-08:00"))


@pytest.mark.parametrize("on_cap", ["skip", "defer"])
def test_caps_across_journeys_skip_or_defer(warehouse, tmp_path, on_cap):
    _world(tmp_path, warehouse, persons=3)
    second = WINBACK.replace("name: winback", "name: winback_two").replace("channel: wecom", "channel: sms").replace(
        "purpose: wecom_outreach", "purpose: marketing_sms")
    for text, name in ((WINBACK, "a.yaml"), (second, "b.yaml")):
        (tmp_path / name).write_text(text.replace("REENTRY", "never").replace("holdout: {percent: 20}", "holdout: 0"),
                                     encoding="utf-8")
    with _gate(warehouse, "marketer") as gate:
        apply_journeys(gate, [tmp_path / "a.yaml", tmp_path / "b.yaml"])
    guards = Guards(quiet_hours={}, caps={"sms": {"per_week": 1}}, on_cap=on_cap)
    receiver = Receiver()
    _tick(warehouse, T0 + dt.timedelta(days=8), receiver, guards)
    sms = [m for m in receiver.messages if m["channel"] == "sms"]
    assert len(sms) == 3, "winback_two's first message: one SMS each, within the cap"
    _tick(warehouse, T0 + dt.timedelta(days=11, hours=1), receiver, guards)
    sms = [m for m in receiver.messages if m["channel"] == "sms"]
    assert len(sms) == 3, "the second SMS of the week is capped across the two journeys"
    a = warehouse.table("journey_actions")
    rows = warehouse.fetch(a.filter(a.channel == "sms")).to_pylist()
    # both journeys' reminders (day 11) are a second SMS within the week for each person
    if on_cap == "skip":
        assert sorted(r["status"] for r in rows) == ["sent"] * 3 + ["skipped"] * 6
        assert {r["reason"] for r in rows if r["status"] == "skipped"} == {"capped"}
    else:
        waiting = [r for r in rows if r["status"] == "planned"]
        assert len(waiting) == 6 and {r["reason"] for r in waiting} == {"capped"}
        assert all(r["scheduled_at"] == T0 + dt.timedelta(days=15) for r in waiting), "when the week's first expires"
        _tick(warehouse, T0 + dt.timedelta(days=15), receiver, guards)
        assert len([m for m in receiver.messages if m["channel"] == "sms"]) == 6, "one more each, not two"
        rows = warehouse.fetch(a.filter((a.channel == "sms") & (a.status == "planned"))).to_pylist()
        assert len(rows) == 3 and all(r["deferrals"] == 2 for r in rows)


def test_two_ticks_never_run_at_once(warehouse, tmp_path):
    with tick_lock(Path(load_settings().db_path)):
        with pytest.raises(TickBusy, match="another `flywheel journey run` is running"):
            _tick(warehouse, T0, Receiver())


def test_status_reports_the_funnel_by_group(warehouse, tmp_path):
    _world(tmp_path, warehouse, persons=40)
    _journey(tmp_path, warehouse)
    _tick(warehouse, T0 + dt.timedelta(days=8), Receiver())
    with _gate(warehouse, "analyst") as gate:
        shown = journey_status(gate, "winback")
    groups = shown["groups"]
    assert groups["treatment"]["entered"] + groups["holdout"]["entered"] == 40
    assert groups["treatment"]["sent"] == groups["treatment"]["entered"] and groups["holdout"]["sent"] == 0


def test_the_global_control_group_is_kept_out_of_every_marketing_journey(warehouse, tmp_path):
    _world(tmp_path, warehouse, persons=120)
    (tmp_path / "a.yaml").write_text(WINBACK.replace("REENTRY", "never").replace(
        "holdout: {percent: 20}", "holdout: {percent: 0, global_control: 15}"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(WINBACK.replace("REENTRY", "never").replace("name: winback", "name: other")
                                     .replace("holdout: {percent: 20}", "holdout: {percent: 0}"), encoding="utf-8")
    with _gate(warehouse, "marketer") as gate:
        apply_journeys(gate, [tmp_path / "a.yaml", tmp_path / "b.yaml"])
    receiver = Receiver()
    _tick(warehouse, T0 + dt.timedelta(days=8), receiver)
    episodes = warehouse.fetch(warehouse.table("journey_episodes")).to_pylist()
    by_journey = {j: {r["person_id"]: r["grp"] for r in episodes if r["journey"] == j} for j in ("winback", "other")}
    control = {p for p, g in by_journey["winback"].items() if g == "control"}
    assert 0 < len(control) < 40 and len(by_journey["other"]) == 120
    assert {p for p, g in by_journey["other"].items() if g == "control"} == control, \
        "a journey that declares no global control still leaves the merchant's control group alone"
    assert not control & {m["person_id"] for m in receiver.messages}
    assert {p for p, g in by_journey["other"].items() if g == "treatment"} == set(by_journey["other"]) - control


def test_a_delivery_that_keeps_failing_is_retried_four_times_then_fails():
    from flywheel.activate.outbox import RETRY_BACKOFF, Outbox

    outbox = Outbox(None, T0, Guards(), {}, None, "Asia/Shanghai")
    action = {"journey": "j", "channel": "sms", "attempts": 0, "deferrals": 0, "scheduled_at": T0}
    waits = []
    for _ in range(len(RETRY_BACKOFF)):
        outbox.delivered(action, "retry", "http_503")
        assert action["status"] == "planned" and action["reason"] == "http_503"
        waits.append(action["scheduled_at"] - T0)
    assert waits == list(RETRY_BACKOFF)
    outbox.delivered(action, "retry", "http_503")
    assert (action["status"], action["reason"], action["attempts"]) == ("failed", "retries_exhausted", 5)
    assert outbox.tally["j"].failed == {"retries_exhausted": 1}


FATES = """
name: fates
trigger: {inactive: {event: Community Opened, days: 7}}
holdout: {percent: 50}
conversion: {within_days: 5}
steps:
  - wait_for: {rule: {performed: {event: Coupon Clicked, within_days: 30}}, timeout_days: 2}
  - branch:
      if: {performed: {event: Coupon Clicked, within_days: 30}}
      then: [{send: {channel: wecom, purpose: wecom_outreach, text: "hi {{ tier }}"}}]
      else: [{send: {channel: sms, purpose: marketing_sms, text: "券 {{ coupon_code }} 回T退订"}}]
"""


def test_episodes_wait_for_a_rule_branch_complete_and_end_when_their_person_is_gone(warehouse, tmp_path, monkeypatch):
    from flywheel.activate import running
    from flywheel.identity import resolve

    asked: list[str] = []
    real_context = running.person_context
    monkeypatch.setattr(running, "person_context", lambda gate, persons: (asked.extend(persons),
                                                                          real_context(gate, persons))[1])
    order = tmp_path / "shop.csv"  # a shop customer, placed in a person before anyone else
    order.write_text(_shopify_order("shop", T0 - dt.timedelta(days=30)), encoding="utf-8")
    ingest_paths(warehouse, [order])
    resolve(warehouse, matcher=None)
    _world(tmp_path, warehouse, persons=24)
    ingest_paths(warehouse, [_write(tmp_path / "old.jsonl", [  # seen once, long before any window
        {"type": "track", "event": "Coupon Clicked", "userId": "u0", "messageId": "cc-old",
         "timestamp": _iso(T0 - dt.timedelta(days=60))}])])
    user = _users(warehouse)
    (tmp_path / "j.yaml").write_text(FATES, encoding="utf-8")
    with _gate(warehouse, "marketer") as gate:
        apply_journeys(gate, [tmp_path / "j.yaml"])
    receiver = Receiver()
    entered = T0 + dt.timedelta(days=8)
    _tick(warehouse, entered, receiver)

    web = {f"u{i}" for i in range(24)}
    rows = warehouse.fetch(warehouse.table("journey_episodes")).to_pylist()
    first = {user[r["person_id"]]: r for r in rows if user[r["person_id"]] in web}
    shop_person = next(p for p, k in user.items() if k not in web)
    receiver.messages = [m for m in receiver.messages if m["person_id"] != shop_person]
    treated = sorted(u for u, r in first.items() if r["grp"] == "treatment")
    held = sorted(u for u, r in first.items() if r["grp"] == "holdout")
    assert len(treated) >= 4 and len(held) >= 4 and receiver.messages == []
    assert all(first[u]["position"] == "0" and first[u]["due_at"] == entered + dt.timedelta(days=2) for u in treated)
    clickers = treated[:len(treated) // 2]
    ingest_paths(warehouse, [_write(tmp_path / "clicks.jsonl", [
        {"type": "track", "event": "Coupon Clicked", "userId": u, "messageId": f"cc-{u}",
         "timestamp": _iso(entered + dt.timedelta(hours=1))} for u in clickers])])
    _tick(warehouse, entered + dt.timedelta(hours=2), receiver)
    assert sorted(user[m["person_id"]] for m in receiver.messages) == clickers, \
        "a met wait_for goes on before its timeout; the others keep waiting"
    assert all(m["channel"] == "wecom" and m["text"].startswith("hi ") for m in receiver.messages)
    assert sorted(user[p] for p in asked if p != shop_person) == clickers, "only a text that reads a person field fetches the person"

    a = held[0]  # a held-out person turns out to be the older shop customer: their own id is gone
    ingest_paths(warehouse, [_write(tmp_path / "merge.jsonl", [
        {"type": "identify", "userId": a, "messageId": f"merge-{a}", "timestamp": _iso(entered + dt.timedelta(days=1)),
         "traits": {"email": "shop@example.com"}}])])
    resolve(warehouse, matcher=None)
    _tick(warehouse, entered + dt.timedelta(days=2, hours=1), receiver)
    later = {r["person_id"]: r for r in warehouse.fetch(warehouse.table("journey_episodes")).to_pylist()}
    gone = [r for r in later.values() if r["end_reason"] == "person gone"]
    assert [r["person_id"] for r in gone] == [first[a]["person_id"]]
    assert later[shop_person]["state"] in ("active", "completed"), "the person kept goes on"
    assert gone[0]["state"] == "exited" and gone[0]["ended_at"] == entered + dt.timedelta(days=2, hours=1)
    receiver.messages = [m for m in receiver.messages if m["person_id"] != shop_person]
    sms = sorted(user[m["person_id"]] for m in receiver.messages if m["channel"] == "sms")
    assert sms == sorted(set(treated) - set(clickers)), "a wait_for that times out takes the else branch"
    assert all(m["text"].startswith("券 ") for m in receiver.messages if m["channel"] == "sms")
    assert sorted(user[p] for p in asked if p != shop_person) == clickers
    assert all(later[first[u]["person_id"]]["state"] == "completed" for u in treated)
    still = [later[first[u]["person_id"]] for u in held if later[first[u]["person_id"]]["end_reason"] != "person gone"]
    assert len(still) == len(held) - 1 and all(r["state"] == "active" for r in still), \
        "a held-out episode stays until its conversion window is over"

    _tick(warehouse, entered + dt.timedelta(days=5), receiver)
    last = {r["person_id"]: r for r in warehouse.fetch(warehouse.table("journey_episodes")).to_pylist()}
    assert all(last[r["person_id"]]["state"] == "completed" and last[r["person_id"]]["end_reason"] == "completed"
               for r in still)
    assert not set(held) & {user.get(m["person_id"]) for m in receiver.messages}
