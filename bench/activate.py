"""Activation on DuckDB: a 10-condition segment's full evaluation and incremental refresh, and a
journey tick over enrolled persons with due actions, each beside its floor measured in the same run.

    .venv/bin/python bench/activate.py [--persons 20000] [--events-per-person 10] [--new-events 10000]
                                       [--due 2000] [--repeat 2] [--out bench/out] [--keep]
    .venv/bin/python bench/activate.py --persons 1000000 --due 100000      # the issue's targets

The warehouse is written directly in bulk with DuckDB SQL (`INSERT … SELECT FROM range(n)`) into the
tables `Warehouse.open` creates from the catalog, so every code path below reads the real schema:
one web account per person, placed in a person by `person_accounts`; `events` = one `identify` per
person (with `context.timezone`) plus track events (Page Viewed, Product Viewed, Added to Cart with a
`category` property, Community Opened, …) spread over 180 days, stored in time order as ingest runs
append them (one ingest run a day); 1.5 orders per person over two years; `consents` per account for
wecom_outreach and marketing_sms (90% granted); one scoring run (`person_scores`, `person_traits`).
Values come from DuckDB's `hash()` of the row number, so the data are the same at every run.

Segment: `refresh_segments` (the code `flywheel segment refresh` runs): first a full refresh, then
`full=True` again; then, after a new ingest run of `--new-events` events for random persons and a clock
10 minutes later, the incremental refresh (twice, with a fresh batch each time). "Evaluation only" is
`compile_rule` materialised, without recording changes. The floor is one hand-written DuckDB SQL
query of the same rule on the same tables in the same process; its members are compared with
Flywheel's.

Journey tick: the winback journey (coupon, WeCom send, wait 3 days, SMS send, exit on an order since
entry), applied with `apply_journeys`. All persons are enrolled (episodes written in bulk, groups from
`enrol.group_of`, 10% holdout); the WeCom send and coupon of each treatment episode already happened
(`journey_actions`, `coupons`); `--due` treatment episodes have their 3-day wait over, so the tick
plans and sends that many SMS actions; the others wait. `running.run` runs one tick at a clock
60 s after the previous one: segment refresh, exits over every active episode, the trigger, advance,
guards (consent, quiet hours, caps) and delivery. Delivery is a recording function and the address
book says everyone is reachable (tests/activate/test_journeys.py's Receiver and Everyone), so no
network is involved: delivery throughput is bench/delivery.py's. Timed: a dry run, the live tick,
then an idle tick one minute later (nothing due). The floor is DuckDB SQL selecting the due
episodes and joining them with the consent ledger (what any tick must at least read).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

from ingest import machine  # bench/ is the script's folder, first on sys.path

NOW = dt.datetime(2025, 6, 1, 3, 0, tzinfo=dt.timezone.utc)  # 11:00 in Asia/Shanghai: outside quiet hours
EVENTS = (("Page Viewed", 35), ("Product Viewed", 25), ("Added to Cart", 10), ("Community Opened", 15),
          ("Coupon Clicked", 5), ("Checkout Started", 5), ("Product Shared", 5))
CATEGORIES = ("skincare", "makeup", "fragrance", "haircare")

SEGMENT = """
name: bench_ten
description: ten conditions over scores, traits, events, orders, consent and a random split
rule:
  all:
    - {trait: tier, in: [diamond, gold, silver]}
    - {trait: churn_probability, lt: 0.7}
    - {trait: wecom_member, eq: true}
    - performed: {event: Product Viewed, within_days: 180, count: {gte: 2}}
    - performed: {event: Added to Cart, within_days: 180, where: {category: skincare}}
    - not_performed: {event: Community Opened, within_days: 7}
    - ordered: {within_days: 365, amount: {gte: 200}}
    - consent: wecom_outreach
    - not: {trait: is_koc, eq: true}
    - random: {percent: 50, salt: bench}
"""

JOURNEY = """
name: bench_winback
description: the community win-back case at scale
trigger: {inactive: {event: Community Opened, days: 7}}
audience: {consent: wecom_outreach}
holdout: {percent: 10}
reentry: never
exit_when: {ordered: {since: entry}}
steps:
  - coupon: {value: 20, min_order: 99, valid_days: 7}
  - send: {channel: wecom, purpose: wecom_outreach, text: "好久不见，送你一张券 {{ coupon_code }}"}
  - wait: {days: 3}
  - send: {channel: sms, purpose: marketing_sms, text: "券 {{ coupon_code }} 快到期了 回T退订"}
"""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def ts(t: dt.datetime) -> str:
    return f"TIMESTAMPTZ '{t.isoformat()}'"


def sql(wh, text: str):
    return wh.con.con.execute(text)


def build(wh, persons: int, events_per_person: int) -> dict:
    """Write the merchant's tables in bulk; returns row counts."""
    n, now = persons, ts(NOW)
    tracks = persons * events_per_person - persons
    picks = []
    lo = 0
    for name, share in EVENTS:
        picks.append(f"WHEN b < {lo + share} THEN '{name}'")
        lo += share
    event_case = "CASE " + " ".join(picks) + " END"
    cat = "CASE hash(i, 'c') % 4 " + " ".join(f"WHEN {k} THEN '{c}'" for k, c in enumerate(CATEGORIES)) + " END"
    steps = [
        ("ingest_runs", f"""INSERT INTO ingest_runs (run_id, path, file_sha256, source, adapter, started_at,
            finished_at, rows, loaded, updated, duplicates, quarantined)
            SELECT 'bench-' || i, 'bench/events-' || i || '.jsonl', md5(i::VARCHAR), 'web', 'segment',
                   {now} - INTERVAL 1 DAY * (179 - i) - INTERVAL 10 MINUTE, {now} - INTERVAL 1 DAY * (179 - i),
                   0, 0, 0, 0, 0 FROM range(180) t(i)"""),
        ("accounts", f"""INSERT INTO accounts (source, account_key, account_key_type, display_key, country,
            first_seen_at, run_id)
            SELECT 'web', 'u' || i, 'web_user', 'u***', 'CN',
                   {now} - to_seconds((86400 * 30 + hash(i, 'f') % (86400 * 700))::BIGINT), 'bench-0'
            FROM range({n}) t(i)"""),
        ("person_accounts", f"""INSERT INTO person_accounts
            SELECT 'web', 'u' || i, 'p' || lpad(i::VARCHAR, 8, '0'), 'deterministic', {now} - INTERVAL 60 DAY
            FROM range({n}) t(i)"""),
        ("persons", f"""INSERT INTO persons (person_id, created_at, status)
            SELECT 'p' || lpad(i::VARCHAR, 8, '0'), {now} - INTERVAL 60 DAY, 'active' FROM range({n}) t(i)"""),
        ("events", f"""INSERT INTO events (message_id, type, user_id, source, timestamp, received_at, context,
            traits, run_id)
            SELECT 'id-' || i, 'identify', 'u' || i, 'web', {now} - INTERVAL 200 DAY, {now} - INTERVAL 200 DAY,
                   '{{"timezone": "' || (CASE WHEN i % 10 = 0 THEN 'Europe/Berlin' ELSE 'Asia/Shanghai' END) || '"}}',
                   '{{}}', 'bench-0'
            FROM range({n}) t(i)"""),
        ("events", f"""INSERT INTO events (message_id, type, event, user_id, source, timestamp, received_at,
            properties, run_id)
            SELECT 'm-' || i, 'track', {event_case}, 'u' || (hash(i, 'p') % {n}), 'web', ts0, ts0,
                   CASE WHEN b >= 35 AND b < 70 THEN '{{"category": "' || {cat} || '"}}' ELSE '{{}}' END,
                   'bench-' || (179 - sec // 86400)
            FROM (SELECT i, sec, hash(i, 'e') % 100 AS b,
                         {now} - to_seconds(sec) AS ts0
                  FROM (SELECT i, (hash(i, 't') % (86400 * 180))::BIGINT AS sec FROM range({tracks}) t(i)))
            ORDER BY ts0"""),
        ("orders", f"""INSERT INTO orders (source, order_id, account_key, status, created_at, paid_at, currency,
            paid_cents, discount_cents, shipping_cents, refund_cents, channel, run_id)
            SELECT 'web', 'o' || i, 'u' || (hash(i, 'o') % {n}), CASE WHEN hash(i, 's') % 20 = 0 THEN 'cancelled'
                   ELSE 'completed' END, ts0, ts0 + INTERVAL 2 MINUTE, 'CNY', 1000 + hash(i, 'v') % 60000, 0, 0, 0,
                   'web', 'bench-0'
            FROM (SELECT i, {now} - to_seconds((3600 + hash(i, 'd') % (86400 * 730))::BIGINT) AS ts0
                  FROM range({n * 3 // 2}) t(i))"""),
        ("consents", f"""INSERT INTO consents (source, account_key, purpose, status, legal_basis, recorded_at,
            evidence, run_id)
            SELECT 'web', 'u' || i, p, CASE WHEN hash(i, p) % 10 = 0 THEN 'withdrawn' ELSE 'granted' END,
                   'consent', {now} - INTERVAL 150 DAY, 'bench', 'bench-0'
            FROM range({n}) t(i), (VALUES ('wecom_outreach'), ('marketing_sms')) v(p)"""),
        ("value_runs", f"""INSERT INTO value_runs (run_id, as_of, started_at, finished_at, engine, persons)
            VALUES ('bench-score', {now} - INTERVAL 1 DAY, {now} - INTERVAL 1 DAY, {now} - INTERVAL 1 DAY,
                    'duckdb', {n})"""),
        ("person_scores", f"""INSERT INTO person_scores (run_id, person_id, as_of, tier, rfm_segment,
            churn_probability, p_alive, potential_value, value_score, is_koc, high_potential_low_activity)
            SELECT 'bench-score', 'p' || lpad(i::VARCHAR, 8, '0'), {now} - INTERVAL 1 DAY,
                   CASE WHEN t < 5 THEN 'diamond' WHEN t < 20 THEN 'gold' WHEN t < 50 THEN 'silver'
                        WHEN t < 60 THEN 'churn-warning' WHEN t < 80 THEN 'prospect' ELSE 'other' END,
                   CASE WHEN t < 50 THEN 'loyal' ELSE 'hibernating' END, c, 1 - c, (hash(i, 'pv') % 500000) / 100,
                   (hash(i, 'vs') % 100)::DOUBLE, hash(i, 'k') % 20 = 0, false
            FROM (SELECT i, hash(i, 'tier') % 100 AS t, (hash(i, 'churn') % 1000) / 1000 AS c FROM range({n}) t(i))"""),
        ("person_traits", f"""INSERT INTO person_traits (person_id, as_of, run_id, orders, gmv, wecom_member,
            country, city)
            SELECT 'p' || lpad(i::VARCHAR, 8, '0'), {now} - INTERVAL 1 DAY, 'bench-score', (hash(i, 'n') % 4)::BIGINT,
                   (hash(i, 'g') % 100000) / 100, hash(i, 'w') % 10 < 7, 'CN', 'Shanghai'
            FROM range({n}) t(i)"""),
    ]
    for table, statement in steps:
        started = time.perf_counter()
        sql(wh, statement)
        log(f"built {table} in {time.perf_counter() - started:.1f} s")
    sql(wh, "CHECKPOINT")
    return {t: wh.count(t) for t in ("accounts", "events", "orders", "consents", "person_scores")}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text} (load {load()})", file=sys.stderr, flush=True)


PEER = """
WITH people AS (SELECT person_id, account_key FROM person_accounts WHERE source = 'web'),
ev AS (SELECT p.person_id, e.event, e.timestamp, e.properties FROM events e
       JOIN people p ON p.account_key = e.user_id WHERE e.source = 'web' AND e.timestamp <= {now}),
scores AS (SELECT * FROM person_scores WHERE run_id = (SELECT run_id FROM value_runs
           ORDER BY started_at DESC, run_id DESC LIMIT 1)),
consent AS (SELECT account_key, status FROM (SELECT account_key, status, row_number() OVER (
              PARTITION BY source, account_key ORDER BY recorded_at DESC,
              CASE status WHEN 'withdrawn' THEN 0 WHEN 'denied' THEN 1 ELSE 2 END) AS r
            FROM consents WHERE purpose = 'wecom_outreach') WHERE r = 1)
SELECT s.person_id FROM scores s
JOIN people p USING (person_id)
JOIN person_traits t USING (person_id)
JOIN accounts a ON a.source = 'web' AND a.account_key = p.account_key
JOIN consent c ON c.account_key = p.account_key AND c.status = 'granted'
WHERE s.tier IN ('diamond', 'gold', 'silver') AND s.churn_probability < 0.7 AND t.wecom_member
  AND NOT coalesce(s.is_koc, false)
  AND substr(md5('bench:' || s.person_id), 1, 8) < '{half}'
  AND s.person_id IN (SELECT person_id FROM ev WHERE event = 'Product Viewed'
                      AND timestamp > {now} - INTERVAL 180 DAY GROUP BY 1 HAVING count(*) >= 2)
  AND s.person_id IN (SELECT person_id FROM ev WHERE event = 'Added to Cart' AND timestamp > {now} - INTERVAL 180 DAY
                      AND json_extract_string(properties, '$.category') = 'skincare')
  AND coalesce((SELECT max(timestamp) FROM ev WHERE ev.person_id = s.person_id AND event = 'Community Opened'),
               a.first_seen_at) <= {now} - INTERVAL 7 DAY
  AND s.person_id IN (SELECT p.person_id FROM orders o JOIN people p ON p.account_key = o.account_key
                      WHERE o.status IN ('paid', 'shipped', 'completed', 'refunded', 'partially_refunded')
                        AND coalesce(o.paid_at, o.created_at) > {now} - INTERVAL 365 DAY
                        AND coalesce(o.paid_at, o.created_at) <= {now}
                      GROUP BY 1 HAVING sum(o.paid_cents) >= 20000)
"""


def peer(wh, now: dt.datetime) -> tuple[float, set[str]]:
    from flywheel.activate.compile import percent_threshold

    started = time.perf_counter()
    rows = sql(wh, PEER.format(now=ts(now), half=percent_threshold(50))).fetch_arrow_table()
    return time.perf_counter() - started, set(rows.column(0).to_pylist())


def new_events(wh, count: int, batch: int, persons: int, at: dt.datetime) -> None:
    """One more ingest run of `count` events in the 10 minutes before `at`, for random persons."""
    run = f"bench-new-{batch}"
    sql(wh, f"""INSERT INTO ingest_runs (run_id, path, file_sha256, source, adapter, started_at, finished_at, rows,
                loaded, updated, duplicates, quarantined)
                VALUES ('{run}', 'bench/new-{batch}.jsonl', md5('{run}'), 'web', 'segment', now(), now(),
                        {count}, {count}, 0, 0, 0)""")
    picks, lo = [], 0
    for name, share in EVENTS:
        picks.append(f"WHEN b < {lo + share} THEN '{name}'")
        lo += share
    sql(wh, f"""INSERT INTO events (message_id, type, event, user_id, source, timestamp, received_at, properties,
                run_id)
                SELECT 'n{batch}-' || i, 'track', CASE {' '.join(picks)} END, 'u' || (hash(i, '{run}') % {persons}),
                       'web', ts0, ts0, CASE WHEN b >= 35 AND b < 70 THEN '{{"category": "skincare"}}' ELSE '{{}}' END,
                       '{run}'
                FROM (SELECT i, hash(i, 'b{batch}') % 100 AS b,
                             {ts(at)} - to_seconds((hash(i, 'a{batch}') % 600)::BIGINT) AS ts0 FROM range({count}) t(i))""")


class Phases:
    """Wall time per named step, by wrapping module functions for the duration of one measurement
    (cheap enough not to distort it, unlike cProfile on Ibis-heavy code)."""

    def __init__(self, targets: list[tuple[object, str]]):
        self.targets, self.seconds, self.saved = targets, {}, []

    def __enter__(self):
        for owner, name in self.targets:
            original = getattr(owner, name)
            label = f"{getattr(owner, '__name__', owner)}.{name}".replace("flywheel.activate.", "")

            def wrapper(*a, _f=original, _label=label, **k):
                started = time.perf_counter()
                try:
                    return _f(*a, **k)
                finally:
                    key = f"{_label}({a[1]})" if _label.endswith(".materialize") else _label
                    self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started

            self.saved.append((owner, name, original))
            setattr(owner, name, wrapper)
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self.saved):
            setattr(owner, name, original)

    def text(self) -> str:
        return ", ".join(f"{k} {v:.1f}" for k, v in sorted(self.seconds.items(), key=lambda kv: -kv[1]) if v >= 0.05)


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def profile_top(fn, n: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(n)
    return out.getvalue()


def segment_bench(wh, gate, args, rows: list[dict]) -> None:
    from flywheel.activate.compile import RuleContext, compile_rule
    from flywheel.activate.segments import apply_segments, load_segment_files, refresh_segments, stored_segments
    from flywheel.warehouse import account_persons

    seg_file = args.out / "bench_ten.yaml"
    seg_file.write_text(SEGMENT, encoding="utf-8")
    apply_segments(gate, load_segment_files([seg_file]))
    seg = stored_segments(wh)["bench_ten"]
    now = NOW

    def evaluate():
        universe = wh.materialize("bench_universe", account_persons(wh).select("person_id").distinct())
        return wh.materialize("bench_eval", compile_rule(seg.rule, RuleContext(wh, now, universe, {})))

    for r in range(args.repeat):
        l0 = load()
        floor, floor_members = peer(wh, now)
        seconds, table = timed(evaluate)
        ours = set(wh.fetch(table).column("person_id").to_pylist())
        rows.append({"measure": "segment evaluation only (compile_rule, materialised)", "run": r + 1,
                     "seconds": seconds, "floor_seconds": floor, "members": len(ours),
                     "floor_members": len(floor_members), "same_members": ours == floor_members,
                     "load": f"{l0} → {load()}"})
        log(f"evaluation {seconds:.2f} s, floor {floor:.2f} s, members {len(ours)} / {len(floor_members)}")
    for r in range(args.repeat):
        l0 = load()
        seconds, result = timed(refresh_segments, wh, now, full=r > 0)
        res = result[0]
        floor, floor_members = peer(wh, now)
        rows.append({"measure": f"segment refresh, full ({'first' if r == 0 else 'full=True'})", "run": r + 1,
                     "seconds": seconds, "floor_seconds": floor, "members": res.members,
                     "floor_members": len(floor_members), "entered": res.entered, "exited": res.exited,
                     "load": f"{l0} → {load()}"})
        log(f"full refresh {seconds:.2f} s ({res.mode}), members {res.members}")
    for r in range(args.repeat):
        now = now + dt.timedelta(minutes=10)
        new_events(wh, args.new_events, r, args.persons, now)
        l0 = load()
        if args.profile and r == args.repeat - 1:
            holder = {}
            print(profile_top(lambda: holder.update(result=refresh_segments(wh, now))), file=sys.stderr)
            seconds, result, phases = holder["result"][0].seconds, holder["result"], None
        else:
            with Phases(SEGMENT_PHASES()) as phases:
                seconds, result = timed(refresh_segments, wh, now)
        res = result[0]
        floor, floor_members = peer(wh, now)
        m = wh.table("segment_members")
        stored = set(wh.fetch(m.filter(m.segment == "bench_ten").select("person_id")).column(0).to_pylist())
        rows.append({"measure": f"segment refresh, incremental after {args.new_events:,} new events", "run": r + 1,
                     "seconds": seconds, "floor_seconds": floor, "members": res.members,
                     "floor_members": len(floor_members), "same_members": stored == floor_members,
                     "candidates": res.candidates, "entered": res.entered, "exited": res.exited, "mode": res.mode,
                     "phases": phases.text() if phases else "profiled", "load": f"{l0} → {load()}"})
        log(f"incremental refresh {seconds:.2f} s ({res.mode}, {res.candidates} candidates), floor {floor:.2f} s; "
            f"{rows[-1]['phases']}")
    args.segment_now = now


def SEGMENT_PHASES():
    from flywheel.activate import segments
    from flywheel.warehouse import store

    return [(store.Warehouse, "materialize"), (segments, "_candidates"), (segments, "compile_rule"),
            (segments, "_record_changes"), (segments, "_record_refresh"), (segments, "_current_marks")]


def TICK_PHASES():
    from flywheel.activate import advance, outbox, running, segments, tick, zones
    from flywheel.warehouse import store

    return [(segments, "refresh_segments"), (tick, "_plan"), (tick, "_fates"), (tick, "triggered"),
            (tick, "entrants"), (tick, "_present_and_cancelled"), (zones, "person_zones"),
            (tick, "allowed_by_purpose"),
            (tick, "_store_actions"), (tick, "_record_tick"), (tick, "_members"), (outbox.Outbox, "due"),
            (outbox.Outbox, "guard"), (outbox.Outbox, "history"), (outbox.Outbox, "open_addresses"),
            (advance.Advancer, "run"), (running, "person_context"), (store.Warehouse, "put"),
            (store.Warehouse, "insert_new"), (store.Warehouse, "fetch")]


class Receiver:
    """Records what the tick hands to delivery (tests/activate/test_journeys.py's Receiver)."""

    def __init__(self):
        self.count = 0

    def __call__(self, batch):
        self.count += len(batch)
        return [("sent", None)] * len(batch)


class Everyone:
    """An address book where everyone is reachable (tests/activate/test_journeys.py's Everyone)."""

    def reachable(self, channel, persons):
        return set(persons)

    def open(self, channel, persons, purpose=None):
        return {p: f"{channel}:{p}" for p in persons}


def enrol_all(wh, gate, args, now: dt.datetime) -> None:
    """Every person in the journey; `--due` treatment episodes at the end of their wait, the rest waiting."""
    import pyarrow as pa

    from flywheel.activate.enrol import group_of
    from flywheel.activate.running import apply_journeys, stored_journeys

    path = args.out / "bench_winback.yaml"
    path.write_text(JOURNEY, encoding="utf-8")
    apply_journeys(gate, [path])
    journey = stored_journeys(wh)["bench_winback"][0]
    pa_ = wh.table("person_accounts")
    people = pa_.select("person_id")
    wh.materialize("bench_groups", people.mutate(grp=group_of(people.person_id, journey)))
    sql(wh, "CREATE OR REPLACE TEMP TABLE bench_ranked AS SELECT person_id, grp, "
            "row_number() OVER (PARTITION BY grp ORDER BY hash(person_id, 'due')) AS r FROM _work_bench_groups")
    n, entered = args.due, ts(now - dt.timedelta(days=3, hours=2))
    sql(wh, f"""INSERT INTO journey_episodes
        SELECT 'bench_winback', person_id, 1, grp,
               CASE WHEN grp <> 'treatment' THEN {ts(now - dt.timedelta(days=1))} WHEN r <= {n} THEN {entered}
                    ELSE {ts(now - dt.timedelta(days=1))} END AS entered_at,
               'active', CASE WHEN grp = 'treatment' THEN '2' END,
               CASE WHEN grp <> 'treatment' THEN NULL WHEN r <= {n} THEN {ts(now - dt.timedelta(hours=1))}
                    ELSE {ts(now + dt.timedelta(days=2))} END,
               CASE WHEN grp = 'treatment' THEN entered_at END,
               CASE WHEN grp = 'treatment' THEN 'FW' || upper(substr(md5(person_id), 1, 10)) END,
               NULL, NULL, entered_at
        FROM bench_ranked""")
    sql(wh, """INSERT INTO coupons SELECT coupon_code, person_id, journey, episode, '0', 2000, 9900, entered_at,
               entered_at + INTERVAL 7 DAY, entered_at FROM journey_episodes WHERE coupon_code IS NOT NULL""")
    sql(wh, """INSERT INTO journey_actions SELECT journey || '/' || person_id || '/1/1', journey, person_id, 1, '1',
               'wecom', 'wecom_outreach', true, NULL, '好久不见，送你一张券 ' || coupon_code, coupon_code, entered_at,
               'sent', NULL, 1, entered_at, entered_at, 0 FROM journey_episodes WHERE grp = 'treatment'""")
    wh.put("journey_state", pa.Table.from_pylist([{"journey": "bench_winback", "last_now": now - dt.timedelta(seconds=60),
                                                   "value_run": "bench-score"}]))
    sql(wh, "CHECKPOINT")
    counts = sql(wh, f"SELECT grp, count(*), count(*) FILTER (WHERE due_at <= {ts(now)}) FROM journey_episodes "
                     "GROUP BY 1 ORDER BY 1").fetchall()
    log(f"enrolled: {counts}")


TICK_FLOOR = """
WITH due AS (SELECT person_id FROM journey_episodes
             WHERE journey = 'bench_winback' AND state = 'active' AND grp = 'treatment' AND due_at <= {now}),
ok AS (SELECT account_key FROM (SELECT account_key, status, row_number() OVER (PARTITION BY source, account_key
         ORDER BY recorded_at DESC) AS r FROM consents WHERE purpose = 'marketing_sms') WHERE r = 1 AND status = 'granted')
SELECT d.person_id FROM due d JOIN person_accounts p USING (person_id) JOIN ok USING (account_key)
"""


def tick_bench(wh, gate_for, args, rows: list[dict]) -> None:
    from flywheel.activate.outbox import Guards
    from flywheel.activate.running import run

    now = args.segment_now + dt.timedelta(minutes=1)
    with gate_for("marketer") as gate:
        enrol_all(wh, gate, args, now)
    guards = Guards(caps={"sms": {"per_week": 2}, "wecom": {"per_day": 1}})

    def tick(at, dry_run=False):
        receiver = Receiver()
        with gate_for("service") as gate:
            result = run(gate, at, dry_run=dry_run, guards=guards, deliver=receiver, addresses=Everyone())
        return result, receiver

    def floor(at):
        started = time.perf_counter()
        n = len(sql(wh, TICK_FLOOR.format(now=ts(at))).fetchall())
        return time.perf_counter() - started, n

    kinds = {"dry": ("dry run", now, True), "live": ("live", now, False),
             "idle": ("idle, one minute later", now + dt.timedelta(minutes=1), False)}
    for label, at, dry in (kinds[k] for k in args.ticks.split(",")):
        f_seconds, f_due = floor(at)
        l0 = load()
        if args.profile and label == "live":
            holder = {}
            started = time.perf_counter()
            print(profile_top(lambda: holder.update(out=tick(at, dry)), 40), file=sys.stderr)
            seconds, (result, receiver) = time.perf_counter() - started, holder["out"]
            phases = None
        else:
            with Phases(TICK_PHASES()) as phases:
                seconds, (result, receiver) = timed(tick, at, dry)
        t = result.journeys["bench_winback"]
        rows.append({"measure": f"journey tick, {label}", "run": 1, "seconds": seconds, "floor_seconds": f_seconds,
                     "floor_due": f_due, "planned": len(result.plan), "delivered": receiver.count,
                     "sent": dict(t.sent), "skipped": dict(t.skipped), "deferred": t.deferred, "exited": t.exited,
                     "entered": t.entered, "phases": phases.text() if phases else "profiled",
                     "load": f"{l0} → {load()}"})
        log(f"tick {label}: {seconds:.1f} s, planned {len(result.plan)}, delivered {receiver.count}, "
            f"skipped {dict(t.skipped)}; {rows[-1]['phases']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--events-per-person", type=int, default=10)
    ap.add_argument("--new-events", type=int, default=10_000)
    ap.add_argument("--due", type=int, default=None, help="due actions in the tick (default persons / 10)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument("--profile", action="store_true", help="cProfile the last incremental refresh and the live tick")
    ap.add_argument("--skip-tick", action="store_true")
    ap.add_argument("--ticks", default="dry,live,idle", help="which ticks to time: dry, live, idle")
    ap.add_argument("--base", type=Path, help="a built warehouse to copy instead of building (written if absent)")
    ap.add_argument("--keep", action="store_true", help="keep the warehouse file")
    args = ap.parse_args()
    args.due = args.due if args.due is not None else args.persons // 10
    args.out = args.out / f"activate_{args.persons}"
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    os.environ.update(FLYWHEEL_DB=str(args.out / "flywheel.duckdb"), FLYWHEEL_KEY_FILE=str(args.out / "identifier.key"),
                      FLYWHEEL_ENGINE="duckdb")

    from flywheel.config import load_settings
    from flywheel.privacy import Gate
    from flywheel.warehouse import Warehouse

    load_settings.cache_clear()
    db = args.out / "flywheel.duckdb"
    if args.base is not None and args.base.exists():
        shutil.copy(args.base, db)
    wh = Warehouse.open()

    def gate_for(role):
        return Gate.open(load_settings().with_overrides(role=role), wh, "bench")

    l0 = load()
    if args.base is not None and args.base.exists():
        seconds, counts = 0.0, {t: wh.count(t) for t in ("accounts", "events", "orders", "consents", "person_scores")}
    else:
        seconds, counts = timed(build, wh, args.persons, args.events_per_person)
        if args.base is not None:
            wh.close()
            shutil.copy(db, args.base)  # every account is placed: no stand-in ids, so the key may differ
            wh = Warehouse.open()
    log(f"built in {seconds:.0f} s: {counts}")
    rows: list[dict] = []
    with gate_for("marketer") as gate:
        segment_bench(wh, gate, args, rows)
    if not args.skip_tick:
        tick_bench(wh, gate_for, args, rows)
    wh.close()
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)

    import duckdb

    print(f"Machine: {machine()}; DuckDB {duckdb.__version__}; load average at the start {l0}, at the end {load()}")
    print(f"Data: {counts['accounts']:,} persons (one account each), {counts['events']:,} events, "
          f"{counts['orders']:,} orders, {counts['consents']:,} consent records; built in {seconds:.0f} s\n")
    print("| measure | run | Flywheel s | floor (DuckDB SQL) s | members / due | detail | load (1, 5, 15 min) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r["measure"].startswith("journey"):
            size = f"{r['planned']:,} planned, {r['floor_due']:,} due with consent (floor)"
            detail = (f"sent {r['sent']}, skipped {r['skipped']}, deferred {r['deferred']}, exited {r['exited']}, "
                      f"entered {r['entered']}")
        else:
            size = f"{r['members']:,} (floor {r['floor_members']:,})"
            detail = ", ".join(f"{k} {r[k]}" for k in ("same_members", "candidates", "entered", "exited", "mode")
                               if k in r)
        if r.get("phases"):
            detail += f"; phases s: {r['phases']}"
        print(f"| {r['measure']} | {r['run']} | {r['seconds']:.2f} | {r['floor_seconds']:.2f} | {size} | {detail} "
              f"| {r['load']} |")
    print(json.dumps({"machine": machine(), "persons": args.persons, "counts": counts, "rows": rows}, default=str))


if __name__ == "__main__":
    main()
