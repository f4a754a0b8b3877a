"""Loyalty at scale: `loyalty run` over a large merchant's orders, and single ledger writes per second
through the engine function the CLI calls, each beside its floor measured in the same run.

    .venv/bin/python bench/loyalty.py [--persons 20000] [--base FILE] [--out bench/out]
    .venv/bin/python bench/loyalty.py --persons 1000000 --base /work/bench/act/base1m.duckdb   # the targets

The warehouse is bench/activate.py's (one web account per person, 1.5 orders per person), copied and
given another 1.5 orders per person — 3 per person, ~3M GMV orders at 1M persons — with one order in
ten partially or fully refunded.

Timed:
- `loyalty run` (flywheel.loyalty.run.run: read the GMV orders through Ibis, earn them in bulk,
  claw back the refunds, settle windows and expiries), a rerun (which must add nothing), and after
  1% new orders and refunds, an incremental run;
- the floor of the first run: the same number of rows inserted into the same SQLite tables by bare
  `executemany` (what the journal costs with no ledger logic);
- `--writes` single writes (earn, redeem, refund) through `Ledger` (the CLI's engine function, without
  process start-up): writes per second and p50/p99 latency; the floors are one-row insert-and-commit
  transactions on bare SQLite and bare DuckDB files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import sys
import time
from pathlib import Path

from ingest import machine  # bench/ is the script's folder, first on sys.path

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def prepare(args) -> "Settings":  # noqa: F821
    import activate

    from flywheel.config import Settings
    from flywheel.warehouse import Warehouse

    db = args.out / f"loyalty_{args.persons}.duckdb"
    for stale in (db, db.with_name(db.name + ".wal"), db.with_name(db.name + ".points.sqlite"),
                  db.with_name(db.name + ".points.sqlite-wal"), db.with_name(db.name + ".points.sqlite-shm")):
        stale.unlink(missing_ok=True)
    settings = Settings(db_path=db, key_file=args.out / "identifier.key", role="owner")
    if args.base:
        shutil.copy(args.base, db)
        shutil.copy(Path(args.base).with_name("identifier.key"), settings.key_file) \
            if Path(args.base).with_name("identifier.key").exists() else None
    with Warehouse.open(settings) as wh:
        if not args.base:
            activate.build(wh, args.persons, 10)
        n = args.persons
        started = time.perf_counter()
        activate.sql(wh, f"""INSERT INTO orders (source, order_id, account_key, status, created_at, paid_at, currency,
            paid_cents, discount_cents, shipping_cents, refund_cents, channel, run_id)
            SELECT 'web', 'x' || i, 'u' || (hash(i, 'xo') % {n}), 'completed', ts0, ts0 + INTERVAL 2 MINUTE, 'CNY',
                   1000 + hash(i, 'xv') % 60000, 0, 0, 0, 'web', 'bench-0'
            FROM (SELECT i, TIMESTAMPTZ '{NOW.isoformat()}' - to_seconds((3600 + hash(i, 'xd') % (86400 * 730))::BIGINT)
                  AS ts0 FROM range({n * 3 // 2}) t(i))""")
        activate.sql(wh, """UPDATE orders SET status = CASE WHEN hash(order_id, 'r') % 20 = 0 THEN 'refunded'
            ELSE 'partially_refunded' END, refund_cents = CASE WHEN hash(order_id, 'r') % 20 = 0 THEN paid_cents
            ELSE paid_cents // 3 END WHERE status = 'completed' AND hash(order_id, 'r') % 10 = 0""")
        activate.sql(wh, "CHECKPOINT")
        log(f"orders: {wh.count('orders'):,} in all ({time.perf_counter() - started:.0f} s to add)")
    return settings


def gmv_orders(settings) -> int:
    import duckdb

    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM orders WHERE status IN ('paid', 'shipped', 'completed', 'refunded', "
                           "'partially_refunded') AND paid_cents >= 1000").fetchone()[0]
    finally:
        con.close()


def loyalty_runs(settings, args) -> dict:
    import activate

    from flywheel.loyalty.run import run
    from flywheel.privacy import Gate
    from flywheel.warehouse import Warehouse

    results = {}
    for label, at in (("first run", NOW), ("rerun (adds nothing)", NOW)):
        with Warehouse.open(settings) as wh, Gate.open(settings, wh, "bench") as gate:
            t = time.perf_counter()
            outcome = run(gate, at)
            results[label] = (time.perf_counter() - t, outcome)
            log(f"{label}: {results[label][0]:.1f} s {outcome}")
    with Warehouse.open(settings) as wh:
        n = args.persons
        activate.sql(wh, f"""INSERT INTO orders (source, order_id, account_key, status, created_at, paid_at, currency,
            paid_cents, discount_cents, shipping_cents, refund_cents, channel, run_id)
            SELECT 'web', 'y' || i, 'u' || (hash(i, 'yo') % {n}), 'completed', ts0, ts0, 'CNY',
                   1000 + hash(i, 'yv') % 60000, 0, 0, 0, 'web', 'bench-1'
            FROM (SELECT i, TIMESTAMPTZ '{NOW.isoformat()}' + INTERVAL 1 HOUR AS ts0 FROM range({max(1, n // 100)}) t(i))""")
        activate.sql(wh, f"""UPDATE orders SET refund_cents = paid_cents // 2, status = 'partially_refunded'
            WHERE order_id IN (SELECT order_id FROM orders WHERE status = 'completed' AND order_id LIKE 'x%'
                               ORDER BY hash(order_id, 'late') LIMIT {max(1, n // 100)})""")
    with Warehouse.open(settings) as wh, Gate.open(settings, wh, "bench") as gate:
        t = time.perf_counter()
        outcome = run(gate, NOW + dt.timedelta(days=1))
        results["incremental (1% new orders, 1% new refunds)"] = (time.perf_counter() - t, outcome)
        log(f"incremental: {time.perf_counter() - t:.1f} s {outcome}")
    return results


def journal_floor(path: Path, first: dict) -> float:
    """The first run's rows inserted by bare executemany into the same tables (no ledger logic)."""
    from flywheel.loyalty.journal import connect

    path.unlink(missing_ok=True)
    con = connect(path)
    orders = first["orders"]
    txs = first["transactions"] + first["resolved"]["transactions"] + first["expired"]["transactions"]
    now = "2026-01-01T00:00:00.000000+00:00"
    t = time.perf_counter()
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT INTO transactions (id, key, payload, kind, person, order_id, points, at, recorded_at) "
                    "VALUES (?, ?, ?, 'earn', ?, ?, 10, ?, ?)",
                    ((i, f"order:web:o{i}:earn", '{"op":"earn","order":"web:o1","paid":10900,"person":"p00000001",'
                      '"points":10}', f"p{i // 3:08d}", f"web:o{i}", now, now) for i in range(1, txs + 1)))
    con.executemany("INSERT INTO entries (tx, account, person, lot, amount) VALUES (?, ?, ?, ?, ?)",
                    (r for i in range(1, txs + 1) for r in ((i, "merchant:issued", None, i, -10),
                                                            (i, "available", f"p{i // 3:08d}", i, 10))))
    con.executemany("INSERT INTO lots (id, person, tx, order_id, points, remaining, pending, earned_at, available_at, "
                    "expires_at, state) VALUES (?, ?, ?, ?, 10, 10, 0, ?, ?, ?, 'open')",
                    ((i, f"p{i // 3:08d}", i, f"web:o{i}", now, now, now) for i in range(1, orders + 1)))
    con.executemany("INSERT INTO orders VALUES (?, ?, 10900, 0, 10, 0, ?, 0, 0)",
                    ((f"web:o{i}", f"p{i // 3:08d}", i) for i in range(1, orders + 1)))
    con.execute("COMMIT")
    seconds = time.perf_counter() - t
    con.close()
    return seconds


def single_writes(path: Path, writes: int) -> dict:
    """Earn, redeem and refund in turn over 1,000 persons, each its own serialised transaction."""
    from flywheel.loyalty.ledger import Ledger

    path.unlink(missing_ok=True)
    rng = random.Random(3)
    latencies = []
    with Ledger(path) as book:
        t0 = time.perf_counter()
        for i in range(writes):
            p = f"p{rng.randrange(1000)}"
            at = NOW + dt.timedelta(seconds=i)
            t = time.perf_counter()
            if i % 3 == 0:
                book.earn(p, key=f"e{i}", points=50, order=f"o{i}", paid_cents=50000, at=at,
                          expires_at=at + dt.timedelta(days=365))
            elif i % 3 == 1:
                book.redeem(p, key=f"r{i}", points=5, at=at)
            else:
                book.refund(p, key=f"f{i}", order=f"o{i - 2}", amount_cents=10000, at=at)
            latencies.append(time.perf_counter() - t)
        total = time.perf_counter() - t0
    latencies.sort()
    return {"writes/s": writes / total, "p50 ms": 1000 * latencies[len(latencies) // 2],
            "p99 ms": 1000 * latencies[int(len(latencies) * 0.99)]}


def raw_floor(kind: str, path: Path, writes: int) -> dict:
    latencies = []
    if kind == "sqlite":
        import sqlite3

        path.unlink(missing_ok=True)
        con = sqlite3.connect(str(path), isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("CREATE TABLE t (key TEXT PRIMARY KEY, person TEXT, points INTEGER, ts TEXT)")
        begin, commit = "BEGIN IMMEDIATE", "COMMIT"
    else:
        import duckdb

        path.unlink(missing_ok=True)
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE t (key VARCHAR PRIMARY KEY, person VARCHAR, points BIGINT, ts VARCHAR)")
        begin, commit = "BEGIN TRANSACTION", "COMMIT"
    t0 = time.perf_counter()
    for i in range(writes):
        t = time.perf_counter()
        con.execute(begin)
        con.execute("INSERT INTO t VALUES (?, ?, ?, ?)", [f"k{i}", f"p{i % 1000}", 5, "2026-06-01"])
        con.execute(commit)
        latencies.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    con.close()
    latencies.sort()
    return {"writes/s": writes / total, "p50 ms": 1000 * latencies[len(latencies) // 2],
            "p99 ms": 1000 * latencies[int(len(latencies) * 0.99)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--base", type=Path, default=None, help="bench/activate.py's warehouse of --persons, to copy")
    ap.add_argument("--writes", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FLYWHEEL_KEY_FILE", str(args.out / "identifier.key"))
    settings = prepare(args)
    gmv = gmv_orders(settings)
    runs = loyalty_runs(settings, args)
    first = runs["first run"][1]
    floor = journal_floor(args.out / "floor.sqlite", first)
    log(f"journal floor: {floor:.1f} s")
    writes = single_writes(args.out / "writes.sqlite", args.writes)
    floors = {k: raw_floor(k, args.out / f"raw.{k}", args.writes) for k in ("sqlite", "duckdb")}
    lines = [f"# bench/loyalty.py — {args.persons:,} persons, {gmv:,} GMV orders of ≥ 10 CNY", "",
             f"Machine: {machine()}.", f"Run at {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.", "",
             "| loyalty run | seconds | orders | transactions | fresh persons | one-by-one orders |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, (seconds, o) in runs.items():
        lines.append(f"| {label} | {seconds:.1f} | {o['orders']:,} | {o['transactions'] + o['resolved']['transactions'] + o['expired']['transactions']:,} "
                     f"| {o['fresh_persons']:,} | {o['slow_orders']:,} |")
    lines.append(f"| floor: the first run's journal rows by bare executemany | {floor:.1f} | | | | |")
    s = first["seconds"]
    lines += ["", f"First run split: read the orders through Ibis {s['read']:.1f} s, ledger (bulk earn and refunds) "
              f"{s['ledger']:.1f} s, settling windows and expiries {s['settle']:.1f} s, levels and the "
              f"`loyalty_members` snapshot {s['levels']:.1f} s.", "",
              f"| {args.writes:,} single writes | writes/s | p50 ms | p99 ms |", "|---|---:|---:|---:|",
              f"| Ledger earn / redeem / refund (serialised, durable) | {writes['writes/s']:,.0f} | {writes['p50 ms']:.2f} "
              f"| {writes['p99 ms']:.2f} |"]
    for k, v in floors.items():
        lines.append(f"| floor: bare {k} one-row insert + commit | {v['writes/s']:,.0f} | {v['p50 ms']:.2f} | {v['p99 ms']:.2f} |")
    text = "\n".join(lines) + "\n"
    (args.out / "loyalty.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
