"""Delivery throughput on loopback: SMTP messages/s and webhook deliveries/s with retries on.

    .venv/bin/python bench/delivery.py [--emails 3000] [--webhooks 20000] [--fail-share 0.1] [--repeat 2]

Each receiver runs in its own process, so it does not share this process's interpreter:
- SMTP: an aiosmtpd server on 127.0.0.1 that accepts and counts every message.
- Webhooks: a raw ASGI app on uvicorn (httptools) that behaves as the Standard Webhooks spec asks a
  consumer to: it verifies every signature with the `standardwebhooks` package, answers 503 to the
  first attempt of a deterministic `--fail-share` of the messages, and performs the side effect once
  per webhook-id (a repeat is acknowledged and counted as a duplicate).

Flywheel is `deliver_many` with the default settings (4 SMTP connections, 16 webhook workers, 5
attempts, back-off 1 s doubling): each e-mail built per person (UTF-8 subject, Message-ID from the
key, List-Unsubscribe with a signed link); each webhook body built, signed per attempt, retried on
503. The peers, measured in the same run against the same receivers, are bare loops: a raw
`smtplib` `sendmail` loop of one pre-built message on one connection, and a bare POST loop of one
pre-built body (no signing, no retries) with `httpx` and with the standard library's `http.client`.
"Flywheel, 1" runs one SMTP connection or one webhook worker (a quarter of the webhook messages). Rates are messages over wall-clock time until the
last outcome; with retries that includes the back-off wait of the last retried message.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from flywheel.activate.delivery import Message, deliver_many
from flywheel.activate.delivery.email import build_email
from flywheel.activate.delivery.reading import parse_settings

SECRET = "whsec_" + base64.b64encode(b"bench-delivery-signing-secret-32b").decode()

SMTP_SINK = """
import sys
from aiosmtpd.controller import Controller
count = 0
class Count:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        return "250 OK"
controller = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
for line in sys.stdin:
    print(count, flush=True)
controller.stop()
"""

RECEIVER = """
import hashlib, json, sys, uvicorn
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
verifier, fail_share = Webhook(sys.argv[2]), float(sys.argv[3])
seen, attempts = set(), {}
stats = {"requests": 0, "effects": 0, "duplicates": 0, "bad_signatures": 0, "refused_first": 0, "peer": 0}

async def answer(send, status, body=b""):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

async def app(scope, receive, send):
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["path"] == "/stats":
        return await answer(send, 200, json.dumps(stats).encode())
    if scope["path"] == "/peer":
        stats["peer"] += 1
        return await answer(send, 200)
    stats["requests"] += 1
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    try:
        verifier.verify(body, headers)
    except WebhookVerificationError:
        stats["bad_signatures"] += 1
        return await answer(send, 401)
    mid = headers["webhook-id"]
    attempts[mid] = attempts.get(mid, 0) + 1
    if attempts[mid] == 1 and int(hashlib.sha256(mid.encode()).hexdigest()[:8], 16) < fail_share * 2 ** 32:
        stats["refused_first"] += 1
        return await answer(send, 503)
    if mid in seen:
        stats["duplicates"] += 1
    else:
        seen.add(mid)
        stats["effects"] += 1
    return await answer(send, 200)

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False, lifespan="off",
            http="httptools")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("receiver exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("receiver did not start")


def settings_for(smtp_port: int, hook_port: int, connections: int = 4, workers: int = 16):
    spec = yaml.safe_load(f"""
email: {{smtp_host: 127.0.0.1, smtp_port: {smtp_port}, sender: "Shop 店 <shop@example.com>",
         unsubscribe_url: "https://shop.example.com/unsubscribe/{{token}}"}}
webhooks:
  sms: {{url: "http://127.0.0.1:{hook_port}/sms", secret: "{SECRET}"}}
concurrency: {{email: {connections}, webhooks: {workers}}}
""")
    settings = parse_settings(spec, "bench")
    settings.unsubscribe_key = b"bench-unsubscribe-key-32-bytes!!"
    return settings


def emails(n: int, run: str) -> list[Message]:
    return [Message(f"bench:{run}:p{i}:1:care", "email", f"person{i}@example.com",
                    f"您好，您的专属优惠券 FW-{i:06d} 已到账，三天内有效。", "marketing_email", True,
                    person_id=f"p{i:07d}", journey="bench", step="care", subject="春季会员日：专属优惠券已到账",
                    coupon_code=f"FW-{i:06d}") for i in range(n)]


def texts(n: int, run: str) -> list[Message]:
    return [Message(f"bench:{run}:p{i}:1:remind", "sms", f"+86138{i:08d}"[:14], "会员日八折，优惠券明天到期",
                    "marketing_sms", True, person_id=f"p{i:07d}", journey="bench", step="remind",
                    coupon_code=f"FW-{i:06d}") for i in range(n)]


def smtp_floor(port: int, n: int, sample: Message, settings) -> float:
    data = build_email(settings, sample)
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for _ in range(n):
            smtp.sendmail("shop@example.com", [sample.to], data)
    return n / (time.perf_counter() - start)


def httpx_floor(port: int, n: int, sample: Message) -> float:
    from flywheel.activate.delivery.webhook import body_of

    body = body_of(sample)
    start = time.perf_counter()
    with httpx.Client() as client:
        for _ in range(n):
            client.post(f"http://127.0.0.1:{port}/peer", content=body, headers={"content-type": "application/json"})
    return n / (time.perf_counter() - start)


def http_client_floor(port: int, n: int, sample: Message) -> float:
    """The bare standard-library loop: one keep-alive connection, one pre-built body."""
    import http.client

    from flywheel.activate.delivery.webhook import body_of

    body = body_of(sample)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    for _ in range(n):
        conn.request("POST", "/peer", body=body, headers={"content-type": "application/json"})
        conn.getresponse().read()
    seconds = time.perf_counter() - start
    conn.close()
    return n / seconds


def timed(settings, messages: list[Message]) -> tuple[float, dict]:
    start = time.perf_counter()
    outcomes = deliver_many(settings, messages)
    seconds = time.perf_counter() - start
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    attempts = sum(o.attempts for o in outcomes)
    return len(messages) / seconds, {"statuses": statuses, "attempts": attempts, "seconds": round(seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emails", type=int, default=3000)
    ap.add_argument("--webhooks", type=int, default=20000)
    ap.add_argument("--fail-share", type=float, default=0.1)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    smtp_port, hook_port = free_port(), free_port()
    sink = subprocess.Popen([sys.executable, "-c", SMTP_SINK, str(smtp_port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    hook = subprocess.Popen([sys.executable, "-c", RECEIVER, str(hook_port), SECRET, str(args.fail_share)])
    rows = []
    try:
        assert sink.stdout.readline().strip() == "ready"
        wait_port(hook_port, hook)
        sent_mail = 0
        for r in range(args.repeat):
            run = f"r{r}"
            settings = settings_for(smtp_port, hook_port)
            sample = emails(1, run)[0]
            floor = smtp_floor(smtp_port, args.emails, sample, settings)
            one, one_detail = timed(settings_for(smtp_port, hook_port, connections=1), emails(args.emails, run + "a"))
            many, many_detail = timed(settings, emails(args.emails, run + "b"))
            sent_mail += 3 * args.emails
            sink.stdin.write("count\n")
            sink.stdin.flush()
            received = int(sink.stdout.readline())
            rows.append({"run": r + 1, "kind": "smtp", "messages": args.emails, "floor": floor, "flywheel_1": one,
                         "flywheel": many, "detail": many_detail | {"one_connection": one_detail},
                         "receiver": {"received": received, "expected": sent_mail}})

            before = httpx.get(f"http://127.0.0.1:{hook_port}/stats").json()
            peer = httpx_floor(hook_port, args.webhooks // 4, texts(1, run)[0])
            stdlib = http_client_floor(hook_port, args.webhooks // 4, texts(1, run)[0])
            one, one_detail = timed(settings_for(smtp_port, hook_port, workers=1), texts(args.webhooks // 4, run + "a"))
            many, many_detail = timed(settings, texts(args.webhooks, run + "b"))
            after = httpx.get(f"http://127.0.0.1:{hook_port}/stats").json()
            delta = {k: after[k] - before[k] for k in after}
            rows.append({"run": r + 1, "kind": "webhook", "messages": args.webhooks, "floor": peer, "flywheel_1": one,
                         "flywheel": many, "detail": many_detail | {"one_worker": one_detail}, "receiver": delta,
                         "http_client_floor": stdlib})
    finally:
        sink.stdin.close()
        sink.wait(10)
        hook.terminate()
        hook.wait(10)

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f} at the end")
    print("| run | channel | messages | peer loop /s | Flywheel, 1 connection/worker /s | Flywheel, default /s | "
          "attempts | receiver |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        rec = row["receiver"]
        seen = (f"{rec['received']:,} of {rec['expected']:,} received" if row["kind"] == "smtp" else
                f"{rec['effects']:,} effects, {rec['duplicates']} duplicates, {rec['refused_first']:,} first attempts "
                f"refused (503), {rec['bad_signatures']} bad signatures")
        peer = (f"smtplib {row['floor']:,.0f}" if row["kind"] == "smtp" else
                f"httpx {row['floor']:,.0f}; http.client {row['http_client_floor']:,.0f}")
        print(f"| {row['run']} | {row['kind']} | {row['messages']:,} | {peer} | {row['flywheel_1']:,.0f} | "
              f"{row['flywheel']:,.0f} | {row['detail']['attempts']:,} | {seen} |")
    print(json.dumps(rows, default=str))


if __name__ == "__main__":
    main()
