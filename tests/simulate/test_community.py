"""WeCom community activity: realistic habits, a truth that matches the events written, timezones
that reach the warehouse, and community events that identity places on the WeCom contact's person."""

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flywheel.collect import ingest_paths
from flywheel.identity import resolve
from flywheel.simulate import generate
from flywheel.simulate.community import INACTIVE_DAYS, MESSAGES

PERSONS = 2000
END = datetime(2025, 6, 30, 16, tzinfo=timezone.utc)  # 2025-07-01 00:00 in Asia/Shanghai


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("community")
    generate(path, persons=PERSONS, seed=5)
    return path


def _rows(out: Path, rel: str) -> list[dict[str, str]]:
    with open(out / rel, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "community/events.jsonl").read_text(encoding="utf-8").splitlines()]


def _person_of_visitor(out: Path) -> dict[str, str]:
    return {r["account_ref"]: r["person_id"] for r in _rows(out, "truth/accounts.csv") if r["source"] == "community"}


def test_contacts_have_realistic_habits_and_a_plausible_inactive_share(out):
    rows = _rows(out, "truth/community.csv")
    contacts = {r["person_id"] for r in _rows(out, "truth/accounts.csv") if r["source"] == "wecom"}
    assert {r["person_id"] for r in rows} == contacts and len(rows) > 350
    by_habit = {h: [r for r in rows if r["habit"] == h] for h in ("daily", "weekly", "drifting", "never")}
    assert all(len(group) >= 10 for group in by_habit.values()), {h: len(g) for h, g in by_habit.items()}
    inactive = sum(r["inactive_at_end"] == "1" for r in rows) / len(rows)
    assert 0.45 <= inactive <= 0.8, inactive
    assert all(r["community_opens"] == "0" for r in by_habit["never"])
    assert all(r["inactive_at_end"] == "0" for r in by_habit["daily"] if _at(r["joined_at"]) < END - timedelta(days=2))
    quiet = sum(r["inactive_at_end"] == "1" for r in by_habit["drifting"]) / len(by_habit["drifting"])
    assert quiet > 0.6, "drifting contacts mostly go quiet"
    weekly = [int(r["community_opens"]) / max(1, (END - _at(r["joined_at"])).days) for r in by_habit["weekly"]]
    assert 0.08 < sum(weekly) / len(weekly) < 0.25, "about one open a week"


def test_active_means_an_open_within_seven_days_and_truth_is_consistent(out):
    for r in _rows(out, "truth/community.csv"):
        joined = _at(r["joined_at"])
        if r["inactive_at_end"] == "0":
            last = _at(r["last_open_at"]) if r["last_open_at"] else joined
            assert END - last < timedelta(days=INACTIVE_DAYS), r
        else:
            since = _at(r["inactive_since"])
            assert since <= END
            if r["last_open_at"]:
                assert since == _at(r["last_open_at"]) + timedelta(days=INACTIVE_DAYS)
            else:
                assert since == joined + timedelta(days=INACTIVE_DAYS)


def test_truth_files_match_the_events_written(out):
    person_of = _person_of_visitor(out)
    opens: dict[str, list[datetime]] = {}
    reads: dict[str, int] = {}
    readers: dict[str, int] = {}
    for e in _events(out):
        person = person_of[e["anonymousId"]]
        assert e["type"] == "track" and e["context"]["source"] == "community"
        if e["event"] == "Community Opened":
            opens.setdefault(person, []).append(_at(e["timestamp"]))
        else:
            assert e["event"] == "Message Opened" and e["properties"]["channel"] == "wecom"
            reads[person] = reads.get(person, 0) + 1
            readers[e["properties"]["message_id"]] = readers.get(e["properties"]["message_id"], 0) + 1
    episodes: dict[str, list[tuple[str, str]]] = {}
    for r in _rows(out, "truth/community_inactivity.csv"):
        episodes.setdefault(r["person_id"], []).append((r["inactive_from"], r["inactive_until"]))
    gap = timedelta(days=INACTIVE_DAYS)
    for r in _rows(out, "truth/community.csv"):
        mine = sorted(opens.get(r["person_id"], []))
        assert int(r["community_opens"]) == len(mine)
        assert int(r["message_opens"]) == reads.get(r["person_id"], 0)
        assert all(_at(r["joined_at"]) < at < END for at in mine)
        if mine:
            assert (_at(r["first_open_at"]), _at(r["last_open_at"])) == (mine[0], mine[-1])
        # every gap of seven days or more, rebuilt from the events, is one episode of the truth
        want, last = [], _at(r["joined_at"])
        for at in [*mine, None]:
            if last + gap < END and (at is None or at > last + gap):
                want.append((last + gap, at))
            last = at
        got = [(_at(a), _at(b) if b else None) for a, b in episodes.get(r["person_id"], [])]
        assert got == want, r["person_id"]
        assert (r["inactive_at_end"] == "1") == bool(want and want[-1][1] is None)
    messages = _rows(out, "truth/wecom_messages.csv")
    assert [m["message_id"] for m in messages] == [mid for mid, _, _ in MESSAGES]
    assert all(int(m["readers"]) == readers.get(m["message_id"], 0) <= int(m["recipients"]) for m in messages)
    assert all(_at(m["sent_at"]).astimezone(ZoneInfo("Asia/Shanghai")).hour == 10 for m in messages)


def test_persons_have_their_local_timezone_and_web_events_carry_it(out):
    persons = {r["person_id"]: r for r in _rows(out, "truth/persons.csv")}
    zones = {r["timezone"] for r in persons.values()}
    assert {"Asia/Shanghai", "Europe/Berlin", "America/New_York", "America/Los_Angeles"} <= zones
    for r in persons.values():
        ZoneInfo(r["timezone"])
        assert (r["timezone"] == "Asia/Shanghai") == (r["region"] == "CN")
    truth = {r["message_id"]: r["person_id"] for r in _rows(out, "truth/events.csv")}
    kiosk = [t["value"] for t in _rows(out, "truth/traps.csv") if t["kind"] == "kiosk_cookie"][0]
    zoned = 0
    for line in (out / "events/events.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue  # a planted malformed line
        context = e.get("context", {})
        if context.get("source") == "web" and e.get("messageId") in truth:
            zoned += 1
            want = "Asia/Shanghai" if e["anonymousId"] == kiosk else persons[truth[e["messageId"]]]["timezone"]
            assert context["timezone"] == want
        else:
            assert "timezone" not in context
    assert zoned > 1000
    assert all(e["context"]["timezone"] == "Asia/Shanghai" for e in _events(out))


@pytest.mark.slow
def test_timezones_survive_ingest_and_community_events_join_the_contacts_person(warehouse, out):
    ingest_paths(warehouse, [out / "community", out / "events", out / "wecom"])  # orders play no part here
    stored = warehouse.fetch(warehouse.table("events").select("message_id", "source", "context")).to_pylist()
    truth = {r["message_id"]: r["person_id"] for r in _rows(out, "truth/events.csv")}
    persons = {r["person_id"]: r["timezone"] for r in _rows(out, "truth/persons.csv")}
    community = [e for e in stored if e["source"] == "community"]
    assert len(community) == sum(1 for _ in _events(out))
    for e in stored:
        context = json.loads(e["context"])
        assert "externalIds" not in context, "the external_userid is an identifier, not stored context"
        if e["source"] == "community":
            assert context["timezone"] == persons[truth[e["message_id"]]]
    assert sum("timezone" in json.loads(e["context"]) for e in stored if e["source"] == "web") > 1000

    resolve(warehouse)
    placed = {(r["source"], r["account_key"]): r["person_id"] for r in warehouse.fetch("person_accounts").to_pylist()}
    contact_of = {r["person_id"]: r["account_ref"] for r in _rows(out, "truth/accounts.csv") if r["source"] == "wecom"}
    pairs = [(placed[("community", "anon:" + visitor)], placed[("wecom", contact_of[person])])
             for visitor, person in _person_of_visitor(out).items()]
    assert len(pairs) > 300 and all(a == b for a, b in pairs), "a contact's community events are theirs"
