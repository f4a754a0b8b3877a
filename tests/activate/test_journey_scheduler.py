"""`flywheel serve --tick-every`: the server runs journey ticks on the real clock, as its role, one at a
time; a failing tick or a busy lock is logged and the loop goes on; stopping ends cleanly."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from delivery_receivers import WebhookReceiver, free_port, settings_yaml
from flywheel_cli import cli
from test_journey_delivery import segment_export

from flywheel.activate.delivery import apply_delivery
from flywheel.activate.tick import tick_lock
from flywheel.config import load_settings
from flywheel.privacy import Gate
from flywheel.privacy.audit import AuditLog
from flywheel.privacy.roles import Actor, role_named
from flywheel.server import create_app
from flywheel.warehouse import Warehouse

JOURNEY = """
name: ticking
trigger: {inactive: {event: Community Opened, days: 7}}
holdout: 0
reentry: never
steps:
  - send: {channel: wecom, purpose: wecom_outreach, text: "好久不见"}
"""


def _until(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_server_ticks_every_interval_sends_once_and_outlives_failed_and_busy_ticks(tmp_path, monkeypatch, capsys,
                                                                                     caplog):
    from flywheel.identity import resolve

    n = 5
    with Warehouse.open() as wh:  # persons last seen in the community 8 days before the real clock
        ingest = segment_export(tmp_path / "export.jsonl", n, at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=8))
        from flywheel.collect import ingest_paths

        ingest_paths(wh, [ingest])
        resolve(wh, matcher=None)
    (tmp_path / "journey.yaml").write_text(JOURNEY, encoding="utf-8")
    assert cli(monkeypatch, capsys, "--role", "marketer", "journey", "apply", str(tmp_path / "journey.yaml"))[0] == 0
    monkeypatch.setenv("FLYWHEEL_ROLE", "marketer")
    load_settings.cache_clear()
    settings = load_settings()
    caplog.set_level(logging.INFO, logger="flywheel.server.scheduler")
    with WebhookReceiver() as hook:
        app = create_app(settings, load_interval=3600, tick_every=1.0)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        scheduler = app.state.scheduler
        try:
            _until(lambda: scheduler.failures >= 2, "two failed ticks")
            assert "no delivery settings" in caplog.text and scheduler.ticks == 0, "logged, and the loop went on"
            with tick_lock(Path(settings.db_path)):  # a `flywheel journey run` started by hand holds the lock
                (tmp_path / "delivery.yaml").write_text(settings_yaml(hooks={"wecom": f"{hook.url}/wecom"},
                                                                      extra="quiet_hours: {marketing: off}\n"),
                                                        encoding="utf-8")
                with Warehouse.open() as wh, Gate(wh.settings, wh, Actor("owner-test", role_named("owner"))) as owner:
                    apply_delivery(owner, tmp_path / "delivery.yaml")
                failed = scheduler.failures
                _until(lambda: "another `flywheel journey run` is running" in caplog.text, "a busy tick")
                _until(lambda: scheduler.failures > failed, "the busy tick counted")
                assert not hook.requests and scheduler.ticks == 0
            _until(lambda: len(hook.effects) == n, "the messages")
            sent_by = max(scheduler.ticks, 1)  # the sending tick may still be finishing (not counted yet)
            _until(lambda: scheduler.ticks >= sent_by + 2, "two more ticks")
        finally:
            server.should_exit = True
            thread.join(60)
    assert not thread.is_alive() and scheduler._thread is None, "stopped, the tick thread with it"
    assert len(hook.effects) == n and hook.duplicates == 0 and len(hook.requests) == n, "each sent once"
    assert scheduler.last["journeys"][0]["sent"] == {}, "later ticks had nothing left to send"
    with Warehouse.open() as wh:
        ticks = wh.fetch(wh.table("journey_ticks")).to_pylist()
        actions = wh.fetch(wh.table("journey_actions")).to_pylist()
    assert len(ticks) == scheduler.ticks >= 3 and {a["status"] for a in actions} == {"sent"}
    runs = list(AuditLog.for_settings(settings).entries(action="activate.run"))
    assert len(runs) == scheduler.ticks and {e["role"] for e in runs} == {"marketer"}
    ticks.sort(key=lambda t: t["started_at"])
    assert all(b["started_at"] >= a["finished_at"] for a, b in zip(ticks, ticks[1:])), "one tick at a time"
    # fixed-rate: a tick that started late (waiting for the warehouse) is followed by one on schedule
    gaps = [(b["started_at"] - a["started_at"]).total_seconds() for a, b in zip(ticks, ticks[1:])]
    assert sum(gaps) / len(gaps) >= 0.9 and min(gaps) >= 0.5, ("an interval apart", gaps)


@pytest.mark.parametrize("args, message", [
    (["--role", "analyst", "serve", "--tick-every", "60s"], "role 'analyst' may not activate.run"),
    (["--role", "marketer", "serve", "--tick-every", "0.5s"], "--tick-every: '0.5s' is shorter than 1 s"),
    (["--role", "marketer", "serve", "--tick-every", "soon"], "--tick-every: a duration like 60s, 5m or 1h, not 'soon'"),
])
def test_serve_refuses_a_tick_interval_or_role_that_cannot_work_before_starting(monkeypatch, capsys, args, message):
    code, out, err = cli(monkeypatch, capsys, *args)
    assert code == 1 and message in err and err.count("\n") == 1, err


def test_intervals():
    from flywheel.server.scheduler import parse_interval

    assert [parse_interval(t) for t in ("60s", "5m", "1h", "90", "1.5s", "2000ms")] == [60, 300, 3600, 90, 1.5, 2]


@pytest.mark.slow
def test_flywheel_serve_tick_every_sends_beside_collection_and_stops_on_sigint(tmp_path, monkeypatch, capsys):
    """The real command: ticks in the server process while its loader process loads what is collected."""
    import os
    import signal
    import subprocess
    import sys

    import httpx

    from flywheel.collect import ingest_paths
    from flywheel.identity import resolve
    from flywheel.server import WriteKeys, keys_file

    n = 3
    with Warehouse.open() as wh:
        ingest_paths(wh, [segment_export(tmp_path / "export.jsonl", n,
                                         at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=8))])
        resolve(wh, matcher=None)
    write_key = WriteKeys(keys_file(load_settings().db_path)).add("web")
    with WebhookReceiver() as hook:
        (tmp_path / "delivery.yaml").write_text(settings_yaml(hooks={"wecom": f"{hook.url}/wecom"},
                                                              extra="quiet_hours: {marketing: off}\n"), encoding="utf-8")
        (tmp_path / "journey.yaml").write_text(JOURNEY, encoding="utf-8")
        assert cli(monkeypatch, capsys, "--role", "owner", "delivery", "apply", str(tmp_path / "delivery.yaml"))[0] == 0
        assert cli(monkeypatch, capsys, "--role", "marketer", "journey", "apply", str(tmp_path / "journey.yaml"))[0] == 0
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "flywheel", "--role", "marketer", "serve", "--port", str(port),
                                 "--tick-every", "1s", "--load-interval", "0.2"], env=os.environ.copy(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _until(lambda: len(hook.effects) == n or proc.poll() is not None, "the messages", timeout=90)
            assert proc.poll() is None, proc.communicate()[1]
            answer = httpx.post(f"http://127.0.0.1:{port}/v1/track", auth=(write_key, ""), timeout=10, json={
                "userId": "u0", "event": "Community Opened", "messageId": "collected-while-ticking"})
            assert answer.status_code == 200
            time.sleep(2.5)  # a few more ticks and loads side by side
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "journey ticks every 1 s as marketer" in " ".join(err.split())
    assert len(hook.effects) == n and hook.duplicates == 0
    with Warehouse.open() as wh:
        events = wh.table("events")
        assert wh.fetch(events.filter(events.message_id == "collected-while-ticking")).num_rows == 1
        assert wh.count("journey_ticks") >= 2
