"""The console on a large merchant: every page to charts-ready in a real browser, the read API's
member page and person lookups, and the rollup build — each beside a floor measured in the same run.

    .venv/bin/python bench/dashboard.py [--persons 20000] [--base FILE] [--repeat 3] [--out bench/out]
    .venv/bin/python bench/dashboard.py --persons 1000000 --base /work/bench/base1m.duckdb   # the targets

The warehouse is bench/activate.py's (written in bulk with DuckDB SQL into the catalog's tables: one
web account per person, ~10 events and 1.5 orders per person, consents, one scoring run), plus its
ten-condition segment refreshed and its win-back journey with every person enrolled. Then
`build_rollups` (what `flywheel insight build` runs) and the console served by uvicorn on loopback.

Timed, median of `--repeat` after one warm-up:
- each page, from `page.goto` to `<body data-charts-ready>` in Debian's Chromium (Playwright);
- `GET /api/v1/segments/{name}/members?limit=100` (first page and a page deep in the cursor) and
  `GET /api/v1/persons/{id}` over HTTP, for random persons;
- the floors: the overview's figures as one hand-written DuckDB SQL query over the raw orders (what
  a page would cost without the rollups) and over the rollup; a person's rows by index-free DuckDB
  lookups; a page of members by SQL.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import sys
import threading
import time
from argparse import Namespace
from pathlib import Path

from ingest import machine  # bench/ is the script's folder, first on sys.path

PAGES = ["/", "/retention", "/funnel", "/value", "/segments", "/segments/bench_ten", "/journeys", "/channels",
         "/data", "/loyalty"]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def prepare(args) -> "Settings":  # noqa: F821
    import activate

    from flywheel.config import load_settings
    from flywheel.privacy import Gate
    from flywheel.warehouse import Warehouse

    db = args.out / "flywheel.duckdb"
    os.environ.update(FLYWHEEL_DB=str(db), FLYWHEEL_KEY_FILE=str(args.out / "identifier.key"), FLYWHEEL_ENGINE="duckdb")
    load_settings.cache_clear()
    if args.base is not None and args.base.exists():
        shutil.copy(args.base, db)
        wh = Warehouse.open()
    else:
        wh = Warehouse.open()
        seconds, counts = activate.timed(activate.build, wh, args.persons, 10)
        log(f"built in {seconds:.0f} s: {counts}")
        if args.base is not None:
            wh.close()
            shutil.copy(db, args.base)
            wh = Warehouse.open()
    settings = load_settings()
    with Gate.open(settings.with_overrides(role="marketer"), wh, "bench") as gate:
        from flywheel.activate import apply_segments, load_segment_files, refresh_segments

        seg = args.out / "bench_ten.yaml"
        seg.write_text(activate.SEGMENT, encoding="utf-8")
        apply_segments(gate, load_segment_files([seg]))
        t = time.perf_counter()
        refresh_segments(wh, activate.NOW)
        log(f"segment refreshed in {time.perf_counter() - t:.1f} s")
        activate.enrol_all(wh, gate, Namespace(out=args.out, due=args.persons // 10), activate.NOW)
    from flywheel.insight import build_rollups

    t = time.perf_counter()
    record = build_rollups(wh)
    args.build_seconds = time.perf_counter() - t
    log(f"rollups built in {args.build_seconds:.1f} s: {record}")
    args.counts = {t: wh.count(t) for t in ("persons", "events", "orders", "metric_person_days",
                                             "metric_funnel_events", "segment_members", "journey_episodes")}
    wh.close()
    return settings


OVERVIEW_RAW = """
SELECT sum(paid_cents), sum(coalesce(refund_cents, 0)), count(*), count(DISTINCT p.person_id)
FROM orders o JOIN person_accounts p USING (source, account_key)
WHERE o.status IN ('paid', 'shipped', 'completed', 'refunded', 'partially_refunded')
  AND o.created_at >= TIMESTAMPTZ '{start}' AND o.created_at < TIMESTAMPTZ '{end}'
"""
OVERVIEW_ROLLUP = """
SELECT sum(gmv_cents), sum(refund_cents), sum(orders), count(DISTINCT person_id)
FROM metric_person_days WHERE orders > 0 AND day BETWEEN {first} AND {last}
"""


def floors(settings, args, person_ids: list[str]) -> dict:
    import duckdb

    from flywheel.insight.calendar import day_date

    con = duckdb.connect(str(settings.db_path), read_only=True)
    last = con.sql("SELECT max(day) FROM metric_person_days").fetchone()[0]
    first = last - 29
    start, end = day_date(first), day_date(last + 1)
    out = {
        "overview over raw orders (SQL)": median_time(lambda: con.sql(OVERVIEW_RAW.format(
            start=f"{start} 00:00:00+08", end=f"{end} 00:00:00+08")).fetchall(), args.repeat),
        "overview over the rollup (SQL)": median_time(lambda: con.sql(OVERVIEW_ROLLUP.format(
            first=first, last=last)).fetchall(), args.repeat),
        "a page of 100 members (SQL)": median_time(lambda: con.sql(
            "SELECT m.person_id, m.entered_at, s.tier FROM segment_members m LEFT JOIN person_scores s "
            "USING (person_id) WHERE m.segment = 'bench_ten' ORDER BY m.person_id LIMIT 101").fetchall(), args.repeat),
    }
    pid = iter(person_ids * 10)
    out["a person's accounts, orders and events (SQL)"] = median_time(lambda: _person_sql(con, next(pid)), args.repeat)
    con.close()
    return out


def _person_sql(con, person_id: str) -> None:
    accounts = con.execute("SELECT source, account_key FROM person_accounts WHERE person_id = ?", [person_id]).fetchall()
    keys = [a[1] for a in accounts]
    con.execute("SELECT * FROM orders WHERE account_key IN (SELECT unnest(?))", [keys]).fetchall()
    con.execute("SELECT * FROM events WHERE user_id IN (SELECT unnest(?))", [keys]).fetchall()


def serve(settings):
    import uvicorn

    from flywheel.console import create_console

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_console(settings, rate=1000, burst=2000)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    server.console = app
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--base", type=Path, help="bench/activate.py's built warehouse to copy (written if absent)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    args = ap.parse_args()
    args.out = args.out / f"dashboard_{args.persons}"
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    settings = prepare(args)

    import httpx
    from playwright.sync_api import sync_playwright

    from flywheel.console.keys import ApiKeys, keys_path

    key = ApiKeys(keys_path(settings.db_path)).create("owner", "bench", "bench")[0]
    server, base = serve(settings)
    rng = random.Random(1)
    person_ids = [f"p{rng.randrange(args.persons):08d}" for _ in range(50)]
    results: list[tuple[str, float, str]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.goto(base + "/login")
        page.fill("input[name=key]", key)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        pages = PAGES + [f"/persons/{person_ids[0]}"]
        for path in pages:
            def visit(path=path):
                page.goto(base + path)
                page.wait_for_selector("body[data-charts-ready]", timeout=120_000)
            seconds = median_time(visit, args.repeat)
            results.append((f"page {path}", seconds, "goto → data-charts-ready"))
            log(f"{path}: {seconds:.2f} s")
        browser.close()
    client = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=120)
    first = client.get("/api/v1/segments/bench_ten/members", params={"limit": 100}).json()
    deep = first["next_cursor"]
    for _ in range(20):
        got = client.get("/api/v1/segments/bench_ten/members", params={"limit": 100, "cursor": deep}).json()
        deep = got["next_cursor"] or deep
    results.append(("API members?limit=100, first page", median_time(
        lambda: client.get("/api/v1/segments/bench_ten/members", params={"limit": 100}).raise_for_status(),
        args.repeat * 5), f"{len(first['items'])} items"))
    results.append(("API members?limit=100, page 21", median_time(
        lambda: client.get("/api/v1/segments/bench_ten/members", params={"limit": 100, "cursor": deep})
        .raise_for_status(), args.repeat * 5), "cursor"))
    pid = iter(person_ids * 10)
    results.append(("API persons/{id}", median_time(
        lambda: client.get(f"/api/v1/persons/{next(pid)}").raise_for_status(), args.repeat * 5), "random persons"))
    server.should_exit = True
    server.console.state.anchor.close()
    time.sleep(1.5)
    floor = floors(settings, args, person_ids)

    import duckdb

    print(f"Machine: {machine()}; DuckDB {duckdb.__version__}; Chromium {CHROMIUM}")
    print(f"Data: {args.counts}; rollups built in {args.build_seconds:.1f} s\n")
    print("| measure | seconds | detail |")
    print("|---|---|---|")
    for name, seconds, detail in results:
        print(f"| {name} | {seconds:.3f} | {detail} |")
    for name, seconds in floor.items():
        print(f"| floor: {name} | {seconds:.3f} | DuckDB, same file, same process |")


if __name__ == "__main__":
    main()
