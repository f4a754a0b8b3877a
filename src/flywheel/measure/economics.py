"""Channel economics from a stored attribution run, and the advisor's notes on them.

Per channel and campaign: spend (ad-spend reports; for journey channels, the coupons their messages
carried that were redeemed), customers acquired (credited first orders), CAC, attributed revenue,
ROI, the acquired customers' average CLV, LTV:CAC and the payback period. The advisor applies the
seeds' rules (configurable) and says which numbers each note rests on; it also flags channels whose
credit has no incrementality evidence behind it, and proposes the test that would settle it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass

import ibis

from flywheel.errors import InputError
from flywheel.schema.orders import GMV_STATUSES

JOURNEY_CHANNELS = ("wecom", "sms", "email", "webhook")


@dataclass(frozen=True)
class AdvisorRules:
    """The seeds' rules, as defaults: LTV > 3 × CAC is healthy; CAC under ¥140 (≈ $20) favours
    private-domain operations; over ¥350 (≈ $50) calls for the SEM rule. A channel whose touches an
    order follows within a day at least `capture_touch_share` of the time, and whose conversions come
    that fast at least `capture_fast_share` of the time, looks like it catches buyers already on their
    way (brand search, retargeting)."""

    healthy_ltv_cac: float = 3.0
    low_cac_yuan: float = 140.0
    high_cac_yuan: float = 350.0
    min_credit_share: float = 0.05
    capture_touch_share: float = 0.2
    capture_fast_share: float = 0.8
    power: float = 0.8
    alpha: float = 0.05

    def __post_init__(self):
        if not (self.healthy_ltv_cac > 0 and 0 < self.low_cac_yuan < self.high_cac_yuan):
            raise InputError("advisor thresholds: --healthy-ltv-cac must be positive and 0 < --low-cac < --high-cac "
                             f"(got {self.healthy_ltv_cac:g}, {self.low_cac_yuan:g}, {self.high_cac_yuan:g})")


def channel_report(wh, run_id: str | None = None, model: str = "markov", rules: AdvisorRules = AdvisorRules(),
                   experiments: dict[str, dict] | None = None) -> dict:
    """The economics of every channel and campaign under `model` of run `run_id` (default: the
    latest), with the advisor's notes. `experiments` maps a channel to holdout evidence already
    measured for it (`{"lift": …, "ci": […]}`); channels without any are marked unverified."""
    from flywheel.measure.runs import latest_run

    run_id = run_id or latest_run(wh)
    if run_id is None:
        raise InputError("no attribution run yet: run `flywheel attribution run` first")
    r = wh.table("attribution_runs")
    meta = wh.fetch(r.filter((r.run_id == run_id) & (r.model == model))).to_pylist()
    if not meta:
        models = wh.fetch(r.filter(r.run_id == run_id).select("model")).column(0).to_pylist()
        if not models:
            raise InputError(f"no attribution run {run_id!r}")
        raise InputError(f"run {run_id} has no {model!r} credits; it has {', '.join(sorted(models))}")
    meta = meta[0]
    summary = json.loads(meta["summary"] or "{}")
    evidence = summary.get("evidence", {})
    start, end = _period(wh, meta)
    if experiments is None:
        experiments = journey_evidence(wh)
    credits = _credits(wh, run_id, model)
    spend = _spend(wh, start, end)
    coupons = _coupon_costs(wh, start, end)
    horizon_months = _horizon_months(wh)
    raw: dict[tuple[str, str], dict] = {}
    for key in sorted(set(credits) | set(spend) | set(coupons)):
        c = credits.get(key, {})
        raw[key] = {**{k: c.get(k) or 0 for k in _SUMS if k != "cost_cents"},
                    "cost_cents": spend.get(key, 0) + coupons.get(key, 0), "coupon_cost": key in coupons}
    by_channel: dict[str, dict] = {}
    for (channel, _campaign), v in raw.items():
        ch = by_channel.setdefault(channel, dict.fromkeys(_SUMS, 0) | {"coupon_cost": False})
        for k in _SUMS:
            ch[k] += v[k]
        ch["coupon_cost"] |= v["coupon_cost"]
    campaigns = [{"channel": ch, "campaign_id": camp, **_economics(v, horizon_months)}
                 for (ch, camp), v in raw.items()]
    channels = [{"channel": name, **_economics(v, horizon_months)} for name, v in sorted(by_channel.items())]
    total = sum(c["conversions"] for c in channels) or 1.0
    for c in channels:
        c["credit_share"] = c["conversions"] / total
        c["evidence"] = evidence.get(c["channel"])
        c["notes"] = advise(c, rules, experiments.get(c["channel"]), _daily_orders(meta, start, end),
                            max((end - start).total_seconds() / 86_400, 1.0))
    return {"run_id": run_id, "model": model, "period": [start.isoformat(), end.isoformat()],
            "as_of": meta["as_of"].isoformat(), "clv_horizon_months": horizon_months,
            "rules": asdict(rules), "channels": channels, "campaigns": campaigns,
            "months": _monthly(wh, run_id, model, start, end)}


def _monthly(wh, run_id: str, model: str, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Per channel and calendar month (of the conversion day, merchant time): ad spend, credited
    conversions, revenue and new customers, CAC and ROI — how a channel's economics move."""
    tz = wh.settings.tz
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    c = wh.table("attribution_credits")
    c = c.filter((c.run_id == run_id) & (c.model == model) & (c.day >= first) & (c.day <= last))
    s = wh.table("campaign_spend")
    s = s.filter((s.day >= first) & (s.day <= last))
    months: dict[tuple[str, str], dict] = defaultdict(lambda: {"cost_cents": 0, "conversions": 0.0,
                                                              "value_cents": 0, "new_customers": 0.0})
    for r in wh.fetch(c.group_by("channel", "day").agg(n=c.conversions.sum(), v=c.value_cents.sum(),
                                                        new=c.new_customers.sum())).to_pylist():
        m = months[(r["channel"], r["day"].strftime("%Y-%m"))]
        m["conversions"] += float(r["n"] or 0)
        m["value_cents"] += int(r["v"] or 0)
        m["new_customers"] += float(r["new"] or 0)
    for r in wh.fetch(s.group_by("channel", "day").agg(cents=s.spend_cents.sum())).to_pylist():
        months[(r["channel"] or "(unknown)", r["day"].strftime("%Y-%m"))]["cost_cents"] += int(r["cents"] or 0)
    out = []
    for (channel, month), m in sorted(months.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cost, new = m["cost_cents"], m["new_customers"]
        out.append({"month": month, "channel": channel, "cost_yuan": cost / 100,
                    "conversions": round(m["conversions"], 4), "revenue_yuan": m["value_cents"] / 100,
                    "new_customers": round(new, 4), "cac_yuan": _r(cost / new / 100) if cost and new > 0 else None,
                    "roi": _r((m["value_cents"] - cost) / cost) if cost else None})
    return out


def journey_evidence(wh) -> dict[str, dict]:
    """Holdout evidence per channel: each journey's treatment-vs-holdout conversion lift, for the
    channels its delivered messages used (a journey on two channels tests them together)."""
    from flywheel.measure.registry import JOURNEY_PREFIX, analyze_experiment, list_experiments

    out: dict[str, dict] = {}
    a = wh.table("journey_actions")
    for name, exp in list_experiments(wh).items():
        if exp.source != "journey":
            continue
        journey = name[len(JOURNEY_PREFIX):]
        used = wh.fetch(a.filter((a.journey == journey) & (a.status == "sent")).select("channel").distinct())
        channels = sorted(used.column(0).to_pylist())
        if not channels:
            continue
        try:
            result = analyze_experiment(wh, name)
        except InputError:
            continue
        r = result["results"][0]
        for ch in channels:
            out.setdefault(ch, {"experiment": name, "lift": r["effect"], "ci": r["ci"], "p_value": r["p_value"],
                                "channels": channels})
    return out


_SUMS = ("conversions", "value_cents", "new_customers", "acquired_clv_cents", "acquired_scored", "cost_cents")


def _economics(v: dict, horizon_months: float) -> dict:
    """The published figures of one channel or campaign from its sums (`_SUMS`, `coupon_cost`)."""
    conv, value, new = float(v["conversions"]), int(v["value_cents"]), float(v["new_customers"])
    clv, scored, cost_cents = int(v["acquired_clv_cents"]), float(v["acquired_scored"]), int(v["cost_cents"])
    cac = cost_cents / new / 100 if new > 0 and cost_cents else None
    avg_clv = clv / scored / 100 if scored > 1e-9 else None
    ltv_cac = avg_clv / cac if cac and avg_clv is not None else None
    return {"cost_yuan": cost_cents / 100,
            "cost_basis": "coupons redeemed" if v["coupon_cost"] else ("ad spend" if cost_cents else "none recorded"),
            "conversions": round(conv, 4), "revenue_yuan": value / 100, "new_customers": round(new, 4),
            "cac_yuan": _r(cac), "roi": _r((value - cost_cents) / cost_cents) if cost_cents else None,
            "avg_clv_yuan": _r(avg_clv), "ltv_cac": _r(ltv_cac),
            "payback_months": _r(horizon_months * cac / avg_clv) if cac and avg_clv else None}


def _r(v: float | None, digits: int = 4) -> float | None:
    return None if v is None or not math.isfinite(v) else round(v, digits)


def advise(c: dict, rules: AdvisorRules, experiment: dict | None, daily_orders: float,
           period_days: float) -> list[dict]:
    """The advisor's notes on one channel, each with the numbers it rests on."""
    notes = []
    ratio, cac, clv = c["ltv_cac"], c["cac_yuan"], c["avg_clv_yuan"]
    if c.get("cost_basis") == "coupons redeemed":
        notes.append({"rule": "private_domain", "text": f"private-domain channel: ¥{c['revenue_yuan']:,.0f} credited "
                      f"for ¥{c['cost_yuan']:,.0f} of coupons redeemed"
                      + (f" (ROI {c['roi']:+.1f})" if c["roi"] is not None else "") + "; it mostly re-activates "
                      "customers it did not acquire, so judge it by its holdout, not by CAC",
                      "numbers": {"revenue_yuan": c["revenue_yuan"], "cost_yuan": c["cost_yuan"], "roi": c["roi"]}})
        ratio = cac = None
    if ratio is not None:
        basis = {"ltv_cac": ratio, "avg_clv_yuan": clv, "cac_yuan": cac}
        if ratio >= rules.healthy_ltv_cac:
            notes.append({"rule": "healthy", "text": f"LTV:CAC {ratio:.1f} (CLV ¥{clv:,.0f} vs CAC ¥{cac:,.0f}) is above "
                          f"{rules.healthy_ltv_cac:g}×: healthy, room to scale if the credit is incremental",
                          "numbers": basis})
        elif ratio >= 1:
            notes.append({"rule": "thin", "text": f"LTV:CAC {ratio:.1f} is below {rules.healthy_ltv_cac:g}×: each customer "
                          f"pays back, but thinly (CLV ¥{clv:,.0f}, CAC ¥{cac:,.0f}); tighten targeting before scaling",
                          "numbers": basis})
        else:
            notes.append({"rule": "losing", "text": f"LTV:CAC {ratio:.2f}: a new customer costs ¥{cac:,.0f} and is worth "
                          f"¥{clv:,.0f}; cut or rework this channel", "numbers": basis})
    if cac is not None and c.get("cost_basis") == "ad spend":
        if cac < rules.low_cac_yuan:
            notes.append({"rule": "low_cac", "text": f"CAC ¥{cac:,.0f} is under ¥{rules.low_cac_yuan:g}: cheap to acquire; "
                          "move these customers into private-domain operations (WeCom, community) for repeat "
                          "orders", "numbers": {"cac_yuan": cac, "threshold_yuan": rules.low_cac_yuan}})
        elif cac > rules.high_cac_yuan:
            notes.append({"rule": "high_cac", "text": f"CAC ¥{cac:,.0f} is over ¥{rules.high_cac_yuan:g}: the SEM rule — "
                          "shift budget to search keywords with purchase intent and cut broad-reach placements",
                          "numbers": {"cac_yuan": cac, "threshold_yuan": rules.high_cac_yuan}})
    ev = c.get("evidence") or {}
    if experiment is not None:
        lo, hi = experiment["ci"]
        verdict = ("incremental: the interval excludes zero" if lo > 0 else
                   "no effect shown: the interval includes zero" if hi > 0 else "harmful: the interval is below zero")
        notes.append({"rule": "measured", "text": f"holdout evidence ({experiment.get('experiment', 'experiment')}): "
                      f"conversion lift {experiment['lift']:+.2%} (95% CI {lo:+.2%} to {hi:+.2%}), {verdict}",
                      "numbers": experiment})
    elif c["credit_share"] >= rules.min_credit_share:
        touches, fast, converted = ev.get("touches", 0), ev.get("within_day", 0), ev.get("converted", 0)
        capture = (touches and fast / touches >= rules.capture_touch_share
                   and converted and fast / converted >= rules.capture_fast_share)
        test = holdout_proposal(c, daily_orders, c["conversions"] / period_days, rules)
        if capture:
            notes.append({"rule": "capture_suspected", "text": (
                f"{fast / touches:.0%} of its {touches:,} touches are followed by an order within a day, and "
                f"{fast / converted:.0%} of the orders it is credited with came that fast: it looks like it "
                "catches buyers already on their way (brand search, retargeting) rather than bringing them. "
                f"Its {c['credit_share']:.0%} of the credit is not evidence of incrementality. " + test["text"]),
                "numbers": {"touches": touches, "within_day": fast, "converted": converted,
                            "credit_share": round(c["credit_share"], 4)}, "test": test})
        else:
            notes.append({"rule": "unverified", "text": f"{c['credit_share']:.0%} of the credit rests on path "
                          "models alone (correlation, not cause). " + test["text"],
                          "numbers": {"credit_share": round(c["credit_share"], 4)}, "test": test})
    return notes


def holdout_proposal(c: dict, daily_orders: float, effect: float, rules: AdvisorRules) -> dict:
    """The test that would settle a channel's credit, with its size at `power`.

    An audience holdout (a random share of the persons the channel would reach excluded through
    the platform's customer-list exclusion) needs persons per arm: a touched person converts at p,
    and the credit claims δ of it (two-proportion test). A switch-back (the channel off on a random
    half of days) needs days per arm to see the credited daily conversions (`effect`) in all daily
    orders (Poisson noise); it is proposed only where it fits in a quarter."""
    from scipy import stats

    z = stats.norm.ppf(1 - rules.alpha / 2) + stats.norm.ppf(rules.power)
    ev = c.get("evidence") or {}
    touches, converted = ev.get("touches", 0), ev.get("converted", 0)
    p = converted / touches if touches else 0.0
    delta = min(c["conversions"] / touches, p) if touches else 0.0
    persons = math.ceil(2 * z ** 2 * p * (1 - p) / delta ** 2) if 0 < delta and p < 1 else None
    days = math.ceil(2 * z ** 2 * max(daily_orders, effect) / effect ** 2) if effect > 0 else None
    parts = []
    if persons:
        parts.append(f"hold out a random share of the persons {c['channel']} reaches (customer-list exclusion) and "
                     f"compare orders: touched persons convert at {p:.1%} and the credit says {delta * 100:.1f} points of that "
                     f"are the channel's doing, "
                     f"so about {persons:,} persons per arm detect it with {rules.power:.0%} power")
    if days and days <= 90:
        parts.append(f"or switch it off on a random half of days: about {days:,} days per arm at {daily_orders:,.1f} "
                     f"orders a day")
    text = "To settle it: " + ("; ".join(parts) if parts else f"hold out a random share of the persons "
                                                             f"{c['channel']} reaches and compare orders") + "."
    return {"design": "audience_holdout", "persons_per_arm": persons, "touched_conversion_rate": round(p, 4),
            "claimed_effect": round(delta, 4), "switchback_days_per_arm": days,
            "credited_per_day": round(effect, 4), "daily_orders": round(daily_orders, 2), "text": text}


def _period(wh, meta: dict) -> tuple[dt.datetime, dt.datetime]:
    end = meta["as_of"]
    if meta["lookback_days"] is not None:
        return end - dt.timedelta(days=meta["lookback_days"]), end
    s = wh.table("campaign_spend")
    first = wh.fetch(s.aggregate(d=s.day.min())).to_pylist()[0]["d"]
    c = wh.table("attribution_credits")
    credited = wh.fetch(c.filter(c.run_id == meta["run_id"]).aggregate(d=c.day.min())).to_pylist()[0]["d"]
    days = [d for d in (first, credited) if d is not None]
    start = min(days) if days else end.date()
    return dt.datetime.combine(start, dt.time(), tzinfo=wh.settings.tz).astimezone(dt.timezone.utc), end


def _credits(wh, run_id: str, model: str) -> dict[tuple[str, str], dict]:
    c = wh.table("attribution_credits")
    c = c.filter((c.run_id == run_id) & (c.model == model))
    rows = wh.fetch(c.group_by("channel", "campaign_id").agg(
        conversions=c.conversions.sum(), value_cents=c.value_cents.sum(), new_customers=c.new_customers.sum(),
        acquired_clv_cents=c.acquired_clv_cents.sum(), acquired_scored=c.acquired_scored.sum())).to_pylist()
    return {(r["channel"], r["campaign_id"]): r for r in rows}


def _spend(wh, start: dt.datetime, end: dt.datetime) -> dict[tuple[str, str], int]:
    """Ad spend in cents per (channel, campaign) over the period's merchant days."""
    s = wh.table("campaign_spend")
    tz = wh.settings.tz
    s = s.filter((s.day >= start.astimezone(tz).date()) & (s.day <= end.astimezone(tz).date()))
    rows = wh.fetch(s.group_by("channel", "campaign_id").agg(cents=s.spend_cents.sum())).to_pylist()
    return {(r["channel"] or "(unknown)", r["campaign_id"]): int(r["cents"] or 0) for r in rows}


def _coupon_costs(wh, start: dt.datetime, end: dt.datetime) -> dict[tuple[str, str], int]:
    """Face value of journey coupons redeemed in the period, by the channel of the first delivered
    message that carried them (a reminder repeating the code adds no cost)."""
    c = wh.table("coupons")
    a = wh.table("journey_actions")
    o = wh.table("orders")
    o = o.filter(o.status.isin(list(GMV_STATUSES)) & o.discount_code.notnull())
    used = c.join(o.select("discount_code", "created_at"), c.code == o.discount_code)
    used = used.filter((used.created_at >= used.valid_from) & (used.created_at <= used.valid_until)
                       & (used.created_at >= start) & (used.created_at <= end))
    carried = a.filter(a.coupon_code.notnull() & (a.status == "sent"))
    first = ibis.row_number().over(group_by=carried.coupon_code, order_by=[carried.sent_at, carried.action_key])
    carried = carried.mutate(rank=first).filter(lambda t: t.rank == 0).select("coupon_code", "channel")
    j = used.join(carried, used.code == carried.coupon_code)
    rows = wh.fetch(j.group_by("channel", "journey").agg(cents=j.value_cents.sum())).to_pylist()
    return {(r["channel"], r["journey"] or ""): int(r["cents"] or 0) for r in rows}


def _horizon_months(wh) -> float:
    runs = wh.table("value_runs")
    rows = wh.fetch(runs.order_by(runs.as_of.desc()).select("settings").limit(1)).to_pylist()
    weeks = 52
    if rows and rows[0]["settings"]:
        weeks = json.loads(rows[0]["settings"]).get("horizon_weeks", 52)
    return round(weeks * 7 / 30.4375, 2)


def _daily_orders(meta: dict, start: dt.datetime, end: dt.datetime) -> float:
    days = max((end - start).total_seconds() / 86_400, 1.0)
    return float(meta["conversions"] or 0) / days


def spend_by_campaign_day(wh, start: dt.date, end: dt.date) -> list[dict]:
    """`campaign_id, channel, day, spend_cents, clicks` rows for the budget allocator."""
    s = wh.table("campaign_spend")
    s = s.filter((s.day >= start) & (s.day <= end))
    return wh.fetch(s.select("campaign_id", "channel", "day", "spend_cents", "clicks")).to_pylist()


def credited_by_campaign(wh, run_id: str, model: str, start: dt.date, end: dt.date) -> dict[tuple[str, dt.date], dict]:
    """`(campaign_id, day) → {conversions, value_cents}` credited by `model` of run `run_id`."""
    c = wh.table("attribution_credits")
    c = c.filter((c.run_id == run_id) & (c.model == model) & (c.day >= start) & (c.day <= end))
    rows = wh.fetch(c.group_by("campaign_id", "day").agg(n=c.conversions.sum(), v=c.value_cents.sum())).to_pylist()
    return {(r["campaign_id"], r["day"]): {"conversions": float(r["n"] or 0), "value_cents": int(r["v"] or 0)}
            for r in rows}


def warehouse_arms(wh, run_id: str | None = None, model: str = "markov", days: int = 30, kind: str = "rate"):
    """Budget arms from the warehouse: each campaign with spend in the last `days` days of the run's
    data, and today's share (its share of the spend of the last 7 days). `rate`: its clicks and the
    conversions `model` credits it with over those days; `roi`: each day's (credited value − spend)
    ÷ spend."""
    from flywheel.measure.budget import Arm
    from flywheel.measure.runs import latest_run

    if kind not in ("rate", "roi"):
        raise InputError(f"unknown posterior {kind!r}; rate (conversions per click) or roi (daily ROI)")
    run_id = run_id or latest_run(wh)
    if run_id is None:
        raise InputError("no attribution run yet: run `flywheel attribution run` first (or give --arms FILE.csv)")
    r = wh.table("attribution_runs")
    meta = wh.fetch(r.filter(r.run_id == run_id).select("as_of").limit(1)).to_pylist()
    if not meta:
        raise InputError(f"no attribution run {run_id!r}")
    end = meta[0]["as_of"].astimezone(wh.settings.tz).date()
    sp = wh.table("campaign_spend")
    last = wh.fetch(sp.filter(sp.day <= end).aggregate(d=sp.day.max())).to_pylist()[0]["d"]
    end = last or end
    start = end - dt.timedelta(days=days - 1)
    rows = spend_by_campaign_day(wh, start, end)
    if not rows:
        raise InputError(f"no ad spend between {start} and {end}: ingest the ad platforms' spend reports")
    credited = credited_by_campaign(wh, run_id, model, start, end)
    clicks: dict[str, float] = defaultdict(float)
    conversions: dict[str, float] = defaultdict(float)
    recent: dict[str, float] = defaultdict(float)
    roi: dict[str, list[float]] = defaultdict(list)
    channel: dict[str, str] = {}
    for s in rows:
        c, cents = s["campaign_id"], float(s["spend_cents"] or 0)
        got = credited.get((c, s["day"]), {})
        clicks[c] += float(s["clicks"] or 0)
        channel[c] = s["channel"] or "(unknown)"
        if cents > 0:
            roi[c].append((got.get("value_cents", 0) - cents) / cents)
        if s["day"] > end - dt.timedelta(days=7):
            recent[c] += cents
    for (c, _day), got in credited.items():
        conversions[c] += got["conversions"]
    total = sum(recent.values())
    share = {c: recent.get(c, 0.0) / total if total else None for c in channel}
    if kind == "rate":
        arms = [Arm(f"{channel[c]}/{c}", clicks=n, conversions=min(conversions[c], n), share=share[c])
                for c, n in sorted(clicks.items()) if n > 0]
    else:
        arms = [Arm(f"{channel[c]}/{c}", roi_days=tuple(days_roi), share=share[c])
                for c, days_roi in sorted(roi.items())]
    return arms, {"run_id": run_id, "model": model, "posterior": kind, "from": start.isoformat(),
                  "to": end.isoformat()}
