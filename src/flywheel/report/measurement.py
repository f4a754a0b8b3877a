"""The measurement part of the report: credits per model (beside the true effects when the simulator
knows them), channel economics with the advisor's notes, journey experiments, tomorrow's budget.

It shows what `flywheel attribution run` stored last; the demo passes its measurement (experiments,
budget, truth) computed in the same run. Aggregates only.
"""

from __future__ import annotations

import plotly.graph_objects as go

from flywheel.report.html import Report

SHOWN_MODELS = ("first", "last", "linear", "time_decay", "position", "markov", "shapley")


def add_measurement_sections(report: Report, wh, measurement: dict | None = None) -> None:
    from flywheel.measure import channel_report, latest_run

    measurement = measurement or {}
    run_id = (measurement.get("attribution") or {}).get("run_id") or latest_run(wh)
    if run_id is None:
        s = report.section("Measurement", "No attribution run yet: `flywheel attribution run`, then "
                                          "`flywheel channels report`.")
        s.parts.append("<p>Credits per channel, channel economics and experiments appear here once they run.</p>")
        return
    channels = measurement.get("channels")
    if channels is None:
        r = wh.table("attribution_runs")
        stored = set(wh.fetch(r.filter(r.run_id == run_id).select("model")).column(0).to_pylist())
        channels = channel_report(wh, run_id, next((m for m in ("markov", "linear", *SHOWN_MODELS) if m in stored),
                                                   min(stored)))
    _credits(report, wh, run_id, measurement.get("attribution"), measurement.get("truth"), channels)
    _economics(report, channels)
    for name, result in (measurement.get("experiments") or {}).items():
        _experiment(report, name, result)
    if measurement.get("budget"):
        _budget(report, measurement["budget"], channels)


def _credits(report: Report, wh, run_id: str, attribution: dict | None, truth: dict | None, channels: dict) -> None:
    import json

    r = wh.table("attribution_runs")
    rows = wh.fetch(r.filter(r.run_id == run_id)).to_pylist()
    credits: dict[str, dict[str, float]] = {}
    c = wh.table("attribution_credits")
    for row in wh.fetch(c.filter(c.run_id == run_id).group_by("model", "channel").agg(
            n=c.conversions.sum())).to_pylist():
        credits.setdefault(row["model"], {})[row["channel"]] = float(row["n"] or 0)
    models = [m for m in SHOWN_MODELS if m in credits]
    names = sorted({ch for m in credits.values() for ch in m})
    meta = rows[0]
    note = (f"Run {run_id}: conversions (GMV orders) up to {meta['as_of']:%Y-%m-%d}, a touch counting for the first "
            f"conversion within {meta['window_days']:g} days after it. {int(meta['attributed']):,} of "
            f"{int(meta['conversions']):,} conversions had a touch; the rest were organic or untracked and no model "
            "credits them. Path models share conversions among the touches that preceded them: that is correlation. ")
    if truth:
        note += ("The last column is what the simulator knows: the orders each channel's touches really caused. "
                 "Where credit far exceeds it, the channel is being paid for buyers who would have come anyway.")
    s = report.section("Attribution: credit per channel and model", note)
    cards = [("conversions with a touch", f"{int(meta['attributed']):,}"),
             ("without (organic)", f"{int(meta['conversions'] - meta['attributed']):,}")]
    if attribution:
        cards.append(("distinct paths", f"{attribution['paths']['distinct']:,}"))
    summary = json.loads(next((x["summary"] for x in rows if x["model"] == "markov"), "{}") or "{}")
    if summary.get("conversion_probability") is not None:
        cards.append(("path conversion probability", f"{summary['conversion_probability']:.1%}"))
    report.cards(s, cards)
    flags = {ch["channel"]: ", ".join(n["rule"] for n in ch["notes"]
                                      if n["rule"] in ("capture_suspected", "unverified", "measured"))
             for ch in channels["channels"]}
    fig = go.Figure([go.Bar(name=m, x=names, y=[credits[m].get(ch, 0.0) for ch in names])
                     for m in models if m in ("last", "linear", "markov", "shapley")])
    if truth:
        fig.add_bar(name="true incremental (simulator)", x=names, y=[truth["orders"].get(ch, 0) for ch in names],
                    marker_color="#222")
    fig.update_layout(barmode="group", title="Conversions credited per channel", yaxis_title="conversions")
    report.figure(s, fig)
    headers = ["channel", *models] + (["true incremental orders"] if truth else []) + ["evidence"]
    table = []
    for ch in names:
        row = [ch, *[f"{credits[m].get(ch, 0.0):,.1f}" for m in models]]
        if truth:
            row.append(f"{truth['orders'][ch]:,}" if ch in truth["orders"] else "— (not simulated)")
        row.append(flags.get(ch) or "—")
        table.append(row)
    report.table(s, headers, table, numeric=set(range(1, len(models) + 1 + bool(truth))))


def _economics(report: Report, channels: dict) -> None:
    s = report.section(
        f"Channel economics ({channels['model']} credit)",
        f"Period {channels['period'][0][:10]} to {channels['period'][1][:10]}. Cost is ad spend; for journey channels, "
        "the face value of the coupons they carried that were redeemed; referral rewards are not costed yet. "
        "CAC = cost ÷ credited first orders; ROI = (credited revenue − cost) ÷ cost; CLV is the acquired customers' "
        f"predicted value over {channels['clv_horizon_months']:g} months (value scoring); payback assumes it accrues "
        "evenly. All of it inherits the attribution model's blind spot: credit is not causation.")
    report.table(s, ["channel", "cost ¥", "cost basis", "conversions", "revenue ¥", "new customers", "CAC ¥", "ROI",
                     "avg CLV ¥", "LTV:CAC", "payback (months)"],
                 [[c["channel"], f"{c['cost_yuan']:,.0f}", c["cost_basis"], f"{c['conversions']:,.1f}",
                   f"{c['revenue_yuan']:,.0f}", f"{c['new_customers']:,.1f}", _f(c["cac_yuan"], ",.0f"),
                   _f(c["roi"], "+.2f"), _f(c["avg_clv_yuan"], ",.0f"), _f(c["ltv_cac"], ".1f"),
                   _f(c["payback_months"], ".1f")] for c in channels["channels"]],
                 numeric={1, 3, 4, 5, 6, 7, 8, 9, 10})
    paid = sorted({m["channel"] for m in channels.get("months", []) if m["cost_yuan"]})
    if paid:
        fig = go.Figure([go.Scatter(name=ch, mode="lines+markers",
                                    x=[m["month"] for m in channels["months"] if m["channel"] == ch],
                                    y=[m["cac_yuan"] for m in channels["months"] if m["channel"] == ch])
                         for ch in paid])
        fig.update_layout(title="CAC by month (¥ of spend per credited new customer)", yaxis_title="¥",
                          yaxis_type="log")
        report.figure(s, fig)
    notes = [[c["channel"], n["rule"], n["text"]] for c in channels["channels"] for n in c["notes"]]
    if notes:
        s.parts.append("<h3>Advisor</h3>")
        report.table(s, ["channel", "rule", "note"], notes)


def _experiment(report: Report, name: str, result: dict) -> None:
    if "error" in result:
        s = report.section(f"Experiment: {name}")
        s.parts.append(f"<p>{result['error']}</p>")
        return
    fixed = result["fixed"]
    exp = fixed["experiment"]
    control, treated = fixed["variations"][0], fixed["variations"][1]
    r = fixed["results"][0]
    seq = result["sequential"]["results"][0]
    bayes = result["bayesian"]["results"][0]
    s = report.section(
        f"Experiment: {name}",
        f"{exp['description']} Unit: the person (first entry); metric: a GMV order within {exp['window_days']:g} "
        f"days of entry; {control['variation']} is the control. CUPED adjusts for each person's orders in the "
        "90 days before entry (θ "
        + (f"{fixed['cuped_theta']:.3f}" if fixed["cuped_theta"] is not None else "n/a")
        + "). The sequential interval stays valid however often it is looked at; it is wider.")
    report.cards(s, [
        (f"{control['variation']} conversion", f"{control['mean']:.2%} of {int(control['n']):,}"),
        (f"{treated['variation']} conversion", f"{treated['mean']:.2%} of {int(treated['n']):,}"),
        ("effect (fixed, 95% CI)", f"{r['effect']:+.2%} ({r['ci'][0]:+.2%} to {r['ci'][1]:+.2%})"),
        ("sequential 95% CS", f"{seq['ci'][0]:+.2%} to {seq['ci'][1]:+.2%}"),
        ("chance to win (Bayesian)", f"{bayes['chance_to_win']:.1%}"),
        ("sample-ratio check", f"p = {fixed['srm_p_value']:.3f}" + (" — MISMATCH" if fixed["srm_warning"] else "")),
    ])


def _budget(report: Report, budget: dict, channels: dict) -> None:
    if "error" in budget:
        s = report.section("Budget recommendation")
        s.parts.append(f"<p>{budget['error']}</p>")
        return
    basis = budget.get("basis", {})
    flagged = {c["channel"] for c in channels["channels"] if any(n["rule"] == "capture_suspected" for n in c["notes"])}
    s = report.section(
        "Budget recommendation (tomorrow)",
        f"Thompson sampling over campaigns: Beta posteriors of {basis.get('model', '')}-credited conversions per click "
        f"from {basis.get('from', '')} to {basis.get('to', '')}; each campaign keeps at least {budget['floor']:.0%} so "
        "it stays measured" + (f", and no share moves more than {budget['max_change']:.0%} points a day"
                               if budget.get("max_change") else "") + ". "
        + (f"It optimises credit, not incrementality: campaigns of {', '.join(sorted(flagged))} are flagged above — "
           "settle their test before moving money to them." if flagged else ""))
    rows = []
    for a in budget["arms"]:
        channel = a["arm"].split("/", 1)[0]
        rows.append([a["arm"] + (" ⚠" if channel in flagged else ""),
                     "—" if a["share_before"] is None else f"{a['share_before']:.1%}", f"{a['share']:.1%}",
                     f"{a['p_best']:.1%}", a["why"]])
    report.table(s, ["campaign", "today", "tomorrow", "P(best)", "why"], rows, numeric={1, 2, 3})


def _f(v, spec: str) -> str:
    return "—" if v is None else format(v, spec)
