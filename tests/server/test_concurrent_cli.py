"""While `flywheel serve` runs, other `flywheel` commands can still use the warehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
from live_server import free_port


def flywheel(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flywheel", *args], env=os.environ.copy(), capture_output=True,
                          text=True, timeout=timeout)


def test_events_stats_runs_in_another_process_while_the_server_collects(settings, write_key):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "flywheel", "serve", "--port", str(port), "--load-interval", "0.2"],
                              env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, server.stderr.read().decode()
                time.sleep(0.1)
        batch = {"batch": [{"type": "track", "userId": f"u{i}", "event": "E", "messageId": f"c-{i}"} for i in range(50)]}
        assert httpx.post(f"{url}/v1/batch", json=batch, auth=(write_key, "")).status_code == 200
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/health").json()["loaded"] < 50:
            assert time.monotonic() < deadline, "the server did not load its spool"
            time.sleep(0.1)
        done, statuses = threading.Event(), []

        def keep_posting():  # so the server's loader keeps opening the warehouse while the CLI uses it
            with httpx.Client(base_url=url, auth=(write_key, "")) as client:
                while not done.is_set():
                    statuses.append(client.post("/v1/track", json={"userId": "u", "event": "During"}).status_code)
                    time.sleep(0.02)

        poster = threading.Thread(target=keep_posting)
        poster.start()
        try:
            stats = flywheel("events", "stats", "--json")
        finally:
            done.set()
            poster.join()
        assert stats.returncode == 0, stats.stderr
        stats = json.loads(stats.stdout)
        assert stats["total"] >= 50 and stats["by_type"] == {"track": stats["total"]}, stats
        assert statuses and set(statuses) == {200}
        health = httpx.get(f"{url}/health").json()
        assert health["load_failures"] == 0 and health["loaded"] > 50
    finally:
        server.terminate()
        server.wait(60)
