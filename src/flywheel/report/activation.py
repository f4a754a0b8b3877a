"""The activation part of the report: segment sizes, each journey's funnel for treatment and
holdout, and what the guards held back. Aggregates only."""

from __future__ import annotations

import html

import plotly.graph_objects as go

from flywheel.report.html import Report

GROUPS = ("treatment", "holdout", "control")


def add_activation_sections(report: Report, wh, truth: dict | None = None) -> None:
    """`truth`: per journey, what the simulator says the journey really did (the demo passes it)."""
    from flywheel.activate import activation_summary

    summary = activation_summary(wh)
    if not summary["segments"] and not summary["journeys"]:
        s = report.section("Activation", "No segments or journeys yet: `flywheel segment apply --shipped`, "
                                         "`flywheel journey apply --example`, then `flywheel journey run`.")
        s.parts.append("<p>Segment sizes and journey funnels appear here once they run.</p>")
        return
    if summary["segments"]:
        s = report.section("Activation segments", "Members at the last refresh; entered / left in that refresh "
                                       "(incremental refreshes re-evaluate only persons with new data or an expired window).")
        report.table(s, ["segment", "members", "entered", "left", "refreshed at", "mode"],
                     [[g["name"], f"{g['members']:,}", _n(g["entered"]), _n(g["exited"]),
                       g["refreshed_at"].strftime("%Y-%m-%d %H:%M UTC") if g["refreshed_at"] else "—", g["mode"] or "—"]
                      for g in summary["segments"]], numeric={1, 2, 3})
    for j in summary["journeys"]:
        _journey(report, j, (truth or {}).get(j["name"]))


def _journey(report: Report, j: dict, truth: dict | None) -> None:
    groups = j["groups"]
    lift = groups.get("lift")
    note = (f"{j['description']} Converted: ordered within the conversion window after entry. The holdout "
            "receives nothing, so treatment minus holdout is what the journey caused; coupon redemptions "
            "include orders that would have come anyway.")
    s = report.section(f"Journey: {j['name']} ({j['status']})", note)
    cards = [(f"{g} entered", f"{groups[g]['entered']:,}") for g in GROUPS if g in groups]
    if lift:
        lo, hi = lift["ci95"]
        cards.append(("Measured lift", f"{lift['difference']:+.1%} (95% CI {lo:+.1%} to {hi:+.1%})"))
    if truth:
        cards.append(("True effect (simulator)", f"{truth['lift']:+.1%}"))
    report.cards(s, cards)
    shown = [g for g in GROUPS if g in groups]
    fig = go.Figure([go.Bar(name=g, x=["entered", "sent", "converted", "redeemed"],
                            y=[groups[g][k] for k in ("entered", "sent", "converted", "redeemed")]) for g in shown])
    fig.update_layout(barmode="group", title="Funnel by group", yaxis_title="persons (episodes)")
    report.figure(s, fig)
    report.table(s, ["group", "entered", "sent", "converted", "conversion", "redeemed a coupon", "still in"],
                 [[g, f"{groups[g]['entered']:,}", f"{groups[g]['sent']:,}", f"{groups[g]['converted']:,}",
                   "—" if groups[g]["conversion_rate"] is None else f"{groups[g]['conversion_rate']:.1%}",
                   f"{groups[g]['redeemed']:,}", f"{groups[g]['active']:,}"] for g in shown],
                 numeric={1, 2, 3, 4, 5, 6})
    rows = [["sent", channel, f"{n:,}"] for channel, n in sorted(j["sent"].items())]
    rows += [["skipped", reason, f"{n:,}"] for reason, n in sorted(j["skipped"].items(), key=lambda kv: -kv[1])]
    rows += [["failed", reason, f"{n:,}"] for reason, n in sorted(j["failed"].items(), key=lambda kv: -kv[1])]
    rows += [["deferred (still due)", reason, f"{n:,}"] for reason, n in sorted(j["deferred"].items())]
    if rows:
        report.table(s, ["outcome", "channel / reason", "actions"], rows, numeric={2})
    if truth and truth.get("note"):
        s.parts.append(f'<p class="note">{html.escape(truth["note"])}</p>')


def _n(v) -> str:
    return "—" if v is None else f"{int(v):,}"

