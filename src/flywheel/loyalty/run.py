"""`flywheel loyalty run`: points follow the ingested orders and refunds without manual calls.

Every GMV order of a placed or stand-in person earns by the stored rules at its payment time (keys
derived from the order, so reruns add nothing); a refunded total that grew since the last run is
clawed back at the run's clock; then return windows and expiries due by the clock are settled.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from fractions import Fraction

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.loyalty.batch import OrderPoints, earn_orders
from flywheel.loyalty.ledger import iso
from flywheel.loyalty.points import open_ledger, stored_rules
from flywheel.loyalty.rules import Earning
from flywheel.schema.orders import GMV_STATUSES
from flywheel.warehouse import account_persons

log = logging.getLogger(__name__)


def order_points(wh, earning: Earning, now: dt.datetime) -> pa.Table:
    """`person_id, order, paid_cents, refund_cents, at, source, category, tier, points` of every GMV
    order paid by `now` that earns at least one point."""
    orders = wh.table("orders")
    at = ibis.coalesce(orders.paid_at, orders.created_at)
    gmv = orders.filter(orders.status.isin(GMV_STATUSES), orders.paid_cents > 0, at <= now)
    people = account_persons(wh)
    joined = gmv.join(people, ["source", "account_key"])
    columns = dict(person_id=joined.person_id, order=joined.source.concat(":", joined.order_id),
                   paid_cents=joined.paid_cents, refund_cents=joined.refund_cents.fill_null(0),
                   at=ibis.coalesce(joined.paid_at, joined.created_at), source=joined.source)
    expr = joined.select(**columns)
    if earning.by_category:
        expr = _with_category(wh, expr)
    if earning.by_tier:
        expr = _with_tier(wh, expr)
    table = wh.fetch(expr)
    points = points_array(earning, table)
    keep = points > 0
    return table.append_column("points", pa.array(points)).filter(pa.array(keep))


def _with_category(wh, expr: ibis.Table) -> ibis.Table:
    """The order's category: that of its line with the largest paid amount (ties: the smallest product id)."""
    items = wh.table("order_items")
    products = wh.table("products").select("product_id", "category")
    lines = items.join(products, "product_id").select(
        order=items.source.concat(":", items.order_id), category=products.category,
        rank=ibis.row_number().over(group_by=[items.source, items.order_id],
                                    order_by=[ibis.desc(items.paid_cents), items.product_id]))
    top = lines.filter(lines["rank"] == 0).select("order", "category")
    return expr.left_join(top, "order").drop("order_right")


def _with_tier(wh, expr: ibis.Table) -> ibis.Table:
    """The person's tier in the latest scoring run (null before any)."""
    runs = wh.table("value_runs")
    latest = wh.fetch(runs.order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(1).select("run_id"))
    scores = wh.table("person_scores")
    if latest.num_rows:
        scores = scores.filter(scores.run_id == latest.column(0)[0].as_py())
    else:
        scores = scores.filter(ibis.literal(False))
    return expr.left_join(scores.select("person_id", "tier"), "person_id").drop("person_id_right")


def changed_orders(ledger, table: pa.Table) -> pa.Table:
    """Only the orders the ledger has not earned, or whose refunded total grew (a rerun then builds
    nothing in Python for the millions of orders it already holds)."""
    known = ledger.con.execute("SELECT order_id, refunded FROM orders WHERE earned > 0").fetchall()
    if not known:
        return table
    stored = pa.table({"order": pa.array([k for k, _ in known], pa.string()),
                       "__refunded": pa.array([r for _, r in known], pa.int64())})
    joined = table.join(stored, "order", join_type="left outer")
    refunded = pc.min_element_wise(joined.column("refund_cents"), joined.column("paid_cents"))
    fresh = pc.or_kleene(pc.is_null(joined.column("__refunded")),
                         pc.greater(refunded, joined.column("__refunded")))
    return joined.filter(fresh).drop_columns(["__refunded"])


def points_array(earning: Earning, table: pa.Table) -> np.ndarray:
    """Points per order, exactly as `Earning.points` (rounding down once), vectorised by rule combination."""
    paid = np.asarray(table.column("paid_cents").fill_null(0), dtype=np.int64)
    out = np.zeros(len(paid), dtype=np.int64)
    keys = [table.column(c).to_pylist() if c in table.column_names else [None] * len(paid)
            for c in ("source", "category", "tier")]
    combos: dict[tuple, list[int]] = {}
    for i, combo in enumerate(zip(*keys)):
        combos.setdefault(combo, []).append(i)
    for (source, category, tier), rows in combos.items():
        rate = earning.by_source.get(source or "", earning.base)
        multiplier = (Fraction(rate.multiplier) * Fraction(earning.by_category.get(category or "", 1))
                      * Fraction(earning.by_tier.get(tier or "", 1)))
        unit = Fraction(rate.cny_per_point) * 100
        index = np.asarray(rows)
        whole = paid[index] * unit.denominator // unit.numerator
        out[index] = whole * multiplier.numerator // multiplier.denominator
    return out


def run(gate, now: dt.datetime) -> dict:
    """Apply the stored rules to the warehouse's orders and refunds, then settle windows and expiries."""
    gate.require("points.write")
    started = time.perf_counter()
    wh = gate.warehouse
    with open_ledger(gate.settings) as ledger:
        rules = stored_rules(ledger)
        every = order_points(wh, rules.earning, now)
        table = changed_orders(ledger, every)
        read = time.perf_counter()
        orders = _order_rows(table, rules.earning, gate.settings.tz)
        earned = earn_orders(ledger, orders, now, actor=gate.actor.name)
        written = time.perf_counter()
        resolved = ledger.resolve(now)
        expired = ledger.expire(now)
        settled = time.perf_counter()
        members = publish(wh, ledger, rules, now, gate.settings.tz)
    outcome = earned | {"orders": every.num_rows, "changed_orders": table.num_rows, "resolved": resolved, "expired": expired, "members": members, "now": now.isoformat(),
                        "seconds": {"read": round(read - started, 2), "ledger": round(written - read, 2),
                                    "settle": round(settled - written, 2),
                                    "levels": round(time.perf_counter() - settled, 2),
                                    "total": round(time.perf_counter() - started, 2)}}
    gate.audit("points.run", detail={k: outcome[k] for k in ("orders", "transactions", "refused", "now")})
    return outcome


def publish(wh, ledger, rules, now: dt.datetime, tz) -> dict[str, int]:
    """Write every ledger person's points and level as of `now` to `loyalty_members` (what segments,
    reports and the console read); returns members per level.

    Points columns are recomputed for everyone (SQL sums); a level is replayed only for persons whose
    standing may have moved since the last publish (`_moved`), the rest keep theirs."""
    import hashlib

    from flywheel.loyalty.levels import Levels, standings

    con = ledger.con
    sha = hashlib.sha256(rules.as_json().encode()).hexdigest()
    max_tx = con.execute("SELECT COALESCE(MAX(id), 0) FROM transactions").fetchone()[0]
    soon = iso(now + dt.timedelta(days=30))
    expiring = dict(con.execute("SELECT person, SUM(remaining) FROM lots WHERE state = 'open' AND remaining > 0 "
                                "AND expires_at <= ? GROUP BY person", (soon,)).fetchall())
    levels = Levels(rules.growth, tz)
    kept, moved = _moved(wh, con, rules, sha, now, tz)
    standing = standings(con, levels, now, only=moved)
    columns: dict[str, list] = {c: [] for c in ("person_id", "level", "growth_value", "level_since", "review_at",
                                                "demotion_due", "points_available", "points_pending", "points_debt",
                                                "points_expiring_30d")}
    counts: dict[str, int] = {lv.name: 0 for lv in rules.growth.levels}
    for person, available, pending, debt in con.execute("SELECT person, available, pending, debt FROM balances"):
        st = standing.get(person)
        row = (st.level, st.growth_value, st.since, st.review_at, st.demotion_due) if st else kept[person]
        counts[row[0]] += 1
        for name, value in zip(columns, (person, *row, available, pending, debt, expiring.get(person, 0))):
            columns[name].append(value)
    utc = pa.timestamp("us", tz="UTC")
    table = pa.table({**{k: v for k, v in columns.items() if k not in ("level_since", "review_at")},
                      "level_since": pa.array(columns["level_since"], utc), "review_at": pa.array(columns["review_at"], utc),
                      "as_of": pa.array([now] * len(columns["person_id"]), utc)})
    wh.replace("loyalty_members", ibis.memtable(wh.conform("loyalty_members", table)))
    con.execute("INSERT INTO publishes (at, max_tx, rules_sha, persons, recomputed, published_at) VALUES (?, ?, ?, ?, ?, ?)",
                (iso(now), max_tx, sha, len(columns["person_id"]), len(standing),
                 iso(dt.datetime.now(dt.timezone.utc))))
    return counts


def _moved(wh, con, rules, sha: str, now: dt.datetime, tz) -> tuple[dict, list[str] | None]:
    """The standings kept from the last publish, and the persons to replay (None: everyone): those with
    ledger transactions since, a review or demotion warning due by `now`, or growth leaving a rolling
    window since; everyone when the rules, the clock's direction or the calendar year changed."""
    mark = con.execute("SELECT at, max_tx, rules_sha FROM publishes ORDER BY rowid DESC LIMIT 1").fetchone()
    g = rules.growth
    if mark is None or mark[2] != sha or mark[0] > iso(now) or g.window == "anniversary" or not wh.count("loyalty_members"):
        return {}, None
    last = dt.datetime.fromisoformat(mark[0])
    if g.window == "calendar_year" and last.astimezone(tz).year != now.astimezone(tz).year:
        return {}, None
    m = wh.table("loyalty_members")
    rows = wh.fetch(m.select("person_id", "level", "growth_value", "level_since", "review_at", "demotion_due")).to_pylist()
    kept = {r["person_id"]: (r["level"], r["growth_value"], r["level_since"], r["review_at"], r["demotion_due"])
            for r in rows}
    warn = now + dt.timedelta(days=g.warn_days)
    moved = {r["person_id"] for r in rows if r["review_at"] is not None and r["review_at"] <= warn}
    moved |= {p for (p,) in con.execute("SELECT DISTINCT person FROM transactions WHERE id > ? AND person IS NOT NULL",
                                        (mark[1],))}
    if g.window == "rolling_days":
        gone_from, gone_to = iso(last - dt.timedelta(days=g.days)), iso(now - dt.timedelta(days=g.days))
        moved |= {p for (p,) in con.execute(
            "SELECT DISTINCT person FROM transactions WHERE kind IN ('earn', 'task', 'refund') AND at > ? AND at <= ?",
            (gone_from, gone_to))}
    moved |= {p for (p,) in con.execute("SELECT person FROM balances")} - set(kept)
    return kept, sorted(moved)


def _order_rows(table: pa.Table, earning: Earning, tz) -> list[OrderPoints]:
    at = pc.cast(table.column("at"), pa.timestamp("us", tz="UTC"))
    stamps = _iso_array(at)
    if earning.pending_days:
        available = _iso_array(pc.add(at, pa.scalar(dt.timedelta(days=earning.pending_days))))
    else:
        available = stamps
    if earning.expiry_end_of_year:
        expires = [iso(earning.expires_at(t, tz)) for t in at.to_pylist()]
    elif earning.expiry_days is not None:
        expires = _iso_array(pc.add(at, pa.scalar(dt.timedelta(days=earning.expiry_days))))
    else:
        expires = [None] * len(stamps)
    return [OrderPoints(*row) for row in zip(table.column("person_id").to_pylist(), table.column("order").to_pylist(),
                                             table.column("paid_cents").to_pylist(),
                                             table.column("refund_cents").to_pylist(),
                                             table.column("points").to_pylist(), stamps, available, expires)]


def _iso_array(ts: pa.ChunkedArray) -> list[str]:
    """`iso()` of every instant, computed in Arrow (3M `isoformat` calls cost seconds)."""
    text = pc.strftime(ts, format="%Y-%m-%dT%H:%M:%S")
    return pc.binary_join_element_wise(text, pa.scalar("+00:00"), "").to_pylist()


loyalty_run = run


def data_end(wh) -> dt.datetime:
    """The latest order or event time in the warehouse (the clock of a run over a finished export), or now."""
    o, e = wh.table("orders"), wh.table("events")
    ends = [v for v in (wh.fetch(o.aggregate(m=o.created_at.max())).to_pylist()[0]["m"],
                        wh.fetch(e.aggregate(m=e.timestamp.max())).to_pylist()[0]["m"]) if v is not None]
    end = max(ends) if ends else dt.datetime.now(dt.timezone.utc)
    return end if end.tzinfo else end.replace(tzinfo=dt.timezone.utc)
