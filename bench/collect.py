"""Collection server throughput and latency on loopback: single-event requests and batches of 100.

    .venv/bin/python bench/collect.py [--seconds 10] [--max-events 200000] [--connections 32]

The server (`flywheel.server.serve`, fresh warehouse in a temp dir) runs in its own process; this
process is the load generator: keep-alive HTTP/1.1 connections on asyncio with pre-encoded requests,
so the client costs little CPU. Each phase stops at `--seconds` or `--max-events`, whichever comes
first. Only 200 responses count; every one of them was fsync'd to the spool before it was sent. The
figures include the loader applying the spool to the warehouse in the same server process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SERVER = "from flywheel.config import load_settings; from flywheel.server import serve; serve(load_settings(), port={port})"
NOOP = """
import uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"success":true}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"16")]})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, port={port}, log_level="warning", access_log=False, server_header=False, date_header=False)
"""
"""The ceiling: a do-nothing ASGI app on the same uvicorn (uvloop, httptools) that reads the body and answers 200."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(path: str, body: dict, key: str) -> bytes:
    data = json.dumps(body).encode()
    auth = base64.b64encode(f"{key}:".encode()).decode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


async def connection(port: int, wire: bytes, per_request: int, stop_at: float, budget: list[int],
                     latencies: list[float], failures: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop_at and budget[0] > 0:
            budget[0] -= per_request
            started = time.perf_counter()
            writer.write(wire)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                latencies.append(time.perf_counter() - started)
            else:
                failures[0] += 1
    finally:
        writer.close()


async def phase(port: int, wire: bytes, per_request: int, seconds: float, max_events: int, connections: int) -> dict:
    latencies: list[float] = []
    failures = [0]
    budget = [max_events]
    started = time.monotonic()
    await asyncio.gather(*(connection(port, wire, per_request, started + seconds, budget, latencies, failures)
                           for _ in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    p = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else None
    return {"events_per_s": round(len(latencies) * per_request / elapsed), "requests": len(latencies),
            "failed": failures[0], "seconds": round(elapsed, 1), "p50_ms": p(0.50), "p99_ms": p(0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-events", type=int, default=200_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--server", choices=("flywheel", "noop"), default="flywheel",
                        help="noop: a do-nothing ASGI app on the same uvicorn, the HTTP ceiling of this machine")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flywheel-bench-"))
    env = os.environ | {"FLYWHEEL_DB": str(work / "bench.duckdb"), "FLYWHEEL_KEY_FILE": str(work / "key")}
    write_key = _library(env, "print(WriteKeys(keys_file(load_settings().db_path)).add('bench'))")
    port = free_port()
    code = (SERVER if args.server == "flywheel" else NOOP).replace("{port}", str(port))
    server = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        _wait(port)
        event = {"userId": "u-1", "event": "Product Viewed", "properties": {"sku": "A-1", "price": 99.0},
                 "context": {"page": {"path": "/p/A-1"}, "userAgent": "bench"}}
        batch = {"batch": [event | {"type": "track"} for _ in range(100)]}
        results = {
            "single": asyncio.run(phase(port, request("/v1/track", event, write_key), 1, args.seconds,
                                        args.max_events, args.connections)),
            "batch100": asyncio.run(phase(port, request("/v1/batch", batch, write_key), 100, args.seconds,
                                          args.max_events * 5, max(4, args.connections // 4))),
        }
    finally:
        server.terminate()
        server.wait(120)
    if args.server == "flywheel":
        results["stored_after_shutdown"] = int(_library(env, "print(event_stats(load_settings())['total'])"))
    results["server"] = args.server
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    results["load_average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(json.dumps(results, indent=2))


def _library(env: dict, statement: str) -> str:
    """Run one statement against the bench warehouse in a fresh process (what `flywheel sources add` /
    `flywheel events stats` do)."""
    code = ("from flywheel.config import load_settings; "
            "from flywheel.server import WriteKeys, event_stats, keys_file; " + statement)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


if __name__ == "__main__":
    main()
