"""kill -9 during a load loses no acknowledged event; retries after restart land exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
from live_server import free_port

from flywheel.server import event_stats
from flywheel.server.loader import open_when_free
from flywheel.server.spool import spool_dir

SERVER = "from flywheel.config import load_settings; from flywheel.server import serve; " \
         "serve(load_settings(), port={port}, load_interval=0.2)"


def start(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(port=port)], env=os.environ.copy())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def send(url: str, key: str, batches: list[list[dict]], acked: set[str], lock: threading.Lock) -> None:
    with httpx.Client(base_url=url, auth=(key, ""), timeout=5) as client:
        for batch in batches:
            try:
                response = client.post("/v1/batch", json={"batch": batch})
            except httpx.TransportError:
                return
            if response.status_code == 200:
                with lock:
                    acked.update(m["messageId"] for m in batch)


def stored_ids(settings) -> list[str]:
    """Read as any other process does: the killed server's loader process may still be finishing its cycle."""
    with open_when_free(settings) as wh:
        return wh.fetch(wh.table("events").select("message_id")).column("message_id").to_pylist()


def test_kill_9_loses_no_acknowledged_event_and_stores_none_twice(settings, write_key):
    n, per_batch, senders = 4_000, 20, 4
    messages = [{"type": "track", "userId": f"u{i % 97}", "event": "Load", "messageId": f"crash-{i}",
                 "properties": {"i": i}} for i in range(n)]
    batches = [messages[i:i + per_batch] for i in range(0, n, per_batch)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(port)
    acked: set[str] = set()
    lock = threading.Lock()
    threads = [threading.Thread(target=send, args=(url, write_key, batches[k::senders], acked, lock))
               for k in range(senders)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < n // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    for t in threads:
        t.join(20)
    assert 0 < len(acked) < n, "the kill should land mid-load"

    event_stats(settings)  # loads what the killed server left in its spool
    stored = stored_ids(settings)
    assert acked <= set(stored), "an acknowledged event was lost"
    assert len(stored) == len(set(stored))

    proc = start(port)  # the clients retry everything not acknowledged, and some that were
    retry = [m for m in messages if m["messageId"] not in acked] + messages[:100]
    send(url, write_key, [retry[i:i + per_batch] for i in range(0, len(retry), per_batch)], acked, lock)
    proc.send_signal(signal.SIGTERM)  # drains and loads before exiting
    assert proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    assert not list(spool_dir(settings.db_path).glob("*.jsonl")), "SIGTERM left events in the spool"
    stats = event_stats(settings)
    assert stats["total"] == n and stats["by_type"] == {"track": n}
    stored = stored_ids(settings)
    assert sorted(stored) == sorted(m["messageId"] for m in messages)


def test_the_loader_process_of_a_killed_server_ends_its_cycle_without_a_traceback(settings):
    from flywheel.server.loadworker import WORKER, _encode

    worker = subprocess.Popen([sys.executable, "-c", WORKER, _encode(settings)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    worker.stdout.close()  # the server end of the pipe is gone, as after kill -9
    worker.stdin.write(b"0.1\n")
    worker.stdin.close()
    assert worker.wait(60) == 0
    assert worker.stderr.read() == b""
