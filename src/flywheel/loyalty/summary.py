"""Aggregates of the loyalty programme for the report and the console: no person ids leave here
(the top KOC's tree is drawn with labels, not ids)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict


def loyalty_summary(wh, at: dt.datetime | None = None) -> dict:
    """Members per level, points (issued, redeemed, expired, clawed back, liability, breakage), referral
    generations with K, the top KOC's tree and fraud refusals by reason. Empty parts when nothing ran."""
    from flywheel.loyalty.journal import journal_path
    from flywheel.loyalty.points import open_ledger, stored_rules

    out: dict = {"members_per_level": {}, "points": None, "referral": None}
    if wh.count("loyalty_members"):
        m = wh.table("loyalty_members")
        rows = wh.fetch(m.group_by("level").agg(n=m.count(), demotions=m.demotion_due.cast("int64").sum(),
                                                as_of=m.as_of.max())).to_pylist()
        with open_ledger(wh.settings) as ledger:
            rules = stored_rules(ledger)
        order = [lv.name for lv in rules.growth.levels]
        out["members_per_level"] = {r["level"]: r["n"] for r in sorted(rows, key=lambda r: order.index(r["level"])
                                                                       if r["level"] in order else 99)}
        out["demotion_due"] = sum(r["demotions"] or 0 for r in rows)
        out["as_of"] = max(r["as_of"] for r in rows)
        out["levels"] = [{"name": lv.name, "threshold": lv.threshold, "benefits": list(lv.benefits)}
                         for lv in rules.growth.levels]
    if journal_path(wh.settings).exists():
        out["points"] = _points(wh.settings, at or out.get("as_of") or dt.datetime.now(dt.timezone.utc))
    if wh.count("referral_bindings"):
        out["referral"] = _referral(wh)
    return out


def _points(settings, at: dt.datetime) -> dict:
    from decimal import Decimal

    from flywheel.loyalty.ledger import iso
    from flywheel.loyalty.points import open_ledger, stored_rules

    with open_ledger(settings) as ledger:
        con = ledger.con
        sums = dict(con.execute("SELECT account, SUM(amount) FROM entries GROUP BY account").fetchall())
        available, pending, debt, members = con.execute(
            "SELECT COALESCE(SUM(available), 0), COALESCE(SUM(pending), 0), COALESCE(SUM(debt), 0), count(*) "
            "FROM balances").fetchone()
        expiring = con.execute("SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE state = 'open' AND expires_at > ? "
                               "AND expires_at <= ?", (iso(at), iso(at + dt.timedelta(days=30)))).fetchone()[0]
        value = stored_rules(ledger).earning.point_value_cents
    redeemed, expired = sums.get("merchant:redeemed", 0), sums.get("merchant:expired", 0)
    return {"members": members, "issued": -sums.get("merchant:issued", 0), "redeemed": redeemed, "expired": expired,
            "clawed_back": sums.get("merchant:clawed_back", 0), "available": available, "pending": pending,
            "debt": debt, "outstanding": available + pending, "expiring_30d": expiring, "point_value_cents": value,
            "liability_cny": f"{Decimal((available + pending) * value) / 100:.2f}",
            "breakage": expired / (redeemed + expired) if redeemed + expired else 0.0}


def _referral(wh) -> dict:
    from flywheel.loyalty.referral import _members, _shares, generations, trees

    b = wh.fetch("referral_bindings").to_pylist()
    members = _members(wh)
    referred = {v["invitee"]: v["inviter"] for v in b if v["status"] == "bound" and v["converted_at"] is not None}
    invites, shares, visits = _shares(wh)
    rows, gen = generations(members, referred, invites)
    forest = trees(referred, gen)
    top = forest[0] if forest else None
    drawn = _labelled(top["root"], referred) if top else None
    return {"generations": rows, "depth": max((r["generation"] for r in rows if r["members"]), default=0),
            "referred_share": sum(1 for p in members if gen.get(p, 0) > 0) / len(members) if members else 0.0,
            "shares": shares, "visits_per_share": visits / shares if shares else 0.0,
            "trees": len(forest), "top_tree": ({k: top[k] for k in ("size", "depth", "structural_virality")} |
                                               {"edges": drawn}) if top else None,
            "refused_by_reason": dict(sorted(Counter(v["reason"] for v in b if v["status"] == "refused").items())),
            "rewards": dict(sorted(Counter(v["reward"] for v in b if v["reward"]).items())),
            "acceptances": len(b)}


def _labelled(root: str, referred: dict[str, str]) -> list[tuple[str, str]]:
    """The tree's edges with positional labels (KOC, 1, 1.1, 1.2, 2, …) instead of person ids."""
    children: dict[str, list[str]] = defaultdict(list)
    for child, parent in referred.items():
        children[parent].append(child)
    labels, edges, stack = {root: "KOC"}, [], [root]
    while stack:
        node = stack.pop()
        for i, child in enumerate(sorted(children.get(node, ())), start=1):
            if child in labels:
                continue
            labels[child] = str(i) if node == root else f"{labels[node]}.{i}"
            edges.append((labels[node], labels[child]))
            stack.append(child)
    return edges
