"""The loyalty & fission part of the report: members per level, points liability and breakage, K per
generation, the top KOC's referral tree, and fraud refusals by reason. Aggregates only."""

from __future__ import annotations

import plotly.graph_objects as go

from flywheel.report.html import Report


def add_loyalty_sections(report: Report, wh) -> None:
    from flywheel.loyalty.summary import loyalty_summary

    summary = loyalty_summary(wh)
    if not summary["members_per_level"] and not summary["referral"]:
        s = report.section("Loyalty & fission", "Nothing yet: `flywheel loyalty run` earns points for the ingested "
                                                "orders, `flywheel referral run` decides the invites.")
        s.parts.append("<p>Levels, points and referral generations appear here once they run.</p>")
        return
    if summary["members_per_level"]:
        p = summary["points"] or {}
        s = report.section("Loyalty: levels and points", "Levels (what customers see) come from growth value; "
                           "they stay separate from the value tiers. Liability: outstanding points at their "
                           "redemption value. Breakage: expired ÷ (redeemed + expired).")
        report.cards(s, [(f"{k} members", f"{v:,}") for k, v in summary["members_per_level"].items()]
                     + [("Points outstanding", f"{p.get('outstanding', 0):,}"),
                        ("Points liability", f"¥{p.get('liability_cny', '0.00')}"),
                        ("Breakage", f"{p.get('breakage', 0):.1%}"),
                        ("Expiring in 30 days", f"{p.get('expiring_30d', 0):,}"),
                        ("Debt after clawbacks", f"{p.get('debt', 0):,}"),
                        ("Due for demotion at review", f"{summary.get('demotion_due', 0):,}")])
        report.table(s, ["issued", "redeemed", "expired", "clawed back (refunds)"],
                     [[f"{p.get(k, 0):,}" for k in ("issued", "redeemed", "expired", "clawed_back")]],
                     numeric={0, 1, 2, 3})
    r = summary["referral"]
    if not r:
        return
    s = report.section("Fission: referral generations",
                       "Generation 0: members nobody referred; generation n+1: persons generation n's invites "
                       "converted. K = invites per member × conversions per invite. Visits per share is reported "
                       "apart from K (the brand reports' \"1:8\" is visits per share, not K).")
    report.cards(s, [("Depth", f"{r['depth']}"), ("Referred share of members", f"{r['referred_share']:.1%}"),
                     ("Visits per share", f"{r['visits_per_share']:.2f}"), ("Referral trees", f"{r['trees']:,}")])
    report.table(s, ["generation", "members", "invites", "conversions", "conversion per invite", "K"],
                 [[g["generation"], f"{g['members']:,}", f"{g['invites']:,}", f"{g['conversions']:,}",
                   f"{g['conversion_per_invite']:.1%}", f"{g['k']:.3f}"] for g in r["generations"]],
                 numeric={0, 1, 2, 3, 4, 5})
    top = r["top_tree"]
    if top:
        t = report.section("Fission: the top KOC's referral tree",
                           f"{top['size']} persons, depth {top['depth']}, structural virality "
                           f"{top['structural_virality']:.2f} (mean distance between two of its members; labels, not ids).")
        nodes = ["KOC"] + [child for _, child in top["edges"]]
        fig = go.Figure(go.Treemap(labels=nodes, parents=[""] + [parent for parent, _ in top["edges"]],
                                   root_color="#eef"))
        fig.update_layout(title="Who the KOC's invites converted, and whom they converted", margin={"t": 40})
        report.figure(t, fig)
    refused = r["refused_by_reason"]
    f = report.section("Fission: refusals and rewards", "Every accepted invite that did not bind, by reason code "
                       "(docs/loyalty.md), and the two-sided rewards.")
    report.table(f, ["reason", "invites"], [[k, f"{v:,}"] for k, v in refused.items()] or [["(none)", "0"]], numeric={1})
    report.table(f, ["reward", "bindings"], [[k, f"{v:,}"] for k, v in r["rewards"].items()] or [["(none)", "0"]],
                 numeric={1})
