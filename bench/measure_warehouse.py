"""`flywheel attribution run` on a synthetic merchant of N persons in DuckDB, beside a floor: the
same window assignment and linear credit written directly in DuckDB SQL, in the same run.

    .venv/bin/python bench/measure_warehouse.py [--persons 1000000] [--db /tmp/attr1m.duckdb]

Data (made in SQL, fixed hashes): every person has a tracking and a shop account linked to them;
2.5 touches per person on 10 channels and 30 campaigns, each a page event among 10 events per
person; 3 GMV orders per person; everything spread over 540 days. Timed: `run_attribution` with
every default model (eight), as the command runs it; the floor does only the join, the
first-conversion pick and the linear sums, so it is what any implementation must at least do.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

from ingest import machine  # bench/ is the script's folder, first on sys.path

from flywheel.config import Settings
from flywheel.measure.runs import run_attribution
from flywheel.measure.touches import Window
from flywheel.warehouse import Warehouse

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
SPAN = 540 * 86_400


def build(con, n: int) -> dict:
    t = f"TIMESTAMPTZ '{START.isoformat()}'"
    con.execute(f"""
        INSERT INTO accounts (source, account_key)
        SELECT 'segment', 'u' || i FROM range({n}) r(i) UNION ALL SELECT 'shopify', 'h:' || i FROM range({n}) r(i);
        INSERT INTO person_accounts (source, account_key, person_id)
        SELECT 'segment', 'u' || i, 'p' || i FROM range({n}) r(i)
        UNION ALL SELECT 'shopify', 'h:' || i, 'p' || i FROM range({n}) r(i);
        INSERT INTO events (message_id, source, type, user_id, timestamp)
        SELECT 'm' || j, 'segment', 'page', 'u' || (hash(j) % {n}), {t} + to_seconds((hash(j, 1) % {SPAN})::BIGINT)
        FROM range({10 * n}) r(j);
        INSERT INTO touchpoints (touchpoint_id, user_id, channel, campaign_id, occurred_at)
        SELECT 'm' || j, 'u' || (hash(j) % {n}), 'ch' || (hash(j, 2) % 10), 'cp' || (hash(j, 2) % 30),
               {t} + to_seconds((hash(j, 1) % {SPAN})::BIGINT)
        FROM range({10 * n}) r(j) WHERE j % 4 = 0;
        INSERT INTO orders (source, order_id, account_key, status, created_at, paid_at, paid_cents)
        SELECT 'shopify', '#' || k, 'h:' || (hash(k, 3) % {n}), 'completed',
               {t} + to_seconds((hash(k, 4) % {SPAN})::BIGINT), {t} + to_seconds((hash(k, 4) % {SPAN})::BIGINT),
               1000 + hash(k, 5) % 49000
        FROM range({3 * n}) r(k);
    """)
    return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            for name in ("accounts", "events", "touchpoints", "orders")}


def floor(con, as_of: dt.datetime, window_days: float = 30) -> tuple[float, int]:
    started = time.perf_counter()
    rows = con.execute(f"""
        WITH ap AS (SELECT a.source, a.account_key, p.person_id FROM accounts a
                    JOIN person_accounts p USING (source, account_key)),
        t AS (SELECT tp.touchpoint_id AS touch_id, ap.person_id, tp.channel, tp.campaign_id,
                     epoch(tp.occurred_at)::BIGINT AS te
              FROM touchpoints tp JOIN events e ON tp.touchpoint_id = e.message_id
              JOIN ap ON ap.source = e.source AND ap.account_key = coalesce(e.user_id, 'anon:' || e.anonymous_id)
              WHERE epoch(tp.occurred_at) <= {as_of.timestamp()}),
        c AS (SELECT ap.person_id, o.source || ':' || o.order_id AS conv_id,
                     epoch(coalesce(o.paid_at, o.created_at))::BIGINT AS ce
              FROM orders o JOIN ap USING (source, account_key)),
        j AS (SELECT t.*, c.conv_id, c.ce FROM t JOIN c ON t.person_id = c.person_id AND t.te <= c.ce
              AND c.ce - t.te <= {int(window_days * 86_400)}
              QUALIFY row_number() OVER (PARTITION BY t.touch_id ORDER BY c.ce, c.conv_id) = 1),
        w AS (SELECT channel, campaign_id, 1.0 / count(*) OVER (PARTITION BY conv_id) AS linear FROM j)
        SELECT channel, campaign_id, sum(linear) FROM w GROUP BY ALL
    """).fetchall()
    return time.perf_counter() - started, len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/attr-bench.duckdb"))
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    for suffix in ("", ".wal"):
        Path(str(args.db) + suffix).unlink(missing_ok=True)
    settings = Settings(db_path=args.db, key_file=args.db.with_suffix(".key"))
    print(f"Machine: {machine()}; load average at the start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with Warehouse.open(settings) as wh:
        started = time.perf_counter()
        counts = build(wh.con.con, args.persons)
        print(f"Data: {args.persons:,} persons, " + ", ".join(f"{v:,} {k}" for k, v in counts.items())
              + f" (made in {time.perf_counter() - started:.0f} s)\n")
        as_of = START + dt.timedelta(seconds=SPAN)
        print("| measure | run | seconds | detail | load (1, 5, 15 min) |")
        print("|---|---|---|---|---|")
        for run in range(1, args.repeat + 1):
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            started = time.perf_counter()
            result = run_attribution(wh, Window(as_of=as_of))
            seconds = time.perf_counter() - started
            c = result["conversions"]
            print(f"| flywheel attribution run (8 models) | {run} | {seconds:.1f} | {c['attributed']:,} of "
                  f"{c['total']:,} conversions attributed, {result['paths']['distinct']:,} distinct paths, "
                  f"{result['paths']['null']:,} null | {load} |")
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            seconds, groups = floor(wh.con.con, as_of)
            print(f"| floor: DuckDB SQL, window join + linear credit | {run} | {seconds:.1f} | {groups} channel × "
                  f"campaign groups | {load} |")


if __name__ == "__main__":
    main()
