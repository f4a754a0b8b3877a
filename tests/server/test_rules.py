"""Limits, validation and auth return the documented JSON errors; odd input never yields a 500."""

from __future__ import annotations

import gzip
import json

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from flywheel.server.rules import BATCH_ITEMS, EVENT_LIMIT

TRACK = {"userId": "u1", "event": "Viewed"}


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert {"error", "message", "path"} <= set(body) <= {"error", "message", "path", "rejected"}
    return response.status_code, body["error"], body["path"]


def test_auth_by_basic_or_body_write_key_else_401(live):
    assert live.post("track", TRACK).status_code == 200
    assert live.post("track", TRACK | {"writeKey": live.write_key}, auth=False).status_code == 200
    assert error_of(live.post("track", TRACK, auth=False))[:2] == (401, "invalid_write_key")
    wrong = httpx.post(f"{live.url}/v1/track", json=TRACK, auth=("nope", ""))
    assert error_of(wrong)[:2] == (401, "invalid_write_key")


def test_size_limits_name_the_limit(live):
    big = TRACK | {"properties": {"blob": "x" * EVENT_LIMIT}}
    response = live.post("track", big)
    assert error_of(response)[:2] == (413, "event_too_large") and "32 KB" in response.json()["message"]
    response = live.post("batch", {"batch": [big, TRACK | {"type": "track"}]})
    assert response.status_code == 200 and response.json()["accepted"] == 1
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 0 and rejected["error"] == "event_too_large" and rejected["path"] == "batch[0]"
    items = [TRACK | {"properties": {"blob": "y" * 20_000}} for _ in range(30)]
    response = live.post("batch", {"batch": items})
    assert error_of(response)[:2] == (413, "request_too_large") and "500 KB" in response.json()["message"]
    response = live.post("batch", {"batch": [TRACK] * (BATCH_ITEMS + 1)})
    assert error_of(response) == (400, "batch_too_many_items", "batch")
    assert live.post("batch", {"batch": [TRACK | {"type": "track"}] * BATCH_ITEMS}).status_code == 200


def test_validation_errors_name_the_field(live):
    assert error_of(live.post("track", {"event": "E"})) == (400, "missing_identity", "userId")
    assert error_of(live.post("track", {"userId": "u"})) == (400, "missing_event", "event")
    assert error_of(live.post("group", {"userId": "u"})) == (400, "missing_group_id", "groupId")
    assert error_of(live.post("track", TRACK | {"properties": [1]})) == (400, "invalid_field", "properties")
    assert error_of(live.post("track", TRACK | {"timestamp": "yesterday"})) == (400, "invalid_timestamp", "timestamp")
    assert error_of(live.post("unknown", TRACK))[:2] == (404, "unknown_call")
    raw = httpx.post(f"{live.url}/v1/track", content=b"{not json", auth=(live.write_key, ""))
    assert error_of(raw)[:2] == (400, "invalid_json")


def test_bad_items_are_reported_and_good_ones_still_land(live):
    good = [TRACK | {"type": "track", "messageId": f"good-{i}"} for i in range(3)]
    bad = [{"type": "nope", "userId": "u"}, {"type": "track", "userId": "u"},
           TRACK | {"type": "track", "timestamp": "2024-02-30T00:00:00Z"},
           TRACK | {"type": "track", "sentAt": "soon"}, "not an object"]
    response = live.post("batch", {"batch": [good[0], bad[0], good[1], bad[1], bad[2], bad[3], good[2], bad[4]]})
    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["accepted"], body["duplicates"]) == (True, 3, 0)
    assert [(r["index"], r["error"], r["path"]) for r in body["rejected"]] == [
        (1, "invalid_type", "batch[1].type"), (3, "missing_event", "batch[3].event"),
        (4, "invalid_timestamp", "batch[4].timestamp"), (5, "invalid_timestamp", "batch[5].sentAt"),
        (7, "invalid_message", "batch[7]")]
    assert all(r["message"] for r in body["rejected"])
    everything_bad = live.post("batch", {"batch": bad})
    assert error_of(everything_bad)[:2] == (400, "all_items_rejected")
    assert len(everything_bad.json()["rejected"]) == len(bad)
    live.load()
    assert live.intake.loader.failures == 0
    from flywheel.server import event_stats
    assert event_stats(live.settings)["total"] == 3


def test_batch_context_merged_ids_assigned_unknown_fields_kept(live):
    batch = {"batch": [{"type": "track", "userId": "u", "event": "E", "context": {"locale": "zh-CN"},
                        "extra": {"kept": True}, "properties": {"unknownProp": 1}}],
             "context": {"ip": "10.0.0.1", "locale": "en"}, "sentAt": "2024-05-01T00:00:10Z"}
    body = gzip.compress(json.dumps(batch).encode())
    response = httpx.post(f"{live.url}/v1/batch", content=body, auth=(live.write_key, ""),
                          headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert response.status_code == 200
    live.intake.spool.rotate()
    [segment] = sorted(live.intake.directory.glob("closed-*.jsonl"))
    [line] = segment.read_text().splitlines()
    message = json.loads(line)
    assert message["context"] == {"ip": "10.0.0.1", "locale": "zh-CN", "source": "web"}
    assert message["extra"] == {"kept": True} and message["properties"] == {"unknownProp": 1}
    assert message["messageId"] and message["receivedAt"].endswith("Z") and message["sentAt"] == "2024-05-01T00:00:10.000000Z"


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=12)
TIME = st.sampled_from(["2024-05-01T12:00:00Z", "2024-05-01 20:00", "2024-05-01", "2024-05-01T12:00:00.1234567+08:00",
                        "2024-02-30T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "today", ""])
FIELDS = st.sampled_from(["type", "userId", "anonymousId", "event", "messageId", "timestamp", "sentAt",
                          "originalTimestamp", "context", "integrations", "properties", "traits", "name",
                          "groupId", "previousId", "writeKey", "batch"])
MESSAGE = st.dictionaries(FIELDS, JSON | TIME, max_size=8)
BODY = st.one_of(MESSAGE, st.fixed_dictionaries({"batch": st.lists(MESSAGE | JSON, max_size=5)}), JSON)
CALL = st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "batch"])


def test_fuzzed_payloads_never_yield_a_server_error(live):
    client = httpx.Client(base_url=live.url, auth=(live.write_key, ""), timeout=10)

    @hsettings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(call=CALL, body=BODY, raw=st.binary(max_size=64))
    def post(call, body, raw):
        for content in (json.dumps(body).encode(), raw):
            response = client.post(f"/v1/{call}", content=content, headers={"Content-Type": "application/json"})
            assert response.status_code < 500, response.text
            if response.status_code != 200:
                error_of(response)

    post()
    live.load()
    assert live.intake.loader.failures == 0
    assert live.intake.loader.quarantined == 0, "whatever the edge accepts, loading must not quarantine"
