"""The report's data sections: what was collected, sales over time, repeat purchase, quarantine."""

from __future__ import annotations

from collections import defaultdict

import plotly.graph_objects as go

from flywheel.collect.summary import CollectSummary
from flywheel.report.html import Report


def yuan(cents: int) -> str:
    return f"¥{cents / 100:,.0f}"


def add_collect_sections(report: Report, s: CollectSummary) -> None:
    t = s.totals
    head = report.section("At a glance")
    report.cards(head, [
        ("Accounts", f"{t['accounts']:,}"),
        ("Paid orders", f"{t['paid_orders']:,}"),
        ("GMV", yuan(t["gmv_cents"])),
        ("Net of refunds", yuan(t["net_cents"])),
        ("Events", f"{t['events']:,}"),
        ("Quarantined rows", f"{t['quarantined_rows']:,}"),
    ])

    vol = report.section("Data volume per source", "Rows stored per canonical table and source.")
    by_table: dict[str, dict[str, int]] = defaultdict(dict)
    for r in s.volume:
        by_table[r["table"]][r["source"]] = r["rows"]
    sources = sorted({r["source"] for r in s.volume})
    fig = go.Figure([
        go.Bar(name=src, x=list(by_table), y=[by_table[tb].get(src, 0) for tb in by_table]) for src in sources
    ])
    fig.update_layout(barmode="stack", yaxis_title="rows", title="Rows by table and source")
    report.figure(vol, fig)

    sales = report.section("Orders and GMV over time",
                           "Paid, shipped, completed and refunded orders by month of order (merchant time zone).")
    months = sorted({r["month"] for r in s.monthly})
    by_src: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in s.monthly:
        by_src[r["source"]][r["month"]] = r
    gmv = go.Figure([
        go.Scatter(name=src, x=months, y=[rows.get(m, {}).get("gmv_cents", 0) / 100 for m in months],
                   mode="lines", stackgroup="gmv")
        for src, rows in sorted(by_src.items())
    ])
    gmv.update_layout(title="GMV per month (¥)", yaxis_title="¥")
    report.figure(sales, gmv)
    orders = go.Figure([
        go.Bar(name=src, x=months, y=[rows.get(m, {}).get("orders", 0) for m in months])
        for src, rows in sorted(by_src.items())
    ])
    orders.update_layout(barmode="stack", title="Orders per month", yaxis_title="orders")
    report.figure(sales, orders)

    rep = report.section("Repeat purchase",
                         "Share of buying accounts with two or more paid orders, per source. Before identity "
                         "resolution one person with accounts on several platforms counts once per platform.")
    report.figure(rep, go.Figure(
        [go.Bar(x=[r["source"] for r in s.repeat], y=[100 * (r["repeat_rate"] or 0) for r in s.repeat],
                text=[f"{100 * (r['repeat_rate'] or 0):.1f}%" for r in s.repeat], textposition="outside")],
        layout=dict(title="Repeat-purchase rate (%)", yaxis_title="%")))
    report.table(rep, ["source", "buying accounts", "repeat buyers", "repeat rate"],
                 [[r["source"], f"{r['buyers']:,}", f"{r['repeat_buyers']:,}", f"{100 * (r['repeat_rate'] or 0):.1f}%"]
                  for r in s.repeat], numeric={1, 2, 3})

    q = report.section("Quarantine",
                       "Rejected rows did not land; dropped values were removed from rows that did. "
                       "Details per file and line are in the warehouse table `quarantine`.")
    if s.quarantine:
        report.table(q, ["reason", "action", "entries"],
                     [[r["reason"], r["action"], f"{r['rows']:,}"] for r in s.quarantine], numeric={2})
    else:
        q.parts.append("<p>Nothing was quarantined.</p>")
