"""The report's value section: tiers, CLV, probability alive, concentration, holdout check, clusters.

It reads what the latest `flywheel value score` run stored (`value_runs`, `person_scores`,
`person_traits`); with no run yet the section says how to make one.
"""

from __future__ import annotations

import html
import json

import ibis
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from flywheel.report.html import Report
from flywheel.value import concentration_curve
from flywheel.warehouse import Warehouse

RECENCY_BINS = (0, 30, 60, 90, 180, 270, 365, 540, np.inf)
RECENCY_LABELS = ("0–30", "30–60", "60–90", "90–180", "180–270", "270–365", "365–540", "540+")


def _latest_run(wh: Warehouse) -> dict | None:
    runs = wh.table("value_runs")
    rows = wh.fetch(runs.order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(1)).to_pylist()
    return rows[0] if rows else None


def _persons(wh: Warehouse, run_id: str) -> pd.DataFrame:
    scores = wh.table("person_scores")
    scores = scores.filter(scores.run_id == run_id).select("person_id", "tier", "p_alive", "potential_value")
    traits = wh.table("person_traits").select("person_id", "recency_days", "purchase_days", "gmv")
    return wh.fetch(scores.left_join(traits, "person_id").select(
        "person_id", "tier", "p_alive", "potential_value", "recency_days", "purchase_days", "gmv")).to_pandas()


def add_value_sections(report: Report, wh: Warehouse) -> None:
    run = _latest_run(wh)
    if run is None:
        s = report.section("Customer value", "No scoring run yet: run `flywheel value score`.")
        s.parts.append("<p>Traits, tiers and CLV appear here after a scoring run.</p>")
        return
    summary = json.loads(run["summary"])
    persons = _persons(wh, run["run_id"])
    head = report.section("Customer value", f"Scoring run {run['run_id']} as of {summary['as_of']}: "
                                            f"{summary['traits']} traits per person; see docs/traits.md.")
    report.cards(head, [
        ("Persons", f"{summary['persons']:,}"), ("Buyers", f"{summary['buyers']:,}"),
        ("Predicted CLV (1 year)", f"¥{summary['clv']['total']:,.0f}"),
        ("KOCs", f"{summary['kocs']:,}"), ("High potential, low activity", f"{summary['high_potential_low_activity']:,}"),
        ("CLV risk alerts", f"{summary['alerts']:,}"),
    ])
    _tiers(report, summary)
    _clv(report, persons, summary)
    _alive_map(report, persons)
    _concentration(report, persons, summary)
    _holdout(report, summary)
    _clusters(report, summary)


def _tiers(report: Report, summary: dict) -> None:
    s = report.section("Tiers", "Every person gets the first tier whose rule holds (tier file order).")
    tiers = summary["tiers"]
    names = [t["tier"] for t in tiers]
    fig = go.Figure([go.Bar(name="share of persons", x=names,
                            y=[100 * t["persons"] / max(summary["persons"], 1) for t in tiers]),
                     go.Bar(name="share of GMV", x=names, y=[100 * t["gmv_share"] for t in tiers])])
    fig.update_layout(barmode="group", title="Tier sizes and GMV share (%)", yaxis_title="%")
    report.figure(s, fig)
    report.table(s, ["tier", "persons", "GMV", "GMV share", "rule"],
                 [[t["tier"], f"{t['persons']:,}", f"¥{t['gmv']:,.0f}", f"{100 * t['gmv_share']:.1f}%", t["description"]]
                  for t in tiers], numeric={1, 2, 3})


def _clv(report: Report, persons: pd.DataFrame, summary: dict) -> None:
    models = summary["clv"]["models"] or {}
    note = ("Potential value: expected purchases (purchase model) × expected spend (Gamma-Gamma), "
            f"discounted, over {models.get('horizon_weeks', 52)} weeks.")
    s = report.section("Lifetime value", note)
    values = persons["potential_value"].dropna()
    if values.empty:
        s.parts.append(f"<p>No CLV was predicted ({html.escape(str(models))}).</p>")
        return
    cap = float(values.quantile(0.99))
    fig = go.Figure([go.Histogram(x=values.clip(upper=cap), nbinsx=40)])
    fig.update_layout(title="CLV distribution of buyers (¥; top 1% shown at the 99th percentile)",
                      xaxis_title="¥", yaxis_title="persons")
    report.figure(s, fig)


def _alive_map(report: Report, persons: pd.DataFrame) -> None:
    s = report.section("Probability alive", "Mean probability that a buyer is still active, by days since the "
                                            "last purchase and purchase days.")
    buyers = persons.dropna(subset=["p_alive", "recency_days"])
    if buyers.empty:
        s.parts.append("<p>No buyers with a prediction.</p>")
        return
    recency = pd.cut(buyers["recency_days"], RECENCY_BINS, labels=RECENCY_LABELS, right=False)
    frequency = buyers["purchase_days"].clip(upper=8).map(lambda n: "8+" if n >= 8 else str(int(n)))
    grid = buyers.assign(recency=recency, frequency=frequency).pivot_table(
        index="frequency", columns="recency", values="p_alive", aggfunc="mean", observed=False)
    rows = [r for r in [str(n) for n in range(1, 8)] + ["8+"] if r in grid.index]
    grid = grid.reindex(index=rows, columns=list(RECENCY_LABELS))
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=list(grid.columns), y=list(grid.index), zmin=0, zmax=1,
                               colorscale="RdYlGn", colorbar=dict(title="P(alive)")))
    fig.update_layout(title="P(alive) by recency × frequency", xaxis_title="days since last purchase",
                      yaxis_title="purchase days")
    report.figure(s, fig)


def _concentration(report: Report, persons: pd.DataFrame, summary: dict) -> None:
    s = report.section("GMV concentration", "Top x% of buying persons by GMV and their share of GMV.")
    curve = concentration_curve(persons["gmv"].fillna(0))
    if curve:
        fig = go.Figure([go.Scatter(x=[100 * x for x, _ in curve], y=[100 * y for _, y in curve], mode="lines",
                                    name="persons → GMV"),
                         go.Scatter(x=[0, 100], y=[0, 100], mode="lines", line=dict(dash="dot"), name="equal")])
        fig.update_layout(title="Concentration curve", xaxis_title="top % of buyers", yaxis_title="% of GMV")
        report.figure(s, fig)
    report.table(s, ["top share of buyers", "persons", "share of GMV"],
                 [[f"{100 * r['top_share']:.0f}%", f"{r['persons']:,}", f"{100 * r['gmv_share']:.1f}%"]
                  for r in summary["concentration"]], numeric={1, 2})


def _holdout(report: Report, summary: dict) -> None:
    holdout = summary["clv"].get("holdout")
    s = report.section("Calibration / holdout", "The purchase model refitted without the last weeks, then "
                                                "asked to predict them: mean purchases per person by "
                                                "purchase count in the calibration period.")
    if not holdout:
        s.parts.append("<p>Not enough history for a holdout check.</p>")
        return
    rows = holdout["by_frequency"]
    model = next(iter(holdout["models"]))
    fig = go.Figure([go.Bar(name="actual", x=[r["frequency"] for r in rows], y=[r["actual_mean"] for r in rows]),
                     go.Bar(name=f"predicted ({model})", x=[r["frequency"] for r in rows],
                            y=[r["predicted_mean"][model] for r in rows])])
    fig.update_layout(barmode="group", title=f"Holdout after {holdout['calibration_end']} "
                                             f"({holdout['holdout_periods']:g} weeks)",
                      xaxis_title="repeat purchases in calibration", yaxis_title="mean purchases in holdout")
    report.figure(s, fig)
    m = holdout["models"][model]
    s.parts.append(f"<p class=\"note\">Predicted {m['predicted_total']:.0f} purchases in the holdout, actual "
                   f"{m['actual_total']:.0f}.</p>")


def _clusters(report: Report, summary: dict) -> None:
    s = report.section("Segments", "k-means clusters on standardised traits, described by their most "
                                   "distinguishing traits; and the named RFM segments.")
    report.table(s, ["cluster", "persons", "described as"],
                 [[c["cluster"], f"{c['persons']:,}", c["description"]] for c in summary["clusters"]], numeric={1})
    report.table(s, ["RFM segment", "persons"],
                 [[k, f"{v:,}"] for k, v in summary["rfm_segments"].items()], numeric={1})
