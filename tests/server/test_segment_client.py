"""Segment's own Python client, pointed at a live server, for every call type; each event lands once."""

from __future__ import annotations

import json

from segment.analytics import Client

from flywheel.server import event_stats
from flywheel.warehouse import Warehouse


def stored_events(settings) -> dict[str, dict]:
    with Warehouse.open(settings) as wh:
        rows = wh.fetch(wh.table("events")).to_pylist()
    return {r["message_id"]: r for r in rows}


def send_every_call(client: Client) -> None:
    client.track("u1", "Order Completed", {"order_id": "o-1", "revenue": 99.5, "custom": {"x": [1, 2]}},
                 context={"campaign": {"source": "wechat", "medium": "social"}}, message_id="m-track")
    client.identify("u1", {"plan": "gold", "email": "a@example.com"}, message_id="m-identify")
    client.page("u1", "Docs", "Pricing", {"path": "/pricing"}, message_id="m-page")
    client.screen("u1", "Shop", "Cart", {"items": 2}, message_id="m-screen")
    client.group("u1", "g-42", {"employees": 12}, message_id="m-group")
    client.alias("anon-7", "u1", message_id="m-alias")
    client.track(anonymous_id="anon-7", event="Signed Up", message_id="m-anon")
    client.flush()


def test_every_call_type_lands_once_with_fields_intact(live):
    errors = []
    client = Client(live.write_key, host=live.url, sync_mode=True, on_error=lambda e, batch: errors.append(e),
                    max_retries=1)
    send_every_call(client)
    assert errors == []
    live.load()
    events = stored_events(live.settings)
    assert set(events) == {"m-track", "m-identify", "m-page", "m-screen", "m-group", "m-alias", "m-anon"}
    track = events["m-track"]
    assert (track["type"], track["event"], track["user_id"], track["source"]) == ("track", "Order Completed", "u1", "web")
    assert json.loads(track["properties"]) == {"order_id": "o-1", "revenue": 99.5, "custom": {"x": [1, 2]}}
    assert json.loads(track["context"])["library"]["name"] == "analytics-python"
    assert track["received_at"] is not None and track["sent_at"] is not None
    identify = events["m-identify"]
    assert json.loads(identify["traits"]) == {"plan": "gold"}  # e-mail became a hashed identifier
    assert events["m-page"]["name"] == "Pricing"
    assert json.loads(events["m-page"]["properties"])["path"] == "/pricing"
    assert events["m-screen"]["name"] == "Cart"
    assert events["m-group"]["group_id"] == "g-42"
    assert json.loads(events["m-group"]["traits"]) == {"employees": 12}
    assert (events["m-alias"]["previous_id"], events["m-alias"]["user_id"]) == ("anon-7", "u1")
    assert events["m-anon"]["anonymous_id"] == "anon-7"


def test_retried_requests_and_batches_store_nothing_new(live):
    client = Client(live.write_key, host=live.url, sync_mode=True, max_retries=1)
    send_every_call(client)
    send_every_call(client)  # the client retrying everything
    live.load()
    assert len(stored_events(live.settings)) == 7
    batch = {"batch": [{"type": "track", "userId": "u9", "event": "E", "messageId": "m-track"},
                       {"type": "track", "userId": "u9", "event": "E", "messageId": "m-new"},
                       {"type": "track", "userId": "u9", "event": "E", "messageId": "m-new"}]}
    assert live.post("batch", batch).status_code == 200
    live.load()
    assert live.intake.spool is not None
    assert len(stored_events(live.settings)) == 8


def test_duplicates_across_a_restart_are_dropped(settings, write_key):
    from live_server import start_server

    for _ in range(2):
        server = start_server(settings, write_key)
        assert server.post("track", {"userId": "u", "event": "E", "messageId": "same"}).status_code == 200
        server.stop()  # shutdown drains the spool into the warehouse
    assert event_stats(settings) == {"total": 1, "by_type": {"track": 1}, "by_source": {"web": 1}}
