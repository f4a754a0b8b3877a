"""Clock skew: the stored `timestamp` is receivedAt − (sentAt − the client's own time)."""

from __future__ import annotations

import datetime as dt

import pytest

from flywheel.server.rules import CollectError, Received, accept

UTC = dt.timezone.utc
RECEIVED = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def one(message: dict, call: str = "track") -> dict:
    [accepted], rejected = accept(call, {"userId": "u", "event": "E"} | message, 100, "web", Received(RECEIVED))
    assert rejected == []
    return accepted


def test_segment_libraries_timestamp_and_sent_at_are_corrected_for_a_fast_clock():
    # The device clock runs 1 h fast: it stamped the event at 13:00 and sent it at 13:00:05.
    m = one({"timestamp": "2024-05-01T13:00:00Z", "sentAt": "2024-05-01T13:00:05Z"})
    assert m["timestamp"] == "2024-05-01T11:59:55.000000Z"  # received − 5 s in transit on the device
    assert m["originalTimestamp"] == "2024-05-01T13:00:00.000000Z"  # the client's own time, kept
    assert m["receivedAt"] == "2024-05-01T12:00:00.000Z"


def test_original_timestamp_wins_over_timestamp_when_both_are_sent():
    m = one({"originalTimestamp": "2024-05-01T20:00:00+08:00", "timestamp": "2000-01-01T00:00:00Z",
             "sentAt": "2024-05-01T12:00:30Z"})
    assert m["timestamp"] == "2024-05-01T11:59:30.000000Z"
    assert m["originalTimestamp"] == "2024-05-01T12:00:00.000000Z"


def test_without_sent_at_the_client_time_is_kept_and_without_any_time_received_at_is_used():
    assert one({"timestamp": "2024-04-30T08:00:00.123Z"})["timestamp"] == "2024-04-30T08:00:00.123000Z"
    assert one({})["timestamp"] == "2024-05-01T12:00:00.000000Z"


def test_naive_times_are_read_in_the_warehouse_zone():
    shanghai = dt.timezone(dt.timedelta(hours=8))
    [m], _ = accept("track", {"userId": "u", "event": "E", "timestamp": "2024-05-01 20:00"}, 100, "web",
                    Received(RECEIVED, shanghai))
    assert m["timestamp"] == "2024-05-01T12:00:00.000000Z"


@pytest.mark.parametrize("field,value", [("timestamp", "yesterday"), ("timestamp", "2024-02-30T00:00:00Z"),
                                         ("sentAt", "20240501T120000Z"), ("originalTimestamp", 1714564800),
                                         ("sentAt", "0001-01-01T00:00:00Z"), ("timestamp", "9999-12-31T23:59:59Z"),
                                         ("originalTimestamp", "2024-05-01Z")])
def test_bad_times_are_rejected_at_the_edge_naming_the_field(field, value):
    message = {"userId": "u", "event": "E", "timestamp": "2999-12-31T23:59:59Z", field: value}
    with pytest.raises(CollectError) as e:
        accept("track", message, 100, "web", Received(RECEIVED))
    assert (e.value.status, e.value.code, e.value.path) == (400, "invalid_timestamp", field)


def test_corrected_times_reach_the_warehouse(live):
    from flywheel.warehouse import Warehouse

    batch = {"sentAt": "2024-05-01T13:00:05Z", "batch": [
        {"type": "track", "userId": "u", "event": "E", "messageId": "skew-1", "timestamp": "2024-05-01T13:00:00Z"},
        {"type": "track", "userId": "u", "event": "E", "messageId": "skew-2",
         "originalTimestamp": "2024-05-01T12:59:00Z"}]}
    odd = ["1900-01-01T00:00:00Z", "2999-12-31T23:59:59.999999Z", "2024-05-01", "2024-05-01 20:00:00.1234567",
           "2024-05-01T12:00:00+0530"]
    batch["batch"] += [{"type": "track", "userId": "u", "event": "E", "messageId": f"odd-{i}", "timestamp": t,
                        "sentAt": t} for i, t in enumerate(odd)]
    response = live.post("batch", batch)
    assert response.status_code == 200 and response.json()["accepted"] == 2 + len(odd)
    live.load()
    assert live.intake.loader.quarantined == 0, "times the edge accepts must load"
    with Warehouse.open(live.settings) as wh:
        rows = {r["message_id"]: r for r in wh.fetch(wh.table("events")).to_pylist()}
    for mid, transit in (("skew-1", 5), ("skew-2", 65)):
        row = rows[mid]
        assert row["timestamp"] == row["received_at"] - dt.timedelta(seconds=transit)
        assert row["sent_at"] == dt.datetime(2024, 5, 1, 13, 0, 5, tzinfo=UTC)


def test_the_farthest_apart_times_a_client_may_send_are_still_corrected():
    # Year bounds of TIME_PATTERN: any sentAt and event time inside them give a time the calendar holds.
    m = one({"originalTimestamp": "2999-12-31T23:59:59Z", "sentAt": "1900-01-01T00:00:00Z"})
    assert m["timestamp"].startswith("3124-")
    m = one({"originalTimestamp": "1900-01-01T00:00:00Z", "sentAt": "2999-12-31T23:59:59Z"})
    assert m["timestamp"].startswith("0924-")
